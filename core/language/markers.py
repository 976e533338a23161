"""Citation markers: "[1]", "[1, 2]", "[Source 3]", "[1-3]" in generated text, parsed and placed.

A generator writes markers in many shapes; the verifier (rag/verify/citations.py) parses them and writes
the canonical "[n]" (VERIFIED_MARKER), the one pattern every reader of a verified answer uses (eval, UI).
Pure functions, linear patterns (tests/test_regex_audit.py).
"""

from __future__ import annotations

import re

_LABEL = r"(?:sources?|passages?|docs?|documents?|refs?|references?|citations?)"
# Atomic groups and possessive quantifiers: the spaces between a separator and a number can be split only
# one way, so an unclosed "[1, 1, 1, ..." fails in linear time (it used to try 2^n splits).
_NUM = rf"(?>(?:{_LABEL}\s*+)?#?\s*+\d++)"
_SEP = r"(?>\s*+(?:,|;|&|and|-|–|to)\s*+)"
MARKER = re.compile(rf"\[\s*+{_NUM}(?:{_SEP}{_NUM})*+\s*+\]", re.IGNORECASE)
# The canonical "[n]" that verify() writes: the one pattern every reader of a verified answer uses.
VERIFIED_MARKER = re.compile(r"\[(\d+)\]")
_DIGITS = re.compile(r"\d+")
_RANGE = re.compile(r"(?<!\d)(\d++)\s*+(?:-|–|to)\s*+(?:" + _LABEL + r"\s*+)?#?\s*+(\d++)", re.IGNORECASE)
_MAX_MARKER = 99  # "[2024]" is a year, not a marker


def marker_numbers(marker: str) -> list[int]:
    """The passage numbers in one marker: "[1, 2]" -> [1, 2], "[Source 3]" -> [3], "[1-3]" -> [1, 2, 3]."""
    nums: list[int] = []
    rest = marker
    for m in _RANGE.finditer(marker):
        a, b = int(m.group(1)), int(m.group(2))
        if 0 < b - a <= 10:
            nums.extend(range(a, b + 1))
            rest = rest.replace(m.group(0), " ")
    nums.extend(int(d) for d in _DIGITS.findall(rest))
    return nums


def parse_markers(text: str) -> tuple[str, list[int]]:
    """Strip every marker from text; return the clean text and the numbers in order, deduplicated."""
    found: list[int] = []

    def take(m: re.Match) -> str:
        nums = marker_numbers(m.group(0))
        if any(n > _MAX_MARKER for n in nums):
            return m.group(0)
        found.extend(nums)
        return ""

    clean = MARKER.sub(take, text)
    clean = re.sub(r"(?<!\s)\s++([.,;:!?])", r"\1", clean)
    clean = re.sub(r"\s{2,}", " ", clean).strip()
    return clean, list(dict.fromkeys(found))


TRAILING_STOP = re.compile(r"(?<![.!?])[.!?]++$")  # from a run's start only: linear on "!!!...x"


def place_markers(sentence: str, markers: tuple[int, ...]) -> str:
    if not markers:
        return sentence
    tag = "".join(f"[{n}]" for n in markers)
    m = TRAILING_STOP.search(sentence)
    if m:  # "... 1961 [2]." reads better than "... 1961. [2]"; quotes keep the marker outside
        return f"{sentence[: m.start()].rstrip()} {tag}{m.group(0)}"
    return f"{sentence} {tag}"
