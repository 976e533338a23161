"""The index lives in Chroma (embedded PersistentClient or a server), one code path for both.

The store is the truth (layout in index.shared): a chunks collection, a documents collection (one immutable
record per document version: the cleaned text and every DocEntry field) and a commit log, one record per
generation mapping doc_id -> document record. `IndexStore` is assembled from three parts:
  - index.store_read: the generation this process reads, refreshed from the log, and search over it;
  - index.store_commit: the commit protocol (write, remove, initialize, destroy, repair);
  - index.store_check: verify, whether commit, records, chunks and BM25 agree.
A failed Chroma call drops the connection, raises StoreUnavailableError, and the next call reconnects (a
restarted server is picked up without restarting the app).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from core.types import Chunk
from index.shared import SharedState
from index.store_check import StoreChecker
from index.store_commit import StoreCommitter


class DenseSearch(Protocol):
    def dense_search(self, query_vec: np.ndarray, n: int,
                     collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """The n chunks nearest to an L2-normalised query vector, with cosine similarity, best first.
        `collections`: only chunks of documents in these collections (None: all)."""
        ...


class KeywordSearch(Protocol):
    def bm25_search(self, query: str, n: int,
                    collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """The n chunks with the highest BM25 score for `query`, best first (only in `collections`)."""
        ...


class ChunkSearch(DenseSearch, KeywordSearch, Protocol):
    """The read side of an index, all the answer path may see of it."""


class IndexStore(StoreCommitter, StoreChecker):
    """The index. A commit record in Chroma is the truth: chunk ids it does not name are invisible to search."""

    def __init__(self, index_dir: Path, *, chroma_url: str = "", collection: str = "chunks",
                 refresh_s: float = 1.0, grace_s: float = 600.0, commit_timeout_s: float = 30.0) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.collection_name = collection
        self.shared = SharedState(self.index_dir / "chroma", chroma_url, collection)
        self.refresh_s = refresh_s  # how often the query path asks whether another process committed
        self.grace_s = grace_s  # uncommitted records younger than this may be another writer's, in flight
        self.commit_timeout_s = commit_timeout_s
        self._snap = None
        self._cache = {}  # record id -> (entry, text); records are immutable
        self._checked = 0.0
        self._swept = 0.0
        self._lock = threading.RLock()
        self.lost_races = 0  # commits this process had to retry because another writer committed first

    def _chroma_call(self):
        """The chunks collection for one call (reconnects after a failure)."""
        return _ChunksCall(self.shared)


class _ChunksCall:
    """`with store._chroma_call() as col:` -> the chunks collection (kept for tests and tools)."""

    def __init__(self, shared: SharedState) -> None:
        self._cm = shared.call()

    def __enter__(self):
        return self._cm.__enter__()["chunks"]

    def __exit__(self, *exc) -> bool | None:
        return self._cm.__exit__(*exc)
