"""The question-side guard (issue 27): an answer must meet what the question asks, or the assistant abstains.

The attribution guard (rag/verify/attribution.py) checks an answer's names and numbers against its source;
this checks the question's against the answer's evidence. "How did Iran's foreign ministry respond?" is not
answered by "China's Foreign Ministry declined to comment" (a name the evidence lacks), "Which weapons did
South Korea end up sending?" not by "considering the possibility of sending arms" (hedged evidence for a
question about what happened), "On what exact date...?" not by a year. Checked, in order: the speaker asked
about, named people, organisations and places (country aliases: "U.S." = "United States", "Pyongyang" =
North Korea), numbers, months and weekdays, an exact date, "first/only/last" (and "ever"), and hedging.

The evidence is each answer sentence, the source sentence it cites, and what precedes that sentence in its
passage with the document's title (a name may be the subject of the sentence before: "It spans ...").
It runs in the draft policy after citation verification (rag/verify/policy.py): on the extractive answer
before it is shown, and on an LLM draft, which is replaced when it fails. The reason names the unmet part.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from core.language.constraints import Constraints, Name, constraints, hedged_phrase, limits_period
from core.language.names import Facts, entities, facts, name_index, place_groups, same_name_word
from core.language.places import country_of
from core.language.quantities import EXACT_DATE, YEAR_MENTION, normalise, tokenize
from core.language.words import (
    FUTURE_WORDS,
    GENERIC_NAME_WORDS,
    HEDGE_WORDS,
    MONTH_NAMES,
    PAST_ANCHORS,
    PLACE_ALIASES,
)
from rag.verify.attribution import has_quantity, known_names
from rag.verify.citations import Verified


@dataclass(frozen=True)
class Evidence:
    """One answer sentence and what stands behind it."""

    claim: str  # the answer sentence (an extractive answer's is the source sentence itself)
    source: str  # the source sentence it cites ("" when it cites none)
    context: str = ""  # the document title and the sentences before the source in its passage
    passage: str = ""  # the whole cited passage: where an adjective ("the Russian leader") may be met


class QuestionGuard(Protocol):
    def unmet(self, question: str, evidence: Sequence[Evidence]) -> str:
        """Which part of the question the evidence does not settle, as a reason to show; "" when it does."""
        ...


def evidence_of(verified: Verified) -> list[Evidence]:
    """Each verified sentence with its cited source sentence and what precedes it in its passage (a post's
    author line, the sentence naming who "she" is)."""
    out = []
    for s in verified.sentences:
        cites = [verified.citations[m - 1] for m in s.markers if 0 < m <= len(verified.citations)]
        if not cites:
            out.append(Evidence(s.text, ""))
        for c in cites:
            at = c.text.find(s.text[:80])
            if at >= 0:
                source = s.text
            else:
                at = (c.quote_start or c.start) - c.start
                source = c.text[at:(c.quote_end or c.end) - c.start]
            out.append(Evidence(s.text, source, f"{c.title}. {c.text[:at]}", c.text))
    return out


def _place(group: int) -> str:
    return PLACE_ALIASES[group][0].title()


@lru_cache(maxsize=4096)
def _read(text: str) -> tuple[Facts, frozenset[int], frozenset[str]]:
    """A text's facts, country groups and name initials; passages recur across questions, so cached."""
    groups = frozenset(place_groups(tokenize(normalise(text))))
    return facts(text), groups, frozenset(a for e in entities(text) for a in _initials(e))


def plain(text: str) -> str:
    """Accents dropped, so "Gospic" meets "Gospić"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _one_edit(a: str, b: str) -> bool:
    """Equal but for one letter added, dropped or changed ("Bismark" / "Bismarck", "Datnet" / "Datanet")."""
    if abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return a[i + 1:] == b[i + 1:] or a[i:] == b[i + 1:] or a[i + 1:] == b[i:]


def _initials(entity: str) -> set[str]:
    """The initials of every run of two or more capitalised words of a name: "Before World War I" -> "wwi", ..."""
    caps = [w[0].lower() for w in entity.split() if w[:1].isupper()]
    return {"".join(caps[i:j]) for i in range(len(caps)) for j in range(i + 2, len(caps) + 1)}


@dataclass(frozen=True)
class _Pool:
    """The words, initials and country groups of some texts."""

    words: frozenset[str]
    groups: frozenset[int]
    speakers: tuple[tuple[str, ...], ...]
    initials: frozenset[str] = frozenset()  # of capitalised runs: "umc" for "United Methodist Church"

    @classmethod
    def of(cls, texts: Sequence[str]) -> _Pool:
        read = [_read(t) for t in dict.fromkeys(texts) if t]
        return cls(frozenset().union(*(f.words for f, _, _ in read)), frozenset().union(*(g for _, g, _ in read)),
                   tuple(s.words for f, _, _ in read for s in f.speakers), frozenset().union(*(i for _, _, i in read)))

    def _word(self, w: str, index: dict[str, list[str]]) -> bool:
        return (same_name_word(w, self.words, index) or w in self.initials
                or (len(w) >= 5 and any(_one_edit(w, x) for x in self.words if len(x) >= 4)))

    def has(self, name: Name) -> bool:
        index = name_index(self.words)
        needed = tuple(w for w in name.needed if len(w) > 1)
        if len(needed) > 1 and all(w in GENERIC_NAME_WORDS for w in needed):
            return name.groups <= self.groups and all(self._word(w, index) for w in needed)
        return name.groups <= self.groups and (not needed or any(self._word(w, index) for w in needed))


@dataclass(frozen=True)
class ConstraintGuard:
    """The rule-based QuestionGuard (see the module docstring)."""

    def unmet(self, question: str, evidence: Sequence[Evidence]) -> str:
        if not evidence:
            return ""
        main = list(dict.fromkeys(plain(t) for e in evidence for t in (e.claim, e.source) if t))
        wide = main + [plain(e.context) for e in evidence if e.context]
        known = known_names(wide)
        c = constraints(plain(question), known)
        if c.empty:
            return ""
        passages = wide + [plain(e.passage) for e in evidence if e.passage]
        return (_speaker(c, main, wide) or _names(c, main, wide, passages) or _numbers(c, wide)
                or _dates(c, main) or _qualifiers(c, main) or _subtype(c, main) or _hedged(c, main)
                or _future(c, main))


def _speaker(c: Constraints, main: list[str], wide: list[str]) -> str:
    """"What did X say ...?" answered by words the sources give to Y."""
    if not c.speakers:
        return ""
    pool = _Pool.of(main)
    theirs = pool.speakers or _Pool.of(wide).speakers
    if not theirs or any(w in pool.initials for s in c.speakers for w in s.words):  # "UMC" said it
        return ""
    words = frozenset(w for s in theirs for w in _speaker_keys(s))
    index = name_index(words)
    if any(same_name_word(w, words, index) for s in c.speakers for w in _speaker_keys(s.words)):
        return ""
    asked = " ".join(c.speakers[0].words).title()
    return f"the sources give these words to {' '.join(theirs[0]).title()}, not {asked}"


def _speaker_keys(words: tuple[str, ...]) -> tuple[str, ...]:
    """A speaker's name words, plus the country a place among them names ("US" and "United States" meet)."""
    countries = country_of()
    found = [countries[f] for f in (" ".join(words), *words) if f in countries]
    return (*words, *found)


