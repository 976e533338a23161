"""Is an LLM's verified draft good enough to show? The checks that decide "verify, or replace".

An LLM answer is shown only when every sentence is supported by a source (rag.verify.citations), the
wording does not loop, it states something from the sources beyond the question's own words, and it is
not a bare pointer ("Edward Howell is quoted in [1]"). Otherwise the assistant shows the extractive
answer, which quotes the sources and so cannot be worse than them, and keeps the draft for evaluation.
Small models fail in exactly these ways; each check names its reason so the notice and the eval can say why.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from core.language.terms import term_set, words
from core.types import Sentence

# "X is quoted in [1]", "This is mentioned in the sources": a pointer to the answer, not the answer.
_POINTER = re.compile(
    r"\b(?:is|are|was|were|gets?|got)\s+(?:also\s+)?(?:quoted|mentioned|cited|discussed|referenced|described|"
    r"named|covered|talked about|found)\s*+(?:in|by|at)?\s*+(?:the\s++)?(?:sources?|passages?|documents?|articles?|text)?"
    r"\s*+\.?\s*+$",
    re.IGNORECASE,
)


def repeats(text: str, bigram_limit: int = 3, fourgram_limit: int = 2) -> bool:
    """A loop: some word pair three times, or some four-word run twice ("Sun Yun Sun Yun Sun")."""
    toks = words(text)
    pairs = Counter(pairwise(toks))
    fours = Counter(zip(toks, toks[1:], toks[2:], toks[3:], strict=False))
    return (max(pairs.values(), default=0) >= bigram_limit
            or max(fours.values(), default=0) >= fourgram_limit)


def draft_problem(sentences: list[Sentence], text: str, question: str, evidence: str, *,
                  reference: str = "", wants: re.Pattern | None = None, best: str = "") -> str:
    """Why the verified draft must not be shown (a short reason), or "" when it may be.

    `reference` is the extractive answer and `wants` the pattern the question's answer must match (a
    number, a date, a time): a draft that drops a number or time the extractive answer gives ("Five years
    ago, Xi ..." -> "Xi ... in 14 years") lost the fact asked for. `best` is the evidence sentence the
    ranker scored highest: a draft that shares (almost) none of its new words answered from another sentence
    ("Liu likened ..." for a question answered by "...likened to a new axis of evil").
    """
    if not sentences:
        return "it states nothing"
    if repeats(text):
        return "it repeats itself"
    if all(_POINTER.search(s.text) for s in sentences):
        return "it says where the answer is quoted, not what it is"
    unsupported = [s.text for s in sentences if not s.supported]
    if unsupported:
        return f"{len(unsupported)} of {len(sentences)} sentences are not supported by the sources"
    if not (term_set(text) - term_set(question)) & term_set(evidence):
        return "it adds nothing from the sources to the question"
    if best:
        new = term_set(text) - term_set(question)
        if len(new & term_set(best)) < min(2, len(new)):
            return "it does not use the sentence that best answers the question"
    if wants is not None and reference:
        # whole words only, and only words and years: the extractive answer often holds more figures than
        # the one asked for, but a dropped "ago", month or year is the asked-for fact going missing
        lost = _type_words(wants, reference) - _type_words(wants, text)
        if lost:
            return f"it leaves out {', '.join(sorted(lost)[:3])}, which the sources give for this question"
    return ""


def uncovered(draft: str, question: str, reference: list[str]) -> list[int]:
    """The extractive answer's sentences a shown draft does not carry nearly word for word: those with more
    than one new word (beyond the question's; one in ten for long sentences) missing from the draft.

    Without an entailment model a reworded fact cannot be told from a lost one, so only a near-copy counts
    as covered. Measured on Qwen 0.5B: a draft that copied the first of two sentences dropped the vow asked
    for (fu-xi-promise); rewordings dropped "enable" and "China's only formal military alliance"
    (article-hard dev cases hard-beijing-fear, hard-other-alliances). Those sentences are appended, quoted.
    """
    have, asked = term_set(draft), term_set(question)
    out = []
    for i, sentence in enumerate(reference):
        new = term_set(sentence) - asked
        if len(new - have) > max(1, len(new) // 10):
            out.append(i)
    return out


def _word_before(text: str, end: int) -> str:
    r"""The run of word characters, commas and dots ending at `end`: a backward scan (a `[\w,.]*$` search
    from every start would be quadratic on a long run)."""
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_,."):
        start -= 1
    return text[start:end]


def _type_words(wants: re.Pattern, text: str) -> set[str]:
    out = set()
    for m in wants.finditer(text):
        word = _word_before(text, m.start()) + re.match(r"[\w,.]*+", text[m.start():]).group(0)
        word = word.strip(",.").lower()
        if word.isalpha() or re.fullmatch(r"1\d{3}|20\d{2}", word):
            out.add(word)
    return out
