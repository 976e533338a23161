"""Which documents a question is about, and what shape of answer it asks for.

"Summarize the bridge report" names one document by its subject words; "Summarize the article" in a
library of several names none, so every document in scope is summarised. A question whose subject
matches no document ("the report on the Hollin ferry") gets no summary of some other document: the
plan abstains and names what it could not find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.language.terms import fold, term_set, words
from rag.plan.kinds import CONTRAST_TERMS, GENERIC_TERMS, normalize_question

_GENERIC = GENERIC_TERMS | CONTRAST_TERMS  # "how do the two documents differ?" names no document's subject

_COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "1": 1, "2": 2, "3": 3, "4": 4,
           "5": 5, "6": 6}
_SHAPE = re.compile(r"\b(one|two|three|four|five|six|[1-6])\s+(?:short\s+)?(bullets?|sentences?|points?|lines?)\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
_LEAD_CHARS = 600  # a document's subject words: its title, its file name and its opening


@dataclass(frozen=True)
class Scope:
    doc_ids: tuple[str, ...]  # the documents to answer from, in library order
    missing: str = ""  # the question's subject that no document in scope is about ("" when found)
    count: int | None = None  # "in three bullets" -> 3


def subject_terms(question: str) -> frozenset[str]:
    """The question's content words that could name a document's subject (request words dropped)."""
    return frozenset(t for t in term_set(normalize_question(question)) if t not in _GENERIC)


def asked_count(question: str) -> int | None:
    m = _SHAPE.search(question.lower())
    return _COUNTS[m.group(1)] if m else None


def _doc_terms(info: Any, text: str) -> frozenset[str]:
    return term_set(f"{info.title} {re.sub(r'[-_.]', ' ', str(info.source))} {text[:_LEAD_CHARS]}")


def resolve(question: str, documents: list[Any], texts: dict[str, str], strict: bool = True) -> Scope:
    """Pick the documents (DocInfo-like: doc_id, title, source) the question is about. `texts`: doc_id -> text.
    strict: subject words that name no document leave nothing in scope (a summary of a missing report);
    otherwise they are taken for what the question asks about inside the documents (a list's items)."""
    count = asked_count(question)
    if not documents:
        return Scope((), missing="any document", count=count)
    unknown = [n for n in _NAME.findall(question) if not any(n.lower() in t.lower() for t in texts.values())]
    if unknown:
        return Scope((), missing=unknown[0], count=count)
    wanted = subject_terms(question)
    if not wanted:
        return Scope(tuple(d.doc_id for d in documents), count=count)
    overlap = {d.doc_id: len(wanted & _doc_terms(d, texts.get(d.doc_id, ""))) for d in documents}
    best = max(overlap.values())
    if best == 0 and not strict:
        return Scope(tuple(d.doc_id for d in documents), count=count)
    if best == 0:
        said = [w for w in words(normalize_question(question)) if fold(w) in wanted]
        return Scope((), missing=" ".join(said), count=count)
    return Scope(tuple(d for d, n in overlap.items() if n == best), count=count)
