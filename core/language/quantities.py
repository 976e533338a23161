"""What a sentence states in numbers: tokens with their positions, and the quantities, units, dates and
clock times among them, normalised so "10,000" == "10000" == "ten thousand" and "6:40 am" == "6.40am".

The attribution guard (rag/verify/attribution.py) compares these between a claim and its source. Every word
list lives in core/language/words.py; every pattern here is linear (tests/test_regex_audit.py).

The clock-time patterns differ on purpose: _CLOCK reads a time's value (hour and minute groups),
CLOCK_PATTERN accepts any time expression as an answer ("each morning"), and CLOCK_MENTION is the
learned reader's `has_clock` column, frozen by the saved model (data/reader/reader.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.language.words import (
    HUNDRED,
    MONTH_NAMES,
    NUMBER_WORDS,
    SCALE_SUFFIXES,
    SCALES,
    TENS,
    UNIT_FILLERS,
    UNITS,
    UNITS_0_19,
    WEAK_NUMBER_WORDS,
    WEEKDAY_NAMES,
)

_TOKEN = re.compile(r"\d+|[^\W\d_]+|[$€£%°]")
_DOTTED = re.compile(r"\b([A-Z])\.([A-Z])\.(?:([A-Z])\.)?")  # "U.S." -> "US"
_CLOCK = re.compile(
    r"(?<![\d.:,])(\d{1,2})(?!\d)(?::(\d{2})|\.(\d{2})(?=\s?[ap]\.?m(?![a-z])))?(?:\s?([ap])\.?m(?![a-z])\.?)?",
    re.IGNORECASE,
)
# month and weekday names as regex alternatives (whole words: callers wrap them in \b...\b)
MONTH_PATTERN = "|".join(MONTH_NAMES)
WEEKDAY_PATTERN = "|".join(WEEKDAY_NAMES)
# a number as an answer needs it: a digit or a number word ("dozens", "twice")
NUMBER_PATTERN = (
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half|twice)\b")
NUMBER = re.compile(NUMBER_PATTERN, re.IGNORECASE)
DATE = re.compile(rf"\b(?:{MONTH_PATTERN}|{WEEKDAY_PATTERN})\b", re.IGNORECASE)
# a date down to the day: "June 19", "19 June", "19th of June", "2024-06-19", "19/6/2024", a weekday
EXACT_DATE = re.compile(
    rf"\b(?:{MONTH_PATTERN})\.?\s++\d{{1,2}}(?!\d)|(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?\s++(?:of\s+)?(?:{MONTH_PATTERN})\b|"
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|(?<![\d/])\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b(?:{WEEKDAY_PATTERN})\b",
    re.IGNORECASE)
# a clock time as an answer (answer_types.CLOCK): "6:40", "6.40pm", "10 am", "noon", "half 10", "each morning"
CLOCK_PATTERN = (r"(?<![\d.,:])\d{1,2}[:.]\d{2}(?!\d)|(?<![\d.,:])\d{1,2}\s?[ap]\.?m\b|\bhalf\s+(?:past\s+)?\d|"
          r"\b(?:noon|midday|midnight|o'clock|dawn|dusk|morning|mornings|afternoon|evening|evenings|night|tonight)\b")
# what the learned reader's sentence-type columns look for (has_year, has_clock, has_unit, has_money): their
# exact patterns are part of the saved model's features, so change them only with a retrained model
YEAR_MENTION = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b")
CLOCK_MENTION = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)|\b(?:noon|midnight|o'clock)\b",
                           re.IGNORECASE)
UNIT_MENTION = re.compile(
    r"(?<![\d,.])\d[\d,.]*+\s*+(?:%|percent|per\s+cent|metres?|meters?|km|kilomet\w+|miles?|feet|foot|ft|inch(?:es)?|cm|mm|"
    r"kg|kilo\w*|grams?|tonnes?|tons?|pounds?|lbs?|hours?|hrs?|minutes?|mins?|seconds?|days?|weeks?|months?|"
    r"years?|decades?|centuries|acres?|hectares?|square|sq|degrees?|°|mph|km/h|litres?|liters?|gallons?|"
    r"storeys?|stories|floors?|people|residents|inhabitants)\b",
    re.IGNORECASE,
)
MONEY_MENTION = re.compile(
    r"[$€£¥]\s?\d|(?<![\w,.])\d[\d,.]*+\s*+(?:dollars|euros|pounds|yuan|rupees|million|billion|trillion)\b",
    re.IGNORECASE)
_DIGITS = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d++)(?:\.(\d++))?(?![\w])|(?<![\w.,])(\d++)(?=[^\W\d_])")

@dataclass(frozen=True)
class Token:
    text: str
    low: str
    start: int
    end: int
    gap: str  # the characters between the previous token and this one
    initial: bool  # opens a sentence, a quote or a line

    @property
    def cap(self) -> bool:
        return self.text[:1].isupper()

    @property
    def acronym(self) -> bool:
        return len(self.text) >= 2 and self.text.isupper() and self.text.isalpha()


def normalise(text: str) -> str:
    return _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), text.replace("’", "'"))


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    prev_end = 0
    for m in _TOKEN.finditer(text):
        gap = text[prev_end : m.start()]
        initial = not out or bool(re.search(r"[.!?:;\"“(\n]|[—–]\s", gap))
        out.append(Token(m.group(0), m.group(0).lower(), m.start(), m.end(), gap, initial))
        prev_end = m.end()
    return out


# ------------------------------------------------------------------------------------------ numbers
@dataclass(frozen=True)
class Quantity:
    value: str  # canonical decimal, "10000", "3.5"
    unit: str | None  # canonical unit ("m", "h", "pct", "usd") or None

    def __str__(self) -> str:
        return self.value + (f" {self.unit}" if self.unit else "")


def _canon(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _unit_after(tokens: list[Token], i: int) -> tuple[str | None, int]:
    """The unit and scale following token i (skipping fillers like "metric"): ("t", 1) for "metric tons"."""
    scale, j = 1, i + 1
    if j < len(tokens) and (tokens[j].low in SCALES or tokens[j].low in SCALE_SUFFIXES):
        scale = SCALES.get(tokens[j].low) or SCALE_SUFFIXES[tokens[j].low]
        j += 1
    for _ in range(3):
        if j >= len(tokens) or "\n" in tokens[j].gap:
            break
        if tokens[j].low in UNITS and not (tokens[j].low in ("in", "s", "t", "l", "g", "m") and tokens[j].gap):
            return UNITS[tokens[j].low], scale
        if tokens[j].low not in UNIT_FILLERS:
            break
        j += 1
    return None, scale


def _currency_before(tokens: list[Token], i: int) -> str | None:
    if i > 0 and tokens[i - 1].text in "$€£" and not tokens[i].gap.strip():
        return UNITS[tokens[i - 1].text]
    return None


def _word_number(words: list[str]) -> int:
    total, current = 0, 0
    for w in words:
        if w in UNITS_0_19:
            current += UNITS_0_19[w]
        elif w in TENS:
            current += TENS[w]
        elif w == HUNDRED:
            current = max(current, 1) * 100
        elif w in SCALES:
            total += max(current, 1) * SCALES[w]
            current = 0
    return total + current


_MAX_RUN = 12  # "two hundred and sixty-five thousand four hundred" is 9; longer runs are not numbers


def _word_runs(tokens: list[Token]) -> list[tuple[int, int]]:
    """Index ranges [i, j) of number-word runs ("two hundred and sixty thousand", "twenty-five")."""
    runs, i = [], 0
    while i < len(tokens):
        if tokens[i].low not in NUMBER_WORDS or tokens[i].low in SCALES:
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and j - i < _MAX_RUN and (
            tokens[j].low in NUMBER_WORDS
            or (tokens[j].low == "and" and j + 1 < len(tokens) and tokens[j + 1].low in NUMBER_WORDS)
        ):
            j += 1
        runs.append((i, j))
        i = j
    return runs


def quantities(text: str, tokens: list[Token]) -> tuple[set[Quantity], set[str]]:
    """Numbers (with units) and clock times in text; times are "h:mm" on a 12-hour dial."""
    times: set[str] = set()
    masked = list(text)
    for m in _CLOCK.finditer(text):
        hour, minute, minute_dot, half = m.groups()
        if minute is None and minute_dot is None and half is None:
            continue  # a bare number, not a time
        h, mins = int(hour), int(minute or minute_dot or 0)
        if h <= 24 and mins < 60:
            times.add(f"{h % 12}:{mins:02d}")
            masked[m.start() : m.end()] = " " * (m.end() - m.start())
    plain = "".join(masked)
    found: set[Quantity] = set()
    by_start = {t.start: k for k, t in enumerate(tokens)}
    by_end = {t.end: k for k, t in enumerate(tokens)}
    for m in _DIGITS.finditer(plain):
        whole = (m.group(1) or m.group(3)).replace(",", "")
        try:
            value = Decimal(f"{whole}.{m.group(2)}" if m.group(2) else whole)
        except InvalidOperation:
            continue
        first, last = by_start.get(m.start()), by_end.get(m.end())
        unit, scale = _unit_after(tokens, last) if last is not None else (None, 1)
        unit = unit or (_currency_before(tokens, first) if first is not None else None)
        found.add(Quantity(_canon(value * scale), unit))
    for i, j in _word_runs(tokens):
        run = [t.low for t in tokens[i:j] if t.low != "and"]
        if len(run) == 1 and run[0] in WEAK_NUMBER_WORDS:
            continue
        unit, scale = _unit_after(tokens, j - 1)
        found.add(Quantity(str(_word_number(run) * scale), unit))
    return found, times
