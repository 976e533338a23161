"""Sentence-level evidence: the sentences of retrieved chunks with cached embeddings, and support scores.

No NLI model installs offline, so "does passage P support sentence S" is judged from two signals that
fail differently: the best cosine between S and a sentence of P (catches paraphrase) and the share of
S's content words found in P (catches numbers and names the bi-encoder glosses over). Both are in 0..1;
their mean is the support score whose threshold `python -m training calibrate` chooses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.language.terms import coverage, term_set
from core.types import Chunk
from index.sentence_vectors import chunk_views

DENSE_SHARE = 0.5  # weight of the embedding signal in the support score; the rest is lexical


@dataclass(frozen=True)
class ChunkSentences:
    chunk: Chunk
    spans: tuple[tuple[int, int], ...]  # sentence spans relative to chunk.text
    texts: tuple[str, ...]
    terms: tuple[frozenset[str], ...]
    chunk_terms: frozenset[str]
    emb: np.ndarray  # (n_views, dim), L2-normalised; each sentence's views are contiguous, full text first
    starts: np.ndarray  # index of each sentence's first view in emb

    def cosines(self, vec: np.ndarray) -> np.ndarray:
        """Per sentence, the best cosine of `vec` with any view (the sentence or one of its clauses)."""
        return np.maximum.reduceat(self.emb @ vec, self.starts)

    def sentence_vec(self, i: int) -> np.ndarray:
        return self.emb[self.starts[i]]


class SentenceBank:
    """Splits chunks into sentences and embeds them once; a bounded LRU keyed by chunk id and text.

    Thread-safe: the UI answers several sessions at once with one bank.
    """

    def __init__(self, embedder, max_chunks: int = 4096,
                 lookup: Callable[[list[str]], dict[str, np.ndarray]] | None = None) -> None:
        self.embedder = embedder
        self.lookup = lookup  # the vectors stored at index time (SentenceVectors.get); None: embed them all
        self.max_chunks = max_chunks
        self._cache: OrderedDict[tuple[str, int], ChunkSentences] = OrderedDict()
        self._lock = threading.Lock()
        # sentence text -> embedding, so verifying an extractive answer re-embeds nothing
        self._sentences: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_sentences = 16 * max_chunks

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, chunks: list[Chunk]) -> list[ChunkSentences]:
        keys = [(c.chunk_id, hash(c.text)) for c in chunks]
        found: dict[tuple[str, int], ChunkSentences] = {}
        with self._lock:
            for key in keys:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    found[key] = self._cache[key]
        missing = list({k: c for k, c in zip(keys, chunks, strict=True) if k not in found}.items())
        if missing:
            built = self._build([c for _, c in missing])
            with self._lock:
                for (key, _), cs in zip(missing, built, strict=True):
                    self._cache[key] = cs
                    found[key] = cs
                while len(self._cache) > self.max_chunks:
                    self._cache.popitem(last=False)
        return [found[k] for k in keys]

    def embed_claims(self, texts: list[str]) -> np.ndarray:
        """Embeddings of answer sentences; sentences seen in a chunk come from the cache."""
        with self._lock:
            known = {t: self._sentences[t] for t in texts if t in self._sentences}
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            known.update(zip(todo, self.embedder.embed(todo), strict=True))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([np.asarray(known[t], dtype=np.float32) for t in texts])

    def _remember(self, texts: tuple[str, ...], cs: ChunkSentences) -> None:
        with self._lock:
            for i, t in enumerate(texts):
                self._sentences[t] = cs.sentence_vec(i)
                self._sentences.move_to_end(t)
            while len(self._sentences) > self.max_sentences:
                self._sentences.popitem(last=False)

    def _build(self, chunks: list[Chunk]) -> list[ChunkSentences]:
        per_chunk = []
        all_texts: list[str] = []
        for c in chunks:
            # quarantined sentences and the title line are not evidence (index.sentence_vectors.evidence_spans)
            spans, texts, views, starts = chunk_views(c.text, c.title)
            per_chunk.append((c, spans, texts, [len(all_texts) + x for x in starts], len(views)))
            all_texts.extend(views)
        emb = self._vectors(all_texts)
        out = []
        for c, spans, texts, starts, n_views in per_chunk:
            lo = starts[0]
            out.append(
                ChunkSentences(
                    chunk=c,
                    spans=tuple(spans),
                    texts=tuple(texts),
                    terms=tuple(term_set(t) for t in texts),
                    chunk_terms=term_set(c.text),
                    emb=np.asarray(emb[lo:lo + n_views], dtype=np.float32),
                    starts=np.asarray([x - lo for x in starts], dtype=np.intp),
                )
            )
            self._remember(tuple(texts), out[-1])
        return out

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """The views' vectors: those the indexer stored (index.sentence_vectors), the rest embedded now."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        stored = self.lookup(texts) if self.lookup is not None else {}
        todo = [t for t in dict.fromkeys(texts) if t not in stored]
        if todo:
            stored = {**stored, **dict(zip(todo, self.embedder.embed(todo), strict=True))}
        return np.stack([np.asarray(stored[t], dtype=np.float32) for t in texts])


@dataclass(frozen=True)
class Support:
    score: float  # 0..1
    dense: float  # best sentence cosine, clipped to 0..1
    lexical: float  # share of the claim's content words found in the chunk
    sentence: int  # index of the best-matching sentence of the chunk


def support(claim_vec: np.ndarray, claim_terms: frozenset[str], cs: ChunkSentences) -> Support:
    """How well chunk `cs` supports a claim (an answer sentence), 0..1."""
    if len(cs.texts) == 0:
        return Support(0.0, 0.0, 0.0, 0)
    cos = cs.cosines(claim_vec)
    best = int(np.argmax(cos))
    dense = float(min(1.0, max(0.0, cos[best])))
    lex = coverage(claim_terms, cs.chunk_terms)
    if not claim_terms:  # nothing lexical to check: rely on the embedding alone
        lex = dense
    return Support(DENSE_SHARE * dense + (1 - DENSE_SHARE) * lex, dense, lex, best)
