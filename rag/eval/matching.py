"""Text matching for scoring: the one normalisation that answers, key points and evidence are compared in.

"10,000" equals "10000", quotes and dashes are unified and articles dropped, so a case's phrasing need not
match the document's typography.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable

from core.language.markers import VERIFIED_MARKER
from core.language.terms import STOPWORDS

# A citing sentence is judged supported by a passage when this share of its content words occur in it.
SUPPORT_OVERLAP = 0.6

_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})
# a thousands separator only: "10,000" == "10000", but "1.6 kg" must not equal "16 kg"
_DIGIT_SEP = re.compile(r"(?<=\d)[,.](?=\d{3}(?!\d))")
_PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Unicode NFKC, lowercase, quotes unified, thousands separators dropped ("10,000" == "10000"),
    other punctuation to spaces, articles removed, whitespace collapsed."""
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    t = _DIGIT_SEP.sub("", t)
    t = _PUNCT.sub(" ", t)
    t = _ARTICLES.sub(" ", t)
    return " ".join(t.split())


def strip_markers(text: str) -> str:
    return VERIFIED_MARKER.sub("", text)


def contains(haystack: str, needle: str) -> bool:
    """Normalized needle occurs in normalized haystack on word boundaries."""
    n = normalize(needle)
    return bool(n) and f" {n} " in f" {normalize(haystack)} "


def contains_any(haystack: str, needles: Iterable[str]) -> bool:
    h = f" {normalize(haystack)} "
    return any((n := normalize(x)) and f" {n} " in h for x in needles)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 on normalized tokens."""
    p, g = normalize(prediction).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def lexical_support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words that occur in the passage."""
    words = [w for w in normalize(strip_markers(sentence)).split() if w not in STOPWORDS]
    if not words:
        return 0.0
    have = set(normalize(passage).split())
    return sum(w in have for w in words) / len(words)
