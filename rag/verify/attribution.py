"""The attribution and number guard: does a claim bring in names, numbers or a speaker its source lacks?

Similarity is not support: "Edward Howell stated that China doesn't feel it can control ..." embeds
almost exactly like Yun Sun's sentence that says it. The verifier therefore also checks, for a claim and
its best supporting source sentence (plus the sentence before it when the source refers back with a
pronoun or continues a quote), that every person, organisation or place, every number (with its unit),
date and clock time of the claim is in the source, and that a quote the claim attributes to X is not
attributed to Y there. What a text names is read by core/language/names.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.language.names import Span, facts, midsentence_caps, name_index, same_name_word
from core.language.quantities import Quantity


@dataclass(frozen=True)
class Verdict:
    missing: tuple[str, ...] = ()  # "name 'howell'", "number 14", "time 6:40", "month 2"
    misattributed: str = ""  # "claim: edward howell; source: yun sun"

    @property
    def ok(self) -> bool:
        return not self.missing and not self.misattributed

    def reason(self) -> str:
        parts = []
        if self.missing:
            parts.append("not in the source: " + ", ".join(self.missing))
        if self.misattributed:
            parts.append("attributed to someone else (" + self.misattributed + ")")
        return "; ".join(parts) or "supported"


def has_quantity(q: Quantity, pool: frozenset[Quantity]) -> bool:
    return any(p.value == q.value and (q.unit is None or p.unit is None or p.unit == q.unit) for p in pool)


def _any_same_speaker(claimed: tuple[Span, ...], theirs: tuple[Span, ...]) -> bool:
    words = frozenset(w for s in theirs for w in s.words)
    index = name_index(words)
    return any(same_name_word(w, words, index) for s in claimed for w in s.words)


def known_names(context: str | Iterable[str]) -> frozenset[str]:
    """Words capitalised mid-sentence in the context: a text, or several (each cached on its own, so
    passages that recur across questions are read once)."""
    texts = [context] if isinstance(context, str) else context
    return frozenset().union(*(midsentence_caps(t) for t in texts))


def check(claim: str, source: str, neighbour: str = "", context: str | Iterable[str] = "") -> Verdict:
    """Does `source` (plus `neighbour`, the sentence before it, when it refers back) carry the claim's
    names, numbers, dates, times and speaker? `context` (the document or the passages) only helps tell
    names from capitalised sentence openers."""
    known = known_names(context) | midsentence_caps(source) | midsentence_caps(neighbour)
    c, s = facts(claim, known), facts(source, known)
    n = facts(neighbour, known) if neighbour and (s.refers_back or s.pronoun_speaker) else None
    words = s.words | (n.words if n else frozenset())
    pool = s.quantities | (n.quantities if n else frozenset())
    index = name_index(words)
    missing = [f"name {w!r}" for w in c.names if not same_name_word(w, words, index)]
    missing += [f"number {q}" for q in sorted(c.quantities, key=str) if not has_quantity(q, pool)]
    missing += [f"time {t}" for t in sorted(c.times - s.times - (n.times if n else frozenset()))]
    missing += sorted(c.dates - s.dates - (n.dates if n else frozenset()))
    theirs = s.speakers or (n.speakers if n else ())
    wrong = ""
    if c.speakers and theirs and not _any_same_speaker(c.speakers, theirs):
        wrong = f"claim: {', '.join(map(str, c.speakers))}; source: {', '.join(map(str, theirs))}"
    return Verdict(tuple(missing), wrong)


def check_sentence(claim: str, sentences: tuple[str, ...], i: int, context: str | Iterable[str] = "") -> Verdict:
    """check() against sentence i of a chunk, with the sentence before it as the neighbour."""
    return check(claim, sentences[i], sentences[i - 1] if i > 0 else "", context)
