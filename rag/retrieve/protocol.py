"""The retrieval seam: what the assistant, the gate and other clients need from a retriever."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.types import Passage


@dataclass(frozen=True)
class Retrieval:
    """A retrieval with the signals the abstention gate needs (computed over all candidates)."""

    passages: list[Passage]
    best_dense: float  # highest cosine among dense candidates (-1 when none)
    best_bm25: float  # highest BM25 score among keyword candidates (0 when none)


class Retriever(Protocol):
    def search(self, query: str, k: int, collections: tuple[str, ...] | None = None) -> Retrieval:
        """The k best passages for `query`, best first, with the signals behind them; only from documents
        in `collections` when given (None: every collection)."""
        ...
