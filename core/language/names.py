"""Names, speakers and the facts of a sentence: the one place that finds who and what a text names.

Used by the attribution guard (rag/verify/attribution.py), which compares a claim's facts with its
source's, by the extractive generator (who speaks in a quote), by the reader's features (entity words)
and by the follow-up rewriter (entities of earlier turns). Pure functions: no model, no IO.

No NER model installs offline, so extraction is by rule: capitalised spans (titles and particles
handled), digits and number words normalised to one value ("10,000" == "ten thousand"), months,
weekdays and clock times, and speakers found next to speech verbs or after "according to". A
capitalised word that opens a sentence counts as a name only when the context also shows it
capitalised mid-sentence (so "Despite" is not a name, "Putin" is). Word lists live in
core/language/words.py. Every regex here is linear: no nested or adjacent unbounded quantifiers over
the same characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.language.quantities import Quantity, Token, normalise, quantities, tokenize
from core.language.terms import STOPWORDS, fold, term_set, words, wordset
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


# ------------------------------------------------------------------------------------------ facts
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


# ------------------------------------------------------------------------------------------ speakers asked for
# a sentence whose speaker or subject is one sentence back: the extractive answer and the LLM prompt add it
REFERS_BACK = re.compile(r"\b(?:he|she|they|his|her|their|it|its)\b|^[\"“]", re.IGNORECASE)
_WHO = re.compile(r"^\s*(?:and\s+)?(?:who|whom)\b|\bwho\s+(?:said|says|is|was|warned|added|noted)\b", re.IGNORECASE)


def asks_for_speaker(question: str) -> bool:
    """"Who said ...", or a speaker asked for by role: "Which Oxford lecturer said ..." (a speech verb
    within the three words after the role's first word)."""
    words = [w.lower() for w in re.findall(r"[\w'-]+", question)[:5]]
    by_role = len(words) > 2 and words[0] in ("which", "what") and any(w in SPEECH_VERBS for w in words[2:5])
    return bool(_WHO.search(question)) or by_role


def speaker_chain(texts: tuple[str, ...] | list[str], i: int, reach: int = 2) -> list[int]:
    """Earlier sentences of the passage back to the one naming who speaks in sentence i: '"...," she said.'
    needs the sentence before it, and a second quote may need two. Empty when sentence i names its speaker."""
    own = facts(texts[i])
    if i == 0 or own.speakers or not own.refers_back:
        return []
    chain = []
    for j in range(i - 1, max(-1, i - 1 - reach), -1):
        chain.append(j)
        f = facts(texts[j])
        # the speaker is named here (or someone is, outside a "she said"), or the chain of references ends
        if f.speakers or not f.refers_back or (f.names and not f.pronoun_speaker):
            return chain
    return chain[:1]  # nobody named within reach: the sentence before, as ever


# ------------------------------------------------------------------------------------------ entities
# a run of capitalised words, "of the"/"de" inside: "University of Hong Kong" (the rewriter's entities)
_ENTITY_RUN = re.compile(
    r"\b[A-Z][\w’'.-]*+(?:\s++(?:of\s+the\s+|of\s+|for\s+|de\s+)?[A-Z][\w’'.-]*+)*+"
)
_NOT_ENTITY = wordset(
    "who what when where why how which whom whose is are was were did does do can could would will should "
    "the a an and but so also then tell describe explain i it he she they this that these those in on at "
    "according yes no"
)


def entities(text: str) -> list[str]:
    """Capitalised names and acronyms ("Yun Sun", "Stimson Center", "US"), possessives folded."""
    out = []
    for m in _ENTITY_RUN.finditer(text):
        name = re.sub(r"['’]s$", "", m.group(0)).strip(" .-'’")
        parts = name.split()
        while parts and parts[0].lower() in _NOT_ENTITY:  # sentence-initial "Who", "The"
            parts = parts[1:]
        if parts:
            out.append(" ".join(parts))
    return list(dict.fromkeys(out))


# the learned reader's `has_said`, `has_quote` and `has_new_name` columns and its entity overlap: their
# exact patterns are part of the saved model's features, so change them only with a retrained model
SAID_MENTION = re.compile(
    r"\b(?:said|says|told|stated|argued|added|noted|warned|according|wrote|claimed|explained)\b", re.IGNORECASE)
QUOTE_MARK = re.compile(r"[\"“”]")
MIDSENTENCE_CAP = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_ENTITY_WORD = re.compile(r"\b[A-Z][\w'’-]+|\d[\d,.:]*")


def entity_terms(text: str) -> frozenset[str]:
    """Names and numbers of a text (capitalised words, digits), folded like term_set."""
    out = set()
    for m in _ENTITY_WORD.finditer(text):
        for w in words(m.group(0)):
            out.add(fold(w))
    return frozenset(out) & (term_set(text) | frozenset(w for w in words(text) if w[:1].isdigit()))