def _names(c: Constraints, main: list[str], wide: list[str], passages: list[str]) -> str:
    pool = _Pool.of(wide)
    missing = [n for n in c.names if not pool.has(n)]
    if any(n.demonym for n in missing):  # "the Russian leader": anywhere in the cited passage
        loose = _Pool.of(passages)
        missing = [n for n in missing if not (n.demonym and loose.has(n))]
    if not missing:
        return ""
    asked = {g for n in c.names for g in n.groups}
    other = sorted(_Pool.of(main).groups - asked)
    instead = f" (the closest passage is about {_place(other[0])})" if other else ""
    return f"the sources never say this about {missing[0].text}{instead}"


def _numbers(c: Constraints, wide: list[str]) -> str:
    pool = frozenset().union(*(_read(t)[0].quantities for t in wide))
    for q in sorted(c.quantities, key=str):
        if not has_quantity(q, pool):
            written = next((t for t in c.quantity_text if t.replace(",", "") == q.value), q.value)
            return f"the sources never mention {written}" + (f" {q.unit}" if q.unit else "") + " for this"
    return ""


def _dates(c: Constraints, main: list[str]) -> str:
    have = frozenset().union(*(_read(t)[0].dates for t in main))
    missing = sorted(c.dates - have)
    if missing:
        when = missing[0]
        when = MONTH_NAMES[int(when.split()[1]) - 1] if when.startswith("month ") else when
        return f"the sources never mention {when.title()} for this"
    if c.exact_date and not any(EXACT_DATE.search(t) for t in main):
        year = next((m.group(0) for t in main if (m := YEAR_MENTION.search(t))), "")
        return f"the sources give a year ({year}), not an exact date" if year else "the sources give no exact date"
    return ""


def _qualifiers(c: Constraints, main: list[str]) -> str:
    low = [set(re.findall(r"[a-z]+", t.lower())) for t in main]
    for group in c.qualifiers:
        with_it = [t for t, ws in zip(main, low, strict=True) if ws & set(group)]
        if not with_it:
            return f"the sources never say which was the {group[0]}"
        if c.ever and group[0] in ("first", "last") and all(limits_period(t) for t in with_it):
            return f"the sources say {group[0]} within a period, not {group[0]} ever"
    return ""


def _hedged(c: Constraints, main: list[str]) -> str:
    """A question about what happened, answered only by what was considered, planned or possible."""
    if not c.actual or not c.terms:
        return ""
    found = [p for t in main if (p := hedged_phrase(t, c.terms)) is not None]
    if not found or "" in found:
        return ""
    return f"the sources mention {found[0]}, not what actually happened"


def _subtype(c: Constraints, main: list[str]) -> str:
    """"Which Mercedes-Benz model ...?" answered by a sentence naming the make alone: the evidence must say the
    kind ("model") or follow the name with one ("Mercedes-Benz S600")."""
    name, noun = c.subtype
    if not name:
        return ""
    words = {w.lower() for w in re.findall(r"\w+", name)}
    for text in main:
        tokens = tokenize(normalise(text))
        if any(t.low == noun for t in tokens):
            return ""
        if any(t.low in words and k + 1 < len(tokens) and tokens[k + 1].low not in words
               and (tokens[k + 1].cap or tokens[k + 1].text[:1].isdigit()) and not tokens[k + 1].gap.strip()
               for k, t in enumerate(tokens)):
            return ""
    return f"the sources name the {name} but not which {noun}"


def _future(c: Constraints, main: list[str]) -> str:
    """A question about what will happen, answered only by what happened before ("Five years ago, ...")."""
    if not c.future:
        return ""
    low = [" ".join(t.low for t in tokenize(normalise(t))) for t in main]
    if any(w in FUTURE_WORDS or w in HEDGE_WORDS for t in low for w in t.split()):
        return ""
    anchor = next((a for t in low for a in PAST_ANCHORS if re.search(rf"\b{a}\b", t)), "")
    return f"the sources say what happened before (\"{anchor}\"), not what will happen" if anchor else ""

