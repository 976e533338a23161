"""The people a text names, with the titles before their names: "Infrastructure Minister Paul Desrosiers".

By rule, like core.language.names (no NER model installs offline): runs of capitalised words that are no
place, organisation, region, month or weekday. Lists of people (rag.plan.lists) read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.language.places import place_pattern
from core.language.terms import STOPWORDS
from core.language.words import (
    GEOGRAPHY_WORDS,
    MONTHS,
    ORGANISATION_WORDS,
    SENTENCE_OPENERS,
    TITLES,
    WEEKDAYS,
)

# a run of capitalised words (hyphens and apostrophes inside): "Infrastructure Minister Paul Desrosiers"
_CAP_RUN = re.compile(r"\b[A-Z][\w’'-]*+(?:[ \t]++[A-Z][\w’'-]*+)*+")
_NOT_FIRST = SENTENCE_OPENERS | STOPWORDS  # words a mention does not start with


@dataclass(frozen=True)
class Person:
    name: str  # "Paul Desrosiers"
    start: int  # where the mention starts in the text, its title included ("Infrastructure Minister ...")
    end: int  # where the name ends


def people(text: str, common: frozenset[str] = frozenset()) -> list[Person]:
    """The people a text names: runs of two to four capitalised words that are no place, organisation,
    month or weekday, after the titles before them ("Mayor", "Infrastructure Minister", "Russian
    President"), which the mention keeps and the name does not. `common`: words the document also writes in
    lower case ("war", "mutual"), which make a run a phrase ("Cold War"), not a name. One-word names
    ("Liu") are not found here: they are the speakers of `facts`, grouped with the full name elsewhere."""
    out = []
    for m in _CAP_RUN.finditer(text):
        parts = m.group(0).split()
        offsets = [m.start() + o.start() for o in re.finditer(r"\S+", m.group(0))]
        lows = [re.sub(r"['’]s$", "", p.lower()) for p in parts]
        lead = max((i + 1 for i, w in enumerate(lows) if w in TITLES), default=0)
        while lead < len(parts) and (lows[lead] in _NOT_FIRST):
            lead += 1
        name = [re.sub(r"['’]s$", "", p) for p in parts[lead:]]
        if 2 <= len(name) <= 4 and not _not_name(" ".join(name), common):
            first = next((i for i in range(lead) if lows[i] not in _NOT_FIRST), lead)
            out.append(Person(" ".join(name), offsets[first], m.end() - (len(parts[-1]) - len(name[-1]))))
    return out


def _not_name(name: str, common: frozenset[str]) -> bool:
    lows = [w.lower() for w in name.split()]
    return bool(place_pattern().search(name)) or any(
        w in ORGANISATION_WORDS or w in GEOGRAPHY_WORDS or w in STOPWORDS or w in TITLES or w in MONTHS or w in WEEKDAYS or w in common
        for w in lows)


def lower_case_words(text: str) -> frozenset[str]:
    """The words a text writes in lower case (for `people`'s `common`)."""
    return frozenset(re.findall(r"\b[a-z][a-z'-]+\b", text))
