"""Sentence-level evidence: the sentences of retrieved chunks with cached embeddings, and support scores.

No NLI model installs offline, so "does passage P support sentence S" is judged from two signals that
fail differently: the best cosine between S and a sentence of P (catches paraphrase) and the share of
S's content words found in P (catches numbers and names the bi-encoder glosses over). Both are in 0..1;
their mean is the support score whose threshold `python -m training calibrate` chooses.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from core.language.terms import coverage, term_set
from core.types import Chunk
from index.quarantine import flag_spans
from index.sentences import body_sentences

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


# possessive and only from the start of a blank run: "\s*(?=—)" retried a long run from every position
_CLAUSE = re.compile(r"(?<=[,;:—–])\s*+|(?<!\s)\s*+(?=[—–])")


def clause_views(sentence: str, min_words: int = 6) -> list[str]:
    """Clauses of a long sentence, merged to >= min_words words each.

    MiniLM's embedding of a long quote drowns its attribution ("..., said Liu Dongshu, an assistant
    professor at ..."), so a question about who said it, or a claim about one clause, is matched against
    the clauses too.
    """
    parts = [p.strip().strip("\"“”'‘’ ") for p in _CLAUSE.split(sentence)]
    parts = [p for p in parts if p]
    pieces: list[str] = []
    cur = ""
    for p in parts:
        cur = f"{cur} {p}".strip()
        if len(cur.split()) >= min_words:
            pieces.append(cur)
            cur = ""
    if cur:
        if pieces:
            pieces[-1] = f"{pieces[-1]} {cur}"
        else:
            pieces.append(cur)
    return pieces if len(pieces) > 1 else []


class SentenceBank:
    """Splits chunks into sentences and embeds them once; a bounded LRU keyed by chunk id and text.

    Thread-safe: the UI answers several sessions at once with one bank.
    """

    def __init__(self, embedder, max_chunks: int = 4096) -> None:
        self.embedder = embedder
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
            # quarantined sentences (addressed to an AI) are not evidence: never quoted, never in a prompt
            # nor is the title line (a field of the document), and a dateline is cut off its sentence
            spans = body_sentences(c.text, c.title, skip=set(flag_spans(c.text))) or [(0, 0)]
            texts = [c.text[s:e] for s, e in spans]
            starts = []
            for t in texts:
                starts.append(len(all_texts))
                all_texts.append(t)
                all_texts.extend(clause_views(t))
            per_chunk.append((c, spans, texts, starts))
        emb = self.embedder.embed(all_texts) if all_texts else np.zeros((0, 1), dtype=np.float32)
        out = []
        for c, spans, texts, starts in per_chunk:
            lo = starts[0]
            hi = starts[-1] + 1 + len(clause_views(texts[-1]))
            out.append(
                ChunkSentences(
                    chunk=c,
                    spans=tuple(spans),
                    texts=tuple(texts),
                    terms=tuple(term_set(t) for t in texts),
                    chunk_terms=term_set(c.text),
                    emb=np.asarray(emb[lo:hi], dtype=np.float32),
                    starts=np.asarray([x - lo for x in starts], dtype=np.intp),
                )
            )
            self._remember(tuple(texts), out[-1])
        return out


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
