"""Hybrid retrieval: dense (Chroma) + keyword (BM25) fused by weighted reciprocal rank fusion.

RRF uses ranks, not raw scores, because cosine and BM25 live on incomparable scales; each retriever's
rank r contributes weight / (rrf_k + r). Overlapping chunks (the chunker repeats trailing sentences)
often both rank high, so a passage whose token Jaccard with a better-ranked one reaches `dedup_jaccard`
is dropped: the generator gets k distinct passages instead of two copies of one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from core.language.places import with_country_names
from core.language.terms import jaccard, term_set
from core.types import Chunk, Passage, Retrieval
from index.embedding import Embedder
from index.store import ChunkSearch


def rrf_fuse(rankings: Sequence[tuple[Sequence[str], float]], rrf_k: int) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion of ranked id lists. Returns (id, score), best first.

    Ties keep the order of first appearance (dense before keyword), so results are deterministic.
    """
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (rrf_k + rank)
    order = {cid: i for i, cid in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def dedup(chunks: Sequence[Chunk], threshold: float, limit: int | None = None) -> list[int]:
    """Indexes of chunks to keep: a chunk too similar to an earlier (better) kept one is dropped.

    Stops once `limit` are kept: term sets of the other candidates were most of a query's cost (bench/).
    """
    kept: list[int] = []
    kept_terms: list[frozenset[str]] = []
    for i, c in enumerate(chunks):
        if limit is not None and len(kept) >= limit:
            break
        t = term_set(c.text)
        if threshold < 1.0 and any(
            _near(t, k, c, chunks[j], threshold) for j, k in zip(kept, kept_terms, strict=True)
        ):
            continue
        kept.append(i)
        kept_terms.append(t)
    return kept


def _near(a: frozenset[str], b: frozenset[str], ca: Chunk, cb: Chunk, threshold: float) -> bool:
    if jaccard(a, b) >= threshold:
        return True
    # A small chunk mostly contained in a neighbour of the same document is a duplicate too.
    return bool(ca.doc_id == cb.doc_id and a and len(a & b) / len(a) >= max(threshold, 0.95))


class HybridRetriever:
    """Dense + BM25 over an index's read side (`index.store.ChunkSearch`), fused with weighted RRF."""

    def __init__(
        self,
        store: ChunkSearch,
        embedder: Embedder,
        *,
        candidates: int = 20,
        dense_weight: float = 1.0,
        bm25_weight: float = 1.0,
        rrf_k: int = 60,
        dedup_jaccard: float = 0.85,
        query_cache: int = 256,
    ) -> None:
        if dense_weight < 0 or bm25_weight < 0 or dense_weight + bm25_weight <= 0:
            raise ValueError("dense_weight and bm25_weight must be >= 0 and not both 0")
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.bm25_weight = bm25_weight
        self.rrf_k = rrf_k
        self.dedup_jaccard = dedup_jaccard
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qcache_size = query_cache
        self._lock = threading.Lock()

    def embed_query(self, query: str) -> np.ndarray:
        """The query's embedding; repeated queries (rewrites, eval reruns) hit a small LRU."""
        with self._lock:
            vec = self._qcache.get(query)
            if vec is not None:
                self._qcache.move_to_end(query)
                return vec
        vec = np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        with self._lock:
            self._qcache[query] = vec
            while len(self._qcache) > self._qcache_size:
                self._qcache.popitem(last=False)
        return vec

    def retrieve(self, query: str, k: int, collections: tuple[str, ...] | None = None) -> list[Passage]:
        """Passages only, for adapters that have no use for the gate's signals (LangChain)."""
        return self.search(query, k, collections).passages

    def search(self, query: str, k: int, collections: tuple[str, ...] | None = None) -> Retrieval:
        """`collections` is enforced by the store's query (index.store), not by dropping results here."""
        n = max(self.candidates, k)
        dense = self.store.dense_search(self.embed_query(query), n, collections) if self.dense_weight > 0 else []
        lexical = (self.store.bm25_search(with_country_names(query), n, collections)
                   if self.bm25_weight > 0 else [])
        chunks: dict[str, Chunk] = {}
        dense_score: dict[str, float] = {}
        bm25_score: dict[str, float] = {}
        for c, s in dense:
            chunks.setdefault(c.chunk_id, c)
            dense_score[c.chunk_id] = float(s)
        for c, s in lexical:
            chunks.setdefault(c.chunk_id, c)
            bm25_score[c.chunk_id] = float(s)
        fused = rrf_fuse(
            [([c.chunk_id for c, _ in dense], self.dense_weight), ([c.chunk_id for c, _ in lexical], self.bm25_weight)],
            self.rrf_k,
        )
        ordered = [chunks[cid] for cid, _ in fused]
        keep = dedup(ordered, self.dedup_jaccard, limit=k)
        if lexical and len(keep) == k > 1:
            # The keyword winner always gets a seat: MiniLM does not know names, so for "Who is Edward
            # Howell?" the one passage naming him can rank 1st in BM25 yet fall out of the fused top k.
            top = next(i for i, (cid, _) in enumerate(fused) if cid == lexical[0][0].chunk_id)
            rest = [ordered[i] for i in keep[:-1]]
            if top not in keep and dedup([*rest, ordered[top]], self.dedup_jaccard)[-1] == len(rest):
                keep = [*keep[:-1], top]
        passages = []
        for i in keep[:k]:
            c = ordered[i]
            passages.append(
                Passage(
                    chunk=c,
                    score=fused[i][1],
                    rank=len(passages) + 1,
                    dense=dense_score.get(c.chunk_id),
                    lexical=bm25_score.get(c.chunk_id),
                )
            )
        return Retrieval(
            passages=passages,
            best_dense=max(dense_score.values(), default=-1.0),
            best_bm25=max(bm25_score.values(), default=0.0),
        )
