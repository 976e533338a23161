"""Read back the stored chunk vectors of a document, so whole-document plans (summaries) rank chunks by
centrality without embedding anything at question time."""

from __future__ import annotations

import numpy as np

from index.store import IndexStore


def chunk_vectors(store: IndexStore, chunk_ids: list[str]) -> np.ndarray:
    """The unit vectors of `chunk_ids`, in that order (rows of zeros for ids the store lacks)."""
    if not chunk_ids:
        return np.zeros((0, 0), dtype=np.float32)
    with store.shared.call() as cols:
        got = cols["chunks"].get(ids=chunk_ids, include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
    dim = len(next(iter(by_id.values()))) if by_id else 0
    rows = np.asarray([by_id.get(c, np.zeros(dim)) for c in chunk_ids], dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)
