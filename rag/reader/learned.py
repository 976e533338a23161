"""The learned reader: one model scoring (question or claim, sentence in its context) pairs.

Trained outside the product (`python -m training train-reader`) on SQuAD v1.1 dev, split by article;
data/reader/card.md has the data, features and measured figures. It can serve all three of a Scorer's
uses (rag/reader/scorer.py): rank answer sentences, decide answerability, and score claim support
("claim" mode: the same features, with the question type set to "claim"). Which uses it serves is the
composition root's choice: with the default cascade, claim support stays with the heuristic (see
rag/reader/scorers.py). Columns: rag/reader/features.py; loading: rag/reader/model.py. Nothing loads at
import; the constructor is cheap.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.language.places import with_country_names
from rag.reader.cross_encoder import pair_text
from rag.reader.evidence import ChunkSentences, SentenceBank, Support
from rag.reader.features import features
from rag.reader.model import READER_DIR, TreeEnsemble, combine, load_cross_encoder, load_model


@dataclass(frozen=True)
class Scored:
    passage: int  # index into the css list given
    sentence: int
    prob: float
    cos: float
    lex: float


class Reader:
    """Scores sentences of retrieved passages against a question or an answer sentence (a claim)."""

    name = "reader"

    def __init__(self, embedder, bank: SentenceBank | None = None, *, directory: Path | None = None,
                 embed_query=None, cascade: bool = False, ce_threads: int = 1) -> None:
        self.embedder = embedder
        self.ce_threads = ce_threads
        self.cascade = cascade  # rerank the trees' shortlist with the cross-encoder (rag/verify/cross_encoder.py)
        self._ce = None
        self.bank = bank if bank is not None else SentenceBank(embedder)  # an empty bank is falsy: test None
        self.directory = Path(directory) if directory else READER_DIR
        self.embed_query = embed_query or (lambda q: self.embedder.embed([q])[0])
        self._model: TreeEnsemble | None = None
        self._meta: dict = {}
        self._lock = threading.Lock()
        # the gate and the generator score the same (query, passages): keep the last few results
        self._recent: OrderedDict[tuple, list[Scored]] = OrderedDict()

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> TreeEnsemble:
        with self._lock:
            if self._model is None:
                model, meta = load_model(self.directory)
                if self.cascade:
                    self._ce = load_cross_encoder(self.directory, meta, self.ce_threads)
                    self._ce.warm_up()
                self._model, self._meta = model, meta
            return self._model

    @property
    def answer_threshold(self) -> float:
        self._load()
        if self.cascade:
            return float(self._meta["cross_encoder"]["answer_threshold"])
        return float(self._meta["answer_threshold"])

    @property
    def support_threshold(self) -> float:
        self._load()
        return float(self._meta["support_threshold"])

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        raw = self._load().predict_raw(X) if len(X) else np.zeros(0)
        a, b = self._meta.get("platt", (1.0, 0.0))
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))

    def score(self, question: str, q_vec: np.ndarray, css: list[ChunkSentences], *, claim: bool = False
              ) -> list[Scored]:
        """Every sentence of css with its probability of holding the answer (or the claim), best first."""
        X, keys, cos, lex = features(question, q_vec, css, claim=claim)
        probs = self.probabilities(X)
        if self.cascade and not claim and len(probs):  # claim support stays with the trees (card: why)
            probs = self._rerank(question, css, keys, probs)
        out = [Scored(j, i, float(p), float(c), float(lx)) for (j, i), p, c, lx in
               zip(keys, probs, cos, lex, strict=True)]
        return sorted(out, key=lambda s: -s.prob)

    def _rerank(self, question: str, css: list[ChunkSentences], keys: list[tuple[int, int]],
                 probs: np.ndarray) -> np.ndarray:
        """The trees' top `shortlist` sentences rescored by the cross-encoder; the rest rank below them."""
        cfg = self._meta["cross_encoder"]
        top = np.argsort(-probs, kind="stable")[:int(cfg["shortlist"])]
        seconds = [pair_text(css[keys[r][0]].texts[keys[r][1]],
                             css[keys[r][0]].texts[keys[r][1] - 1] if keys[r][1] else "") for r in top]
        assert self._ce is not None  # set by _load in cascade mode
        ce = self._ce.logits([question] * len(top), seconds)
        out = probs.copy()
        out[top] = combine(ce, probs[top], cfg["weights"], cfg["bias"])
        rest = np.ones(len(out), dtype=bool)
        rest[top] = False
        out[rest] = np.minimum(out[rest], out[top].min() * 0.999)
        return out

    def rank(self, question: str, passages_chunks: list, q_vec: np.ndarray | None = None) -> list[Scored]:
        """Rank the sentences of these chunks for a question (cached for the last few calls)."""
        # "Tokyo" for Japan, "Moscow" for Russia: the same expansion retrieval and the heuristic use
        question = with_country_names(question)
        key = (question, tuple((c.chunk_id, hash(c.text)) for c in passages_chunks))
        with self._lock:
            if key in self._recent:
                return self._recent[key]
        css = self.bank.get(passages_chunks)
        vec = self.embed_query(question) if q_vec is None else q_vec
        out = self.score(question, vec, css)
        with self._lock:
            self._recent[key] = out
            while len(self._recent) > 8:
                self._recent.popitem(last=False)
        return out

    def answerability(self, question: str, passages_chunks: list) -> float:
        """The best sentence's probability: below answer_threshold the passages do not answer."""
        ranked = self.rank(question, passages_chunks)
        return ranked[0].prob if ranked else 0.0

    def supports(self, claim: str, claim_vec: np.ndarray, css: list[ChunkSentences]) -> list[Support]:
        """Per chunk, the best sentence's P(holds the claim); Support.score is that probability."""
        best: dict[int, Scored] = {}
        for s in self.score(claim, claim_vec, css, claim=True):
            best.setdefault(s.passage, s)
        return [Support(round(best[j].prob, 4), best[j].cos, best[j].lex, best[j].sentence) if j in best
                else Support(0.0, 0.0, 0.0, 0) for j in range(len(css))]
