"""The keyword side of the index: a bm25s index over chunk texts, saved beside the manifest.

It records the manifest generation it was built for; a stale one (e.g. after a crash between the
manifest commit and the BM25 save) is rebuilt from the manifest, so BM25 and Chroma never disagree.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_STOPWORDS = "english"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


class KeywordIndex:
    def __init__(self, ids: list[str], retriever, tokenizer, generation: int) -> None:
        self.ids = ids
        self.generation = generation
        self._retriever = retriever
        self._tokenizer = tokenizer

    @classmethod
    def build(cls, ids: list[str], texts: list[str], generation: int) -> KeywordIndex:
        import bm25s
        from bm25s.tokenization import Tokenizer

        tok = Tokenizer(stopwords=_STOPWORDS, stemmer=_stemmer())
        retriever = None
        if texts:
            tokens = tok.tokenize(texts, update_vocab=True, return_as="tuple", show_progress=False)
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        return cls(ids, retriever, tok, generation)

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top-n (id, score) with score > 0. `mask` (one weight per id, 0 or 1) filters before the top n."""
        if self._retriever is None or not self.ids or not query.strip():
            return []
        q = self._tokenizer.tokenize([query], update_vocab=False, return_as="string", show_progress=False)
        # unknown words map to ""; a query with no known term has no keyword evidence
        q = [[t for t in q[0] if t]] if q else [[]]
        if not q[0]:
            return []
        k = min(n, len(self.ids))
        # n_threads=0 runs in this thread; any other value starts a thread pool for every query
        docs, scores = self._retriever.retrieve(q, k=k, show_progress=False, n_threads=0, weight_mask=mask)
        out = []
        for idx, sc in zip(docs[0], scores[0], strict=True):
            if sc > 0:
                out.append((self.ids[int(idx)], float(sc)))
        return out

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(tmp / "bm25"), show_progress=False)
            self._tokenizer.save_vocab(str(tmp / "bm25"))
        (tmp / "ids.json").write_text(json.dumps({"generation": self.generation, "ids": self.ids}))
        # swap directories: old is kept until the new one is complete
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> KeywordIndex | None:
        """None when missing or unreadable: the caller rebuilds."""
        try:
            meta = json.loads((path / "ids.json").read_text())
            ids, gen = list(meta["ids"]), int(meta["generation"])
            if not ids:
                return cls.build([], [], gen)
            import bm25s
            from bm25s.tokenization import Tokenizer

            retriever = bm25s.BM25.load(str(path / "bm25"), show_progress=False, verbosity=0)
            tok = Tokenizer(stopwords=_STOPWORDS, stemmer=_stemmer())
            tok.load_vocab(str(path / "bm25"))
            return cls(ids, retriever, tok, gen)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None

