"""The generator protocol: every generator (extractive, local LLM, remote LLM) plugs in here.

A generator only writes text with [n] markers that refer to the numbered passages of the request.
It never decides what counts as cited or supported: rag.verify.citations verifies that afterwards, for all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from core.types import GenerationRequest, Piece


@dataclass(frozen=True)
class Truncated:
    """A chat model's last event when its reply stopped at the token limit (the generator says so in a Notice)."""


class Generator(Protocol):
    name: str

    def generate(self, request: GenerationRequest) -> Iterator[Piece]:
        """Yield the answer text in pieces as it is produced, with [n] markers into request.passages; a
        NoAnswer (alone) when the passages do not answer, a Notice when the reader should know something."""
        ...


@dataclass(frozen=True)
class Evidence:
    """One evidence sentence for an LLM prompt, with the sentence before it when it refers back."""

    passage: int  # 0-based index into request.passages; the prompt numbers it passage + 1
    text: str
    before: str = ""  # the previous sentence of the same passage ("..., she added": who "she" is)


class EvidenceSelector(Protocol):
    """Picks the best evidence sentences for a request. The LLM prompt holds only these, so whatever
    ranks sentences for the extractive answer (the Scorer, rag/reader/scorer.py) feeds it."""

    def evidence(self, request: GenerationRequest) -> list[Evidence]:
        ...
