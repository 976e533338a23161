"""Sentence vectors for the plans: read from the index where the indexer stored them, embedded otherwise.

The indexer stores every evidence sentence's vector (index.sentence_vectors), so a summary or an explanation
reads its candidate sentences' vectors instead of embedding them at question time (most of a summary's cost
before). A text the store lacks (a headline, a sentence split differently, an index built before sentence
vectors were stored) is embedded, once: a small cache keeps it for the next question.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Embed = Callable[[list[str]], np.ndarray]
Lookup = Callable[[list[str]], dict[str, np.ndarray]]

CACHED = 2048  # texts embedded at question time, kept for the next question


class StoredFirst:
    """Unit vectors of texts: stored ones read, the rest embedded and cached. Thread-safe."""

    def __init__(self, embed: Embed, lookup: Lookup | None = None, cached: int = CACHED) -> None:
        self.embed, self.lookup, self.cached = embed, lookup, cached
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        found = self._cached(texts)
        todo = [t for t in dict.fromkeys(texts) if t not in found]
        if todo and self.lookup is not None:
            found.update(self.lookup(todo))
            todo = [t for t in todo if t not in found]
        if todo:
            fresh = dict(zip(todo, np.asarray(self.embed(todo), dtype=np.float32), strict=True))
            self._keep(fresh)
            found.update(fresh)
        return _unit(np.stack([np.asarray(found[t], dtype=np.float32) for t in texts]))

    def _cached(self, texts: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        return found

    def _keep(self, fresh: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._cache.update(fresh)
            while len(self._cache) > self.cached:
                self._cache.popitem(last=False)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
