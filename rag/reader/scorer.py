"""The one reader type every stage sees: a Scorer ranks answer sentences, judges answerability and scores
claim support. Built once by the composition root (rag/compose.py) and injected typed, so no stage asks
which reader it has.

Implementations (rag/reader/scorers.py): the heuristic (embedding similarity + word overlap), the learned
trees, and the cascade (trees shortlist, cross-encoder rerank; claim support from the heuristic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.types import Chunk
from rag.reader.evidence import ChunkSentences, SentenceBank, Support


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer the question, with the scorer's score for it."""

    passage: int  # 0-based index into the chunks ranked
    sentence: int
    text: str
    score: float
    vec: np.ndarray


@dataclass(frozen=True)
class Selection:
    """How the extractive answer picks sentences from this scorer's ranking (its scores' scale)."""

    min_score: float  # below this the best sentence does not answer the question
    keep: float  # extra sentences must score this share of the best one's score...
    other: float  # ... and this share when they come from another passage
    floor: float  # and never less than this


class Scorer(Protocol):
    name: str
    bank: SentenceBank  # the chunks' sentences and embeddings, shared with the generator and the verifier

    def warm_up(self) -> None:
        """Load whatever model the scorer needs (nothing for the heuristic)."""
        ...

    def rank(self, question: str, asked: str, chunks: list[Chunk], q_vec: np.ndarray) -> list[Candidate]:
        """Answer candidates among the chunks' sentences for the standalone `question`, best first; those
        that lack what the `asked` question's answer type needs (a number for "how many") are dropped."""
        ...

    def selection(self) -> Selection:
        ...

    def answerability(self, query: str, chunks: list[Chunk], dense: float, lexical: float) -> str:
        """Why the chunks do not answer the query ("" when they may): the evidence gate's verdict.
        `dense` is the best query-chunk cosine, `lexical` the best share of query words in one chunk."""
        ...

    def support(self, claim: str, claim_vec: np.ndarray, css: list[ChunkSentences]) -> list[Support]:
        """Per chunk, how well its best sentence supports the claim (an answer sentence)."""
        ...

    @property
    def support_threshold(self) -> float:
        """The support score a citation needs."""
        ...
