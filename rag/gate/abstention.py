"""The evidence gate: refuse before generation when the evidence is weak.

No model here refuses on its own (see ../shared/notes/offline-models.md: "What is the capital of France?"
got "Paris [1]"), so the gate runs before any generator and its verdict is final: a gated question never
reaches the LLM. The scorer decides answerability (rag/reader/scorers.py); the heuristic scorer uses two
signals, calibrated by `python -m training calibrate` (settings abstain_min_dense / abstain_min_lexical):

- dense: the best cosine between the query and any candidate chunk. MiniLM knows topics, not names, so
  "Who is Edward Howell?" scores ~0.1 against the passage that answers it. Hence:
- lexical: the best share of the query's content words found in one retrieved passage. The gate abstains
  only when both are weak.
- focus: a wh-question whose focus word ("How many *troops*...", "What is the *population*...") occurs
  in no retrieved passage is about something the sources don't mention, unless the passages are
  semantically very close (a paraphrase).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.language.terms import STOPWORDS, coverage, fold, term_set, wordset
from core.types import Retrieval
from rag.reader.scorer import Scorer

# Words that name the answer's type rather than its topic: "Which country...", "In what year...".
_TYPE_WORDS = wordset(
    """
    year years date day days month time times country countries city cities place places person people
    name names role roles number amount percentage percent reason reasons way ways organisation
    organization company group nation nations type types leader leaders position title job affiliation
    official officials term terms part parts event events thing kind sort much many long often far big
    large old profession occupation career direction size total result results name
    """
)

_FOCUS = [
    re.compile(r"\bhow\s+(?:many|much)\s+(?:of\s+the\s+)?([^\W\d_][\w-]*)", re.IGNORECASE),
    re.compile(
        r"\b(?:what|which)\s+(?:is|was|are|were|'s)\s+(?:the|a|an)\s+(?:[\w-]+\s+){0,2}?([^\W\d_][\w-]*)\s+of\b",
        re.IGNORECASE,
    ),
]


def focus_term(question: str) -> str | None:
    """The thing a quantity/attribute question asks about: "How many *troops*", "What is the *population* of".

    Only these two shapes: they are how plausible questions the sources don't settle usually look, and
    other shapes misfire on adjectives ("How frequent...", "What eponymous...") as SQuAD calibration showed.
    """
    for pattern in _FOCUS:
        m = pattern.search(question)
        if m:
            word = m.group(1).lower()
            if word in STOPWORDS or word in _TYPE_WORDS:
                return None
            return word
    return None


@dataclass(frozen=True)
class GateDecision:
    abstain: bool
    reason: str  # empty when not abstaining
    best_dense: float
    lexical: float  # best share of query content words in one retrieved passage


@dataclass(frozen=True)
class EvidenceGate:
    scorer: Scorer  # its answerability decides first (rag/reader/scorers.py)
    focus_dense: float = 0.6  # a missing focus word is forgiven above this passage cosine

    def check(self, query: str, retrieval: Retrieval) -> GateDecision:
        q_terms = term_set(query)
        passage_terms = [term_set(p.chunk.text) for p in retrieval.passages]
        lexical = max((coverage(q_terms, t) for t in passage_terms), default=0.0)
        dense = retrieval.best_dense
        if not retrieval.passages:
            return GateDecision(True, "nothing in the index matches the question", dense, lexical)
        reason = self.scorer.answerability(query, [x.chunk for x in retrieval.passages], dense, lexical)
        if reason:
            return GateDecision(True, reason, dense, lexical)
        # the learned readers learned from other articles' questions, not from questions the sources touch but
        # do not settle: the focus rule applies whatever the scorer
        focus = focus_term(query)
        if focus and dense < self.focus_dense and not any(fold(focus) in t for t in passage_terms):
            return GateDecision(True, f"the sources never mention {focus!r}", dense, lexical)
        return GateDecision(False, "", dense, lexical)
