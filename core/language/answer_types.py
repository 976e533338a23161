"""Answer types: what a sentence must contain to answer some kinds of question.

"How many ...?" answered by a sentence without a number is wrong however similar it reads, so the
extractive generator drops such candidates, and an LLM draft that loses the asked-for figure is not shown
(rag/verify/draft.py). The types are deliberately coarse and permissive: a type that demands too much
(e.g. a time word for "how long", which rejected "spans 312 metres") makes answerable questions abstain,
while one that demands too little only leaves the decision to the sentence ranking.

Kinds, first match wins: a name ("What is the name of ...?"), number, money, mass, length, speed, calendar
date, duration ("how long"), clock time ("what time"), and time ("when", "what year"). Word lists come from
core/language/words.py.
"""

from __future__ import annotations

import re

from core.language.quantities import (
    CLOCK_PATTERN,
    DATE,
    MONTH_PATTERN,
    NUMBER,
    NUMBER_PATTERN,
    WEEKDAY_PATTERN,
)
from core.language.words import (
    DURATION_WORDS,
    MONEY_WORDS,
    NUMBER_WORDS,
    PLACE_ALIASES,
    SENTENCE_OPENERS,
    SPEED_FORMS,
    UNIT_DIMENSIONS,
    UNITS,
)

CLOCK = re.compile(CLOCK_PATTERN, re.IGNORECASE)
TIME = re.compile(
    rf"\b(?:1\d{{3}}|20\d{{2}}|{MONTH_PATTERN}|{WEEKDAY_PATTERN}|"
    r"ago|earlier|later|since|until|during|before|after|year|years|month|months|week|weeks|decade|"
    rf"decades|century|yesterday|today|recently|now|then|once|when)\b|{CLOCK_PATTERN}",
    re.IGNORECASE,
)
# "how long": a number (a duration or a length: "14 years", "spans 312 metres") or a duration word
HOW_LONG = re.compile(rf"{NUMBER_PATTERN}|\b(?:{'|'.join(sorted(DURATION_WORDS))})\b", re.IGNORECASE)

# a number as written before its unit: digits (one run, so scanning stays linear) or a number word
_AMOUNT = rf"(?:(?<![\w.,])\d[\d,.]*+|\b(?:{'|'.join(sorted(NUMBER_WORDS))}))"


def _quantity_of(dimension: str, extra: tuple[str, ...] = ()) -> re.Pattern:
    """A number followed by a unit of `dimension` ("1.4 kilometres", "52-metre", "11,000 tonnes")."""
    forms = [f for f, canon in UNITS.items() if UNIT_DIMENSIONS.get(canon) == dimension and f[0].isalpha()]
    alts = "|".join(re.escape(f) for f in sorted({*forms, *extra}, key=len, reverse=True))
    return re.compile(rf"{_AMOUNT}\s*+-?\s*+(?:(?:metric|square|cubic|nautical)\s+)?(?:{alts})(?![\w/])",
                      re.IGNORECASE)


LENGTH = _quantity_of("length")
MASS = _quantity_of("mass")
SPEED = _quantity_of("speed", SPEED_FORMS)
_MONEY_AFTER = _quantity_of("money", tuple(MONEY_WORDS)).pattern
# "$3.50", "£18", "90 bucks", "$214 million", or an amount right after a paying word ("I paid 165")
MONEY = re.compile(
    rf"[$€£¥]\s?\d|{_MONEY_AFTER}|\b(?:paid|pay|pays|paying|cost|costs|costing|priced|charged|spent)\s+"
    r"(?:(?:about|around|roughly|only|just|nearly|almost|over|under)\s+)?\d",
    re.IGNORECASE,
)

_Q_NUMBER = re.compile(r"\bhow\s+(?:many|old)\b|\bwhat\s+(?:number|percentage|share|amount|age)\b")
# money: "how much" with a paying word anywhere ("How much is the toll for trucks?"), or "what" with a
# narrower set ("What will a driver pay ...?"; "What happened to the ferry that was sold?" is not money).
# Separate searches rather than one "how much.*cost" pattern, which would rescan the question from every start
# not "charge": "How much charge does the battery hold?" is as common as a price in reviews
_Q_MONEY_WORDS = re.compile(r"\b(?:cost|costs|costed|pay|paid|paying|price|priced|spend|spent|sold|sell|"
                            r"worth|toll|fee|fare)\b")
