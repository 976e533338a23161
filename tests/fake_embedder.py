"""A deterministic fake embedder, for tests of the Embedder protocol's plumbing (manifest checks, dimensions).

It lives with the tests: the product never embeds with it.
"""

from __future__ import annotations

import hashlib

import numpy as np


class HashEmbedder:
    """Deterministic fake for contract tests of the Embedder protocol only: a bag of hashed word features.

    Not a language model; used where a test checks plumbing that must not depend on the real model.
    """

    def __init__(self, dim: int = 64) -> None:
        self.name = f"hash-{dim}"
        self.dimension = dim
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
            if not n:
                out[i, 0] = 1.0
        return out
