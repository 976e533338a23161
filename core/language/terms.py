"""Lexical signals shared by retrieval, rewriting, extraction, citation checks and abstention.

A deliberately small analyser: lower-cased word tokens, English stopwords and question words removed,
and a light plural/possessive folding so "containers" matches "container" and "China's" matches "China".
It is not BM25's tokenizer; it only has to agree with itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)


def wordset(text: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated word list (keeps long lists readable)."""
    return frozenset(text.split())


STOPWORDS = wordset(
    """
    a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could couldn did didn do does doesn doing don down during each
    either else ever few for from further get got had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just let ll me might more most much must
    mustn my myself neither no nor not now of off on once only or other ought our ours ourselves out over
    own re s same shall shan she should shouldn so some such t than that the their theirs them themselves
    then there these they this those through to too under until up upon us ve very was wasn we were weren
    what when where whether which while who whom whose why will with won would wouldn yet you your yours
    yourself yourselves tell describe explain according article text source sources passage document
    please give say says kind thing things way one ones many
    """
)


_SUFFIXES = (
    ("ies", "y"), ("ied", "y"), ("ation", "ate"), ("ions", ""), ("ion", ""), ("ings", ""), ("ing", ""),
    ("ed", ""), ("s", ""),
)


def fold(word: str) -> str:
    """Light suffix stripping so "reaction"/"reacted"/"react" and "treaties"/"treaty" meet.

    Cruder than Porter but predictable; only consistency with itself matters here.
    """
    if len(word) <= 3 or word.isdigit():
        return word
    for suf, rep in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            if suf == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suf)] + rep
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def words(text: str) -> list[str]:
    """All word tokens, lower-cased, with possessive 's split off by the tokenizer itself."""
    return _WORD.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Folded content words in order (duplicates kept); stopwords, single letters and "s" dropped."""
    out = []
    for w in words(text):
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        out.append(fold(w))
    return out


@lru_cache(maxsize=8192)  # chunk texts recur across queries; folding their words was a hot spot (bench/)
def term_set(text: str) -> frozenset[str]:
    return frozenset(content_terms(text))


def coverage(needles: frozenset[str], haystack: frozenset[str]) -> float:
    """Share of `needles` found in `haystack` (0 when there are no needles)."""
    if not needles:
        return 0.0
    return len(needles & haystack) / len(needles)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