_Q_WHAT_MONEY_WORDS = re.compile(r"\b(?:cost|pay|paid|price|fee|fare|toll)\b")
_Q_HOW_MUCH = re.compile(r"\bhow\s+much\b|\bhow\s+expensive\b")
_Q_WHAT = re.compile(r"\bwhat\b")
_Q_MASS = re.compile(r"\bhow\s+heavy\b|\bweigh(?:s|ed|t)?\b")
_Q_LENGTH = re.compile(r"\bhow\s+(?:far|tall|high|deep|wide)\b|\bwhat\s+(?:distance|height|depth|width)\b")
_Q_SPEED = re.compile(r"\bhow\s+fast\b|\bwhat\s+(?:[\w-]+\s+)?speed\b")
_Q_NUMBERISH = re.compile(r"\bhow\s+(?:much|big|large)\b")
_Q_DATE = re.compile(r"\b(?:what|which)\s+(?:exact\s+)?(?:date|day)\b|\bon\s+what\s+day\b")
_Q_CLOCK = re.compile(r"\bwhat\s+time\b(?!\s+(?:period|frame|span|of\s+(?:the\s+)?year))")
_Q_TIME = re.compile(r"^\s*when\b|\b(?:what|which)\s+(?:year|month|decade)\b")

_RULES: tuple[tuple[re.Pattern, re.Pattern], ...] = (
    (_Q_MASS, MASS), (_Q_LENGTH, LENGTH), (_Q_SPEED, SPEED), (_Q_NUMBERISH, NUMBER), (_Q_DATE, DATE),
    (re.compile(r"\bhow\s+long\b"), HOW_LONG), (_Q_CLOCK, CLOCK), (_Q_TIME, TIME),
)


_Q_NAME = re.compile(r"\bname\s+of\b|\b(?:his|her|their|its)\s+name\b|'s\s+name\b")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*+")
_PLACE_FORMS = frozenset(f for group in PLACE_ALIASES for f in group)


class NewName:
    """A name the question does not already hold: "What is the name of the spokesperson who ...?" is not
    answered by "A spokesperson for China's Foreign Ministry declined ...". Places and the sentence's first
    word do not count. Duck-types the two methods of re.Pattern that callers use."""

    def __init__(self, question: str) -> None:
        self.known = frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", question))

    def finditer(self, text: str):
        for m in _CAPITALISED.finditer(text):
            words = [w for w in re.split(r"[ -]", m.group()) if w]
            if m.start() == 0 or text[:m.start()].rstrip().endswith((".", "!", "?", '"', "“")):
                words = words[1:] if (words and words[0].lower() in SENTENCE_OPENERS) or len(words) > 1 else []
            name = " ".join(words).lower()
            if words and name not in _PLACE_FORMS and not DATE.fullmatch(name) and \
                    not all(w.lower() in self.known or w.lower() in _PLACE_FORMS for w in words):
                yield m

    def search(self, text: str):
        return next(self.finditer(text), None)


def answer_type(question: str) -> re.Pattern | NewName | None:
    """The pattern an answering sentence must match for this kind of question, or None for any sentence."""
    q = question.lower()
    if _Q_NAME.search(q):
        return NewName(question)
    if _Q_NUMBER.search(q):  # "What share of the cost did Ottawa pay?" wants a number, not money
        return NUMBER
    if not _Q_MASS.search(q) and ((_Q_HOW_MUCH.search(q) and _Q_MONEY_WORDS.search(q))
                                  or (_Q_WHAT.search(q) and _Q_WHAT_MONEY_WORDS.search(q))):
        return MONEY
    for asks, wants in _RULES:
        if asks.search(q):
            return wants
    return None


# The learned reader's question kind (its wh_* columns): coarser than answer_type, and part of the saved
# model's features, so its patterns change only with a retrained model.
WH_TYPES = ("who", "when", "where", "how_many", "how_long", "how_other", "what", "why", "yesno", "other", "claim")
_WH = [
    ("how_long", re.compile(r"\bhow\s+long\b", re.I)),
    ("how_many", re.compile(r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:number|percentage|amount|share)\b", re.I)),
    ("how_other", re.compile(r"\bhow\s+(?:old|far|big|large|tall|high|wide|deep|heavy|fast|often)\b", re.I)),
    ("when", re.compile(r"\bwhen\b|\b(?:what|which)\s+(?:year|month|day|date|time|decade|century|hour)\b", re.I)),
    ("who", re.compile(r"\bwho(?:m|se)?\b", re.I)),
    ("where", re.compile(r"\bwhere\b", re.I)),
    ("why", re.compile(r"\bwhy\b", re.I)),
    ("what", re.compile(r"\b(?:what|which|how)\b", re.I)),
    ("yesno", re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)),
]


def wh_type(question: str) -> str:
    """The question's answer kind, from its wh-words (first match in _WH's order)."""
    for name, pattern in _WH:
        if pattern.search(question):
            return name
    return "other"
