"""Abstention: refuse before generation when the evidence is weak, and recognise a model's own refusal.

No model here refuses on its own (see ../shared/notes/offline-models.md: "What is the capital of France?"
got "Paris [1]"), so the gate runs before any generator and its verdict is final: a gated question never
reaches the LLM. Two signals, calibrated by `python -m rag calibrate` (data/calibration.json):

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
from typing import Any

from core.language.terms import STOPWORDS, coverage, fold, term_set, wordset
from rag.retrieve.protocol import Retrieval

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

_REFUSALS = [
    r"\b(?:the\s+)?(?:provided\s+)?(?:sources?|passages?|documents?|context|texts?|articles?|excerpts?|information(?:\s+provided)?)"
    r"(?:\s+provided)?\s+(?:do(?:es)?\s+not|don'?t|doesn'?t|did\s+not|didn'?t)\s+"
    r"(?:say|mention|contain|cover|provide|include|specify|state|answer|address|discuss|give|tell)",
    r"\b(?:there\s+is|there's)\s+no\s+(?:relevant\s+)?(?:information|mention|evidence|data)\b",
    r"\bI\s+(?:do\s+not|don'?t)\s+know\b",
    r"\b(?:I\s+)?(?:cannot|can'?t|am\s+unable\s+to|unable\s+to|could\s+not|couldn'?t)\s+"
    r"(?:answer|find|determine|tell|say)\b",
    r"\bnot\s+(?:mentioned|stated|specified|covered|provided|addressed|discussed|included)\s+in\s+the\s+"
    r"(?:sources?|passages?|documents?|context|texts?|articles?)",
    r"\bno\s+(?:relevant\s+)?information\s+(?:about|on|regarding)\b",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in _REFUSALS), re.IGNORECASE)


def is_refusal(text: str, window: int = 200) -> bool:
    """A generated answer that says the sources don't answer (looked for near its start)."""
    head = re.sub(r"\s+", " ", text.strip())[:window]
    return bool(head) and bool(_REFUSAL.search(head.replace("’", "'")))


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
    min_dense: float
    min_lexical: float = 0.5
    focus_dense: float = 0.6  # a missing focus word is forgiven above this passage cosine
    reader: Any = None  # rag.reader.learned.Reader: when given, its answerability replaces the dense/lexical rule

    def check(self, query: str, retrieval: Retrieval) -> GateDecision:
        q_terms = term_set(query)
        passage_terms = [term_set(p.chunk.text) for p in retrieval.passages]
        lexical = max((coverage(q_terms, t) for t in passage_terms), default=0.0)
        dense = retrieval.best_dense
        if not retrieval.passages:
            return GateDecision(True, "nothing in the index matches the question", dense, lexical)
        if self.reader is not None:
            p, t = self.reader.answerability(query, [x.chunk for x in retrieval.passages]), self.reader.answer_threshold
            if p < t:
                return GateDecision(True, f"no retrieved sentence answers it (reader: best {p:.2f} < {t:.2f})",
                                    dense, lexical)
        elif dense < self.min_dense and lexical < self.min_lexical:
            return GateDecision(
                True,
                f"weak evidence: best passage similarity {dense:.2f} < {self.min_dense:.2f} "
                f"and only {lexical:.0%} of the question's words found",
                dense,
                lexical,
            )
        # the reader learned from other articles' questions, not from questions the sources touch but
        # do not settle: the focus rule still applies with it
        focus = focus_term(query)
        if focus and dense < self.focus_dense and not any(fold(focus) in t for t in passage_terms):
            return GateDecision(True, f"the sources never mention {focus!r}", dense, lexical)
        return GateDecision(False, "", dense, lexical)
