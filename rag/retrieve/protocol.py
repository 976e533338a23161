"""The retrieval seam: what the assistant, the gate and other clients need from a retriever."""

from __future__ import annotations

from typing import Protocol

from core.types import Retrieval


class Retriever(Protocol):
    def search(self, query: str, k: int, collections: tuple[str, ...] | None = None) -> Retrieval:
        """The k best passages for `query`, best first, with the signals behind them; only from documents
        in `collections` when given (None: every collection)."""
        ...
