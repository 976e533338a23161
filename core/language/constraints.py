"""What a question constrains its answer to: the names, numbers, dates and qualifiers it asks about.

"How did Iran's foreign ministry respond?" is not answered by "China's Foreign Ministry declined to
comment", however alike the two read; "Which weapons did South Korea end up sending?" is not answered by
"considering the possibility of sending arms". The question-side guard (rag/verify/question.py) checks an
answer's evidence against these constraints. Names, speakers and numbers are read by core/language/names.py
and core/language/quantities.py, the same readers the attribution guard uses; word lists live in
core/language/words.py. Pure functions: no model, no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.language.names import Span, facts, name_spans, place_groups
from core.language.quantities import Quantity, Token, normalise, tokenize
from core.language.terms import STOPWORDS, fold
from core.language.words import (
    DEMONYM_ENDINGS,
    EVER_WORDS,
    EXCLUSIVE_QUALIFIERS,
    FACT_MARKERS,
    FUTURE_AUX,
    GENERIC_NAME_WORDS,
    HEDGE_DETERMINERS,
    HEDGE_LINKS,
    HEDGE_WORDS,
    IRREGULAR_VERBS,
    PLACE_ALIASES,
    QUESTION_HEDGES,
    SPEECH_VERBS,
    SUBTYPE_NOUNS,
)

# "exact date", "calendar date", "what date", "on what day": the answer must give a day, not a year
_EXACT_DATE_Q = re.compile(
    r"\bexact\s+(?:calendar\s+)?(?:date|day)\b|\bcalendar\s+date\b|\b(?:what|which)\s+date\b|"
    r"\bon\s+(?:what|which)\s+(?:day|date)\b", re.IGNORECASE)
_PERIOD_LIMIT = re.compile(r"\b(?:in|for)\s+(?:more\s+than\s+|over\s+|nearly\s+|almost\s+)?"
                           r"(?:\d+|[a-z]+)\s+(?:years?|decades?|months?|weeks?|days?)\b|\bsince\b", re.IGNORECASE)
_NEXT_PERIOD = re.compile(r"\b(?:next|coming)\s+(?:year|month|week|decade|summer|winter|spring|autumn)\b")
_QUALIFIER_OF = {w: group for group in EXCLUSIVE_QUALIFIERS for w in group}


def stem(word: str) -> str:
    """A lower-case word folded so "sent", "sending" and "send" meet (core.language.terms.fold, irregulars)."""
    return fold(IRREGULAR_VERBS.get(word, word))


@dataclass(frozen=True)
class Name:
    """A named person, organisation or place the question asks about ("Iran", "Edward Howell")."""

    text: str  # as the question writes it
    words: tuple[str, ...]  # lower-cased name words that are not places of the alias table
    groups: frozenset[int]  # alias groups (core.language.words.PLACE_ALIASES) it names: countries

    @property
    def needed(self) -> tuple[str, ...]:
        """The words of which one must be found: the distinctive ones ("Tamar" of "Tamar Bridge"), or all
        the generic ones when it has nothing else ("Foreign Ministry")."""
        distinct = tuple(w for w in self.words if w not in GENERIC_NAME_WORDS)
        return distinct or self.words

    @property
    def demonym(self) -> bool:
        """"Russian", "Chinese": it describes (the Russian leader), so it may be met anywhere in the passage."""
        low = self.text.lower()
        return not self.words and len(self.groups) == 1 and low.endswith(DEMONYM_ENDINGS) and " " not in low


@dataclass(frozen=True)
class Constraints:
    names: tuple[Name, ...] = ()
    speakers: tuple[Span, ...] = ()  # "what did X say ...": X
    quantities: frozenset[Quantity] = frozenset()
    quantity_text: tuple[str, ...] = ()  # the numbers as written, for the reason
    dates: frozenset[str] = frozenset()  # "month 6", "friday"
    exact_date: bool = False
    actual: bool = True  # asks what happened, not what was planned, considered or possible
    fact_marker: str = ""  # "end up", "actually": the question insists on what happened
    terms: tuple[str, ...] = ()  # folded content words (not names): what a hedge in the evidence may govern
    qualifiers: tuple[tuple[str, ...], ...] = ()  # synonym groups of "first", "only", "last" the question uses
    ever: bool = False
    future: bool = False  # asks what will happen ("Will Xi visit again next year?")
    subtype: tuple[str, str] = ("", "")  # "Which Mercedes-Benz model": the name and the kind of it asked for

    @property
    def empty(self) -> bool:
        return not (self.names or self.speakers or self.quantities or self.dates or self.exact_date
                    or self.qualifiers or (self.actual and self.terms) or self.future or bool(self.subtype[0]))


def _name(tokens: list[Token], span: Span) -> Name:
    inside = tokens[span.start:span.end]
    groups = frozenset(place_groups(inside))
    place_words = {w for g in groups for form in PLACE_ALIASES[g] for w in form.split()}
    text = "".join((t.gap if k else "") + t.text for k, t in enumerate(inside))
    return Name(text, tuple(w for w in span.words if w not in place_words), groups)


_SENTENCES = re.compile(r"(?<=[.!?:;])\s+")
# "the only country", "Russia's only", "the first ... ever", "most recently": the qualifier is what is asked
_SINGLING = frozenset({"is", "was", "are", "were"})
# a question about what happened: an auxiliary of the past or perfect, or a past form ("bought", "signed")
_PAST_AUX = frozenset({"did", "has", "have", "had", "was", "were"})
_PRESENT_AUX = frozenset({"is", "are", "be", "being", "been", "does", "do"})


def _asked(question: str) -> str:
    """The question sentence of a message ("Ignore ... PWNED. Then: what did Japan voice?" -> the last)."""
    parts = [p for p in _SENTENCES.split(question) if "?" in p]
    return parts[-1].strip() if parts else question


def _qualifiers(tokens: list[Token]) -> tuple[tuple[str, ...], ...]:
    """"Who was the first ...", "Which is the only ...", "Russia's only", "first ever", "most recently"; not
    "the first ammonia test" said in passing, "last visited", "how long did it last"."""
    out = []
    for i, t in enumerate(tokens):
        if t.low not in _QUALIFIER_OF:
            continue
        prev, prev2 = (tokens[i - 1].low if i > 0 else ""), (tokens[i - 2].low if i > 1 else "")
        nxt = tokens[i + 1].low if i + 1 < len(tokens) else ""
        if (prev == "the" and prev2 in _SINGLING) or (prev == "s" and tokens[i - 1].gap == "'") \
                or nxt == "ever" or prev == "most":
            out.append(_QUALIFIER_OF[t.low])
    return tuple(dict.fromkeys(out))


def _subtype(tokens: list[Token], spans: list[Span]) -> tuple[str, str]:
    """"Which Mercedes-Benz model ...?" -> ("Mercedes-Benz", "model"): a which/what question asking for a kind
    of the name just before the noun."""
    for s in spans:
        if s.end < len(tokens) and tokens[s.end].low in SUBTYPE_NOUNS and not tokens[s.end].gap.strip():
            inside = [t for t in tokens[s.start:s.end] if t.low not in ("which", "what")]
            asked = any(t.low in ("which", "what") for t in tokens[max(0, s.start - 2):s.start + 1])
            if inside and asked:
                return "".join((t.gap if k else "") + t.text for k, t in enumerate(inside)), tokens[s.end].low
    return "", ""


def _about_the_past(tokens: list[Token]) -> bool:
    """"did", "has", "was", or a past form not after "is" ("Who bought it?", not "once it is sold")."""
    return any(t.low in _PAST_AUX or ((t.low in IRREGULAR_VERBS or (t.low.endswith("ed") and len(t.low) > 4))
                                      and not (i and tokens[i - 1].low in _PRESENT_AUX))
               for i, t in enumerate(tokens))


@lru_cache(maxsize=1024)
def constraints(question: str, known: frozenset[str] = frozenset()) -> Constraints:
    """The constraints `question` puts on its answer. `known`: words the documents capitalise mid-sentence."""
    text = normalise(_asked(question))
    tokens = tokenize(text)
    f = facts(text, known)
    spans = name_spans(tokens, known)
    names = tuple(n for s in spans if (n := _name(tokens, s)).words or n.groups)
    low = " ".join(t.low for t in tokens)
    marker = next((m for m in FACT_MARKERS if re.search(rf"\b{m}\b", low)), "")
    in_names = {k for s in spans for k in range(s.start, s.end)}
    asked: dict[str, str] = {}  # folded content word -> as written
    for k, t in enumerate(tokens):
        if k not in in_names and not t.cap and t.low not in STOPWORDS and not t.low.isdigit() and len(t.low) > 2 \
                and t.low not in SPEECH_VERBS and not any(t.low in m.split() for m in FACT_MARKERS):
            asked.setdefault(stem(t.low), t.low)
    terms = tuple(asked)
    written = tuple(re.findall(r"\d[\d,.]*+", text))
    # "the 1880s" is a decade, not the year 1880
    digits = {w.replace(",", "").rstrip(".") for w in written} - set(re.findall(r"(?<!\d)(\d++)'?s\b", text))
    return Constraints(
        names=names,
        # "according to whom does China ...": the question asks for the speaker, it names none
        speakers=() if re.search(r"\bwhom?\b", low) else f.speakers,
        quantities=frozenset(q for q in f.quantities if q.value in digits),  # "the two countries" is no figure
        quantity_text=written,
        dates=f.dates,
        exact_date=bool(_EXACT_DATE_Q.search(text)),
        actual=not any(t.low in QUESTION_HEDGES for t in tokens) and (bool(marker) or _about_the_past(tokens)),
        fact_marker=marker,
        terms=terms,
        qualifiers=_qualifiers(tokens),
        ever=any(t.low in EVER_WORDS for t in tokens),
        future=(any(t.low in FUTURE_AUX for t in tokens) or bool(_NEXT_PERIOD.search(low)))
        and not any(t.low in SPEECH_VERBS for t in tokens),
        subtype=_subtype(tokens, spans),
    )


def hedged_phrase(sentence: str, terms: tuple[str, ...], reach: int = 6) -> str | None:
    """The hedge governing one of the question's words in `sentence` ("considering the possibility of sending
    arms") when that word occurs there only hedged; "" when the question's words occur but none only hedged;
    None when none occurs. A word is hedged when a hedge word ("considering", "may", "plans to") stands before
    it with only linking words between (core.language.words.HEDGE_LINKS: "may have signed", "the possibility
    of sending"), at most `reach` words back and in the same clause; "offered the company" hedges no
    "company", so the nouns of a plain statement stay plain."""
    sentence = normalise(sentence)
    tokens = tokenize(sentence)
    wanted = set(terms)
    hedged: dict[str, str] = {}
    plain_stems: set[str] = set()
    for i, t in enumerate(tokens):
        key = stem(t.low)
        if key not in wanted or t.low in HEDGE_WORDS:
            continue
        hedge = _governing_hedge(tokens, i, reach)
        if hedge is not None:
            hedged.setdefault(key, _phrase(sentence, tokens, hedge, i))
        elif _verb_form(t.low):  # "Japan voiced concerns about ...'s openness to military cooperation"
            return ""
        else:
            plain_stems.add(key)
    if not hedged and not plain_stems:
        return None
    return next((p for k, p in hedged.items() if k not in plain_stems), "")


def _verb_form(low: str) -> bool:
    """A past form or a present participle: the word is what the sentence says happened ("voiced", "sent")."""
    return low in IRREGULAR_VERBS or (len(low) > 4 and low.endswith(("ed", "ing")))


def _governing_hedge(tokens: list[Token], i: int, reach: int) -> int | None:
    """The first hedge word of the run of hedges and linking words just before token `i`; None when none."""
    first = None
    for k in range(i - 1, max(-1, i - 1 - reach), -1):
        low = tokens[k].low
        if re.search(r"[,.;:!?]", tokens[k + 1].gap):
            break
        if low in HEDGE_WORDS:
            first = k
        elif not (low in HEDGE_LINKS or (low in HEDGE_DETERMINERS and tokens[k + 1].low in HEDGE_WORDS)):
            break
    return first


def _phrase(sentence: str, tokens: list[Token], hedge: int, i: int) -> str:
    """From the first hedge of the run to the hedged word and the content word after it: "considering the
    possibility of sending arms"."""
    end = i
    if i + 1 < len(tokens) and tokens[i + 1].low not in STOPWORDS and not re.search(r"[,.;:!?]", tokens[i + 1].gap):
        end = i + 1
    return sentence[tokens[hedge].start:tokens[end].end]


def limits_period(sentence: str) -> bool:
    """"first ... in 14 years", "the first since 2000": a first or last only within a period."""
    return bool(_PERIOD_LIMIT.search(sentence))
