"""The generator protocol: every generator (extractive, local LLM, remote LLM) plugs in here.

A generator only writes text with [n] markers that refer to the numbered passages of the request.
It never decides what counts as cited or supported: rag.verify.citations verifies that afterwards, for all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from core.types import Passage, Turn

# The one sentence every abstention starts with, whoever decides it (the gate or a generator).
NOT_COVERED = "The sources don't cover this question."


class Truncated(str):
    """The empty last piece of a stream that stopped at its token limit, so the caller can say so."""


class NoAnswer(str):
    """A generator's whole output when the passages do not answer: the assistant abstains on the type,
    not by matching prose."""


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


@dataclass(frozen=True)
class Evidence:
    """One evidence sentence for an LLM prompt, with the sentence before it when it refers back."""

    passage: int  # 0-based index into request.passages; the prompt numbers it passage + 1
    text: str
    before: str = ""  # the previous sentence of the same passage ("..., she added": who "she" is)


class EvidenceSelector(Protocol):
    """Picks the best evidence sentences for a request. The LLM prompt holds only these, so whatever
    ranks sentences for the extractive answer (today's scorer, the learned reader later) feeds it."""

    def evidence(self, request: GenerationRequest) -> list[Evidence]:
        ...
