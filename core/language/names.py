"""The attribution and number guard: does a claim bring in names, numbers or a speaker its source lacks?

Similarity is not support: "Edward Howell stated that China doesn't feel it can control ..." embeds
almost exactly like Yun Sun's sentence that says it. The verifier therefore also checks, for a claim and
its best supporting source sentence (plus the sentence before it when the source refers back with a
pronoun or continues a quote), that every person, organisation or place, every number (with its unit),
date and clock time of the claim is in the source, and that a quote the claim attributes to X is not
attributed to Y there.

No NER model installs offline, so extraction is by rule: capitalised spans (titles and particles
handled), digits and number words normalised to one value ("10,000" == "ten thousand"), months,
weekdays and clock times, and speakers found next to speech verbs or after "according to". A
capitalised word that opens a sentence counts as a name only when the context also shows it
capitalised mid-sentence (so "Despite" is not a name, "Putin" is). Word lists live in
rag/verify/vocabulary.py. Every regex here is linear: no nested or adjacent unbounded quantifiers over
the same characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from core.language.quantities import Quantity, Token, normalise, quantities, tokenize
from core.language.terms import STOPWORDS
from core.language.words import (
    AMBIGUOUS_MONTHS,
    MONTHS,
    NAME_PARTICLES,
    NUMBER_WORDS,
    PLACE_ALIASES,
    REFERRING_PRONOUNS,
    SENTENCE_OPENERS,
    SPEECH_VERBS,
    TITLES,
    WEEKDAYS,
)

_QUOTES = "\"“”«»"
_CLAUSE_BREAK = re.compile(r"[\"“”«».!?;:()]")


@lru_cache(maxsize=4096)
def midsentence_caps(text: str) -> frozenset[str]:
    """Lower-cased words written capitalised somewhere other than at a sentence start: known names."""
    return frozenset(t.low for t in tokenize(normalise(text)) if t.cap and not t.initial)


# ------------------------------------------------------------------------------------------ names
@dataclass(frozen=True)
class Span:
    start: int  # token range [start, end)
    end: int
    words: tuple[str, ...]  # lower-cased name words, titles and particles removed

    def __str__(self) -> str:
        return " ".join(self.words)


def _date_word(tokens: list[Token], i: int) -> str | None:
    t = tokens[i]
    if not t.cap:
        return None
    if t.low in WEEKDAYS:
        return t.low
    if t.low not in MONTHS:
        return None
    near_digit = any(0 <= k < len(tokens) and tokens[k].text.isdigit() for k in (i - 1, i + 1))
    if t.low in AMBIGUOUS_MONTHS and not near_digit and (t.low != "may" or t.initial):
        return None
    return f"month {MONTHS[t.low]}"


def _joins(tokens: list[Token], j: int) -> bool:
    gap = tokens[j].gap
    return len(gap) <= 2 and not gap.strip(" -") and "\n" not in gap


def _is_cap_word(tokens: list[Token], i: int) -> bool:
    t = tokens[i]
    return t.cap and not t.text.isdigit() and _date_word(tokens, i) is None and t.low not in NUMBER_WORDS


def _keep(tokens: list[Token], i: int, end: int, known: frozenset[str]) -> bool:
    """Whether token i of a capitalised span [.., end) names someone or something."""
    t = tokens[i]
    if t.low in TITLES or (t.low in STOPWORDS and not t.acronym) or not _is_cap_word(tokens, i):
        return False
    if not t.initial or t.acronym or t.low in known or t.low in _alias_index():
        return True
    if t.low in SENTENCE_OPENERS:
        return False
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    # an unknown sentence opener is a name only with evidence: "Kim said", "Kim's", "Yun Sun"
    return nxt is not None and (
        (i + 1 < end and nxt.cap)
        or (nxt.low in SPEECH_VERBS and not nxt.gap.strip())
        or (nxt.low == "s" and nxt.gap == "'")
    )


def name_spans(tokens: list[Token], known: frozenset[str]) -> list[Span]:
    """Maximal capitalised spans ("Russian President Vladimir Putin", "City University of Hong Kong")."""
    spans, i, n = [], 0, len(tokens)
    while i < n:
        if not _is_cap_word(tokens, i):
            i += 1
            continue
        j = i + 1
        while j < n and _joins(tokens, j):
            if _is_cap_word(tokens, j):
                j += 1
            elif tokens[j].low in NAME_PARTICLES and j + 1 < n and _joins(tokens, j + 1) and _is_cap_word(tokens, j + 1):
                j += 2
            else:
                break
        words = tuple(tokens[k].low for k in range(i, j) if _keep(tokens, k, j, known))
        if words:
            spans.append(Span(i, j, words))
        i = j
    return spans


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, int]:
    return {form: g for g, forms in enumerate(PLACE_ALIASES) for form in forms}


def place_groups(tokens: list[Token]) -> set[int]:
    """Which alias groups (one country/government each) the capitalised words of a text mention."""
    index, found = _alias_index(), set()
    for i, t in enumerate(tokens):
        if not t.cap:
            continue
        if i + 1 < len(tokens) and tokens[i + 1].cap:
            pair = f"{t.low} {tokens[i + 1].low}"
            if pair in index:
                found.add(index[pair])
                continue
        if t.low in index and (len(t.low) > 3 or t.acronym or t.low not in STOPWORDS):
            found.add(index[t.low])
    return found


def alias_words(groups: set[int]) -> set[str]:
    return {w for g in groups for form in PLACE_ALIASES[g] for w in form.split()}


def name_index(words: frozenset[str]) -> dict[str, list[str]]:
    """Words of >= 4 letters by their first four, so a prefix match looks at a handful, not all."""
    index: dict[str, list[str]] = {}
    for w in words:
        if len(w) >= 4:
            index.setdefault(w[:4], []).append(w)
    return index


def same_name_word(word: str, words: frozenset[str], index: dict[str, list[str]] | None = None) -> bool:
    """Exact, or one a short extension of the other ("Korea"/"Korean", "Russia"/"Russians")."""
    if word in words:
        return True
    if len(word) < 4:
        return False
    near = (index if index is not None else name_index(words)).get(word[:4], ())
    return any(abs(len(w) - len(word)) <= 3 and (w.startswith(word) or word.startswith(w)) for w in near)


# ------------------------------------------------------------------------------------------ speakers
PRONOUN = "<pronoun>"
_SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i"})
_BETWEEN = frozenset({"has", "had", "have", "also", "later", "then", "previously", "once", "reportedly", "again"})


class _Layout:
    """Per token: the span covering it, the next span starting at or after it, and its clause start.
    Precomputed in one pass each, so finding speakers stays linear however many verbs a text has."""

    def __init__(self, tokens: list[Token], spans: list[Span]) -> None:
        n = len(tokens)
        self.tokens = tokens
        self.covering: list[Span | None] = [None] * n
        for s in spans:
            for k in range(s.start, s.end):
                self.covering[k] = s
        self.next_span: list[Span | None] = [None] * (n + 1)
        starts = {s.start: s for s in spans}
        for k in range(n - 1, -1, -1):
            self.next_span[k] = starts.get(k, self.next_span[k + 1])
        self.clause: list[int] = [0] * n
        for k in range(1, n):
            self.clause[k] = k if _CLAUSE_BREAK.search(tokens[k].gap) else self.clause[k - 1]

    def span_within(self, i: int, reach: int) -> Span | None:
        """The span covering token i or starting within `reach` tokens after it."""
        if i >= len(self.tokens):
            return None
        hit = self.covering[i] or self.next_span[i]
        return hit if hit is not None and hit.start < i + reach else None


def _inverted(lay: _Layout, i: int) -> str | Span | None:
    """ ', said Liu Dongshu, an assistant professor'  /  '," she added' """
    tokens = lay.tokens
    if i + 1 >= len(tokens):
        return None
    if tokens[i + 1].low in _SUBJECT_PRONOUNS and re.search(rf"[{_QUOTES}]", tokens[i].gap):
        return PRONOUN
    span = lay.span_within(i + 1, reach=3)
    if span is None:
        return None
    after = tokens[span.end].gap if span.end < len(tokens) else "."
    return span if re.search(r"[,.;:!?(]", after) else None


def _forward(lay: _Layout, i: int) -> str | Span | None:
    """ 'Kim said' / 'Yun Sun, director of ..., said' / 'she added' """
    tokens = lay.tokens
    k = i - 1
    while k >= 0 and i - k <= 3 and (tokens[k].low in _BETWEEN or tokens[k].low.endswith("ly")):
        k -= 1
    if k < 0:
        return None
    if tokens[k].low in _SUBJECT_PRONOUNS and not tokens[k + 1].gap.strip():
        return PRONOUN
    span = lay.covering[k]
    if span is not None and not "".join(t.gap for t in tokens[span.end : i + 1]).strip():
        return span
    if "," in tokens[i].gap:  # an appositive: the subject is the first name of the clause
        return lay.span_within(lay.clause[i], reach=i - lay.clause[i])
    return None


def speakers(tokens: list[Token], spans: list[Span]) -> list[str | Span]:
    """Who the text says said something: name spans, or PRONOUN when only "she added" says so."""
    lay = _Layout(tokens, spans)
    found: list[str | Span] = []
    for i, t in enumerate(tokens):
        if t.low == "according" and i + 1 < len(tokens) and tokens[i + 1].low == "to":
            hit = lay.span_within(i + 2, reach=5)
        elif t.low in SPEECH_VERBS and not t.cap:
            quoted = re.search(rf"[{_QUOTES}]", t.gap)
            hit = _inverted(lay, i) if quoted or "," in t.gap else None
            if hit is None and not quoted:
                hit = _forward(lay, i)
        else:
            continue
        if hit is not None:
            found.append(hit)
    return found


# ------------------------------------------------------------------------------------------ the check
@dataclass(frozen=True)
class Facts:
    names: tuple[str, ...]  # name words, in order
    quantities: frozenset[Quantity]
    times: frozenset[str]
    dates: frozenset[str]
    speakers: tuple[Span, ...]  # named speakers
    pronoun_speaker: bool  # "she added": the speaker is named in an earlier sentence
    refers_back: bool  # a pronoun or an unattributed quote: the previous sentence is part of the support
    words: frozenset[str]  # every word, plus the other names of the places it mentions


def facts(text: str, known: frozenset[str] = frozenset()) -> Facts:
    """Everything the guard compares, from one text. `known`: words seen capitalised mid-sentence."""
    text = normalise(text)
    tokens = tokenize(text)
    known = known | midsentence_caps(text)
    spans = name_spans(tokens, known)
    nums, times = quantities(text, tokens)
    said = speakers(tokens, spans)
    named = tuple(s for s in said if isinstance(s, Span))
    quote_without_speaker = bool(re.search(rf"[{_QUOTES}]", text)) and not named
    return Facts(
        names=tuple(dict.fromkeys(w for s in spans for w in s.words)),
        quantities=frozenset(nums),
        times=frozenset(times),
        dates=frozenset(d for i in range(len(tokens)) if (d := _date_word(tokens, i))),
        speakers=named,
        pronoun_speaker=PRONOUN in said,
        refers_back=quote_without_speaker or any(t.low in REFERRING_PRONOUNS for t in tokens),
        words=frozenset({t.low for t in tokens} | alias_words(place_groups(tokens))),
    )


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


def _has_quantity(q: Quantity, pool: frozenset[Quantity]) -> bool:
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
    missing += [f"number {q}" for q in sorted(c.quantities, key=str) if not _has_quantity(q, pool)]
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
