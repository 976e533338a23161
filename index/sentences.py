"""Sentence boundaries as character spans, so every sentence stays exactly locatable in its text.

Rule-based (no model is available offline): a sentence ends at . ! or ? (optionally followed by closing
quotes/brackets) and whitespace, unless the word before the stop is a known abbreviation, an initial
("J. Smith") or a number-with-decimal. Paragraph breaks (blank lines) always end a sentence, and so does a single newline before a line that
does not continue in lowercase.

A document's title and a news dateline are fields, not sentences: `body_sentences` leaves out the title
line and starts the sentence a dateline opens after it ("PORT ALDER - After three years ..." is quoted from
"After"), with spans that still slice the text exactly. This module owns the dateline pattern.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from core.language.authors import author_line

_ABBREV = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "inc", "ltd", "co", "corp",
    "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep", "pres", "rev", "no", "vol", "fig", "e.g",
    "i.e", "u.s", "u.k", "u.n", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "approx", "dept", "est", "al",
}
# Only at the start of a run of stops, and without backtracking into it: "?" * n + "x" used to retry the
# whole run from every position (quadratic).
_END = re.compile(r"(?<![.!?])[.!?]++[\"'”’)\]]*+(?=\s)")
_PARA = re.compile(r"\n\s*\n")
# A dateline opens a news story's first paragraph: "PORT ALDER - ", "WASHINGTON — ", "NEW YORK (AP) — ",
# "SEOUL, June 20 (Reuters) - ". A place in capitals, an optional ", date", an optional "(agency)", then a
# dash with blanks around it (an em dash may touch the text), before a capital or an opening quote. Each
# part is one bounded character run (no nested quantifiers): linear in the text, at most ~130 characters.
DATELINE = re.compile(r"[A-Z][A-Z][A-Z.'’ ]{0,40}(?:, [A-Za-z0-9., ]{1,40})?(?: \([A-Za-z .]{1,30}\))?"
                      r"(?: [-–—]{1,2} |— ?)(?=[A-Z\"“‘'])")
_DATELINE_SCAN = 160  # a dateline is at most this long; never run the pattern further into a sentence


def _is_boundary(text: str, stop_at: int) -> bool:
    """stop_at: index of the first stop character. False for abbreviations and initials."""
    if text[stop_at] != ".":
        return True
    # the word before the stop, looked back at most 64 characters (a regex "[\w.]+$" retried every start)
    i, lo = stop_at, max(0, stop_at - 64)
    while i > lo and (text[i - 1].isalnum() or text[i - 1] in "._"):
        i -= 1
    if i == stop_at:
        return True
    word = text[i:stop_at].lower().rstrip(".")
    if word in _ABBREV:
        return False
    # single capital initial ("J. Smith", "U.S.") but not a sentence ending in "I."
    return not (len(word) == 1 and word.isalpha() and word != "i")


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a block at single newlines that start a new unit (next line not lowercase).

    Hard-wrapped prose continues in lowercase and stays one sentence; a list item, a headline or an
    injected line glued under a real sentence ("SKULL-9\n<|im_end|>\nHeavy lorries...") does not, nor
    a post's author line over a reply that starts in lowercase ("Reply from guppy_gus:\nammonia was 1 ppm.").
    """
    parts, s = [], start
    i = text.find("\n", start, end)
    while i != -1:
        j = i + 1
        while j < end and text[j] in " \t":
            j += 1
        if j < end and (not text[j].islower() or author_line(text[s:i]) is not None):
            parts.append((s, i))
            s = i + 1
        i = text.find("\n", i + 1, end)
    parts.append((s, end))
    return parts


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans (s, e) of the sentences of text[start:end], whitespace-trimmed; text[s:e] is the sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    blocks = []
    for m in _PARA.finditer(text, start, end):
        blocks.append((pos, m.start()))
        pos = m.end()
    blocks.append((pos, end))
    blocks = [part for b0, b1 in blocks for part in _split_lines(text, b0, b1)]
    for b0, b1 in blocks:
        s = b0
        for m in _END.finditer(text, b0, b1):
            if _is_boundary(text, m.start()):
                spans.append((s, m.end()))
                s = m.end()
        spans.append((s, b1))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


# possessive and only from the start of a blank run: "\s*(?=—)" retried a long run from every position
_CLAUSE = re.compile(r"(?<=[,;:—–])\s*+|(?<!\s)\s*+(?=[—–])")


def clause_views(sentence: str, min_words: int = 6) -> list[str]:
    """Clauses of a long sentence, merged to >= min_words words each.

    MiniLM's embedding of a long quote drowns its attribution ("..., said Liu Dongshu, an assistant
    professor at ..."), so a question about who said it, or a claim about one clause, is matched against
    the clauses too.
    """
    parts = [p.strip().strip("\"“”'‘’ ") for p in _CLAUSE.split(sentence)]
    parts = [p for p in parts if p]
    pieces: list[str] = []
    cur = ""
    for p in parts:
        cur = f"{cur} {p}".strip()
        if len(cur.split()) >= min_words:
            pieces.append(cur)
            cur = ""
    if cur:
        if pieces:
            pieces[-1] = f"{pieces[-1]} {cur}"
        else:
            pieces.append(cur)
    return pieces if len(pieces) > 1 else []


def dateline_end(text: str, s: int, e: int) -> int:
    """Where the sentence text[s:e] starts after a dateline ("PORT ALDER - "), else s. Only a sentence that
    opens a line can carry one, and something must follow it."""
    if s > 0 and text[s - 1] != "\n":
        return s
    m = DATELINE.match(text, s, min(e, s + _DATELINE_SCAN))
    return m.end() if m and m.end() < e else s


def _title_key(text: str) -> str:
    return " ".join(text.replace("#", " ").split()).rstrip(".:").casefold()


def is_title(sentence: str, title: str) -> bool:
    """Whether a sentence is the document's title line: a field of the document, never a body sentence."""
    return bool(title.strip()) and len(sentence) <= 4 * len(title) and _title_key(sentence) == _title_key(title)


def body_sentences(text: str, title: str = "", start: int = 0, end: int | None = None,
                   skip: Collection[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """split_sentences without the title line (and the spans in `skip`), each sentence that a dateline opens
    starting after it; every span still slices `text` exactly."""
    return [(dateline_end(text, s, e), e) for s, e in split_sentences(text, start, end)
            if (s, e) not in skip and not is_title(text[s:e], title)]
