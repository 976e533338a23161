"""The generator protocol: every generator (extractive, local LLM, remote LLM) plugs in here.

A generator only writes text with [n] markers that refer to the numbered passages of the request.
It never decides what counts as cited or supported: rag.citations verifies that afterwards, for all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rag.types import Passage, Turn


class Truncated(str):
    """The empty last piece of a stream that stopped at its token limit, so the caller can say so."""


@dataclass(frozen=True)
class GenerationRequest:
    question: str  # the user's question as asked
    query: str  # the standalone (rewritten) question used for retrieval
    passages: list[Passage]  # evidence, numbered [1]..[n] in this order
    history: list[Turn] = field(default_factory=list)
    max_tokens: int = 256


class Generator(Protocol):
    name: str

    def generate(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer text in pieces as it is produced, with [n] markers into request.passages."""
        ...
