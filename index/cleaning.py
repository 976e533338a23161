"""Clean: normalise Unicode and whitespace, and strip web boilerplate that is not part of the document.

Boilerplate rule (general, not by name): a trailing block that opens with a page-furniture heading
("Comments", "Popular posts from this blog", "Related articles", "Share this"...) and is followed only by
short headline-like lines is a sidebar/comments block, so it is cut with everything after it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_FURNITURE_HEADINGS = re.compile(
    r"^(\d+\s+)?(comments?|leave a (comment|reply)|post a comment|popular posts?( from this blog)?|"
    r"related (posts?|articles?|stories|reading)|recommended( for you)?|you may also like|read more|more from .{1,40}|"
    r"share (this|on).{0,30}|subscribe.{0,40}|newsletter|trending( now)?|latest (posts|news)|"
    r"most (read|popular)|tags?:?.{0,60}|categories|labels|about the author|advertisement|sponsored)\s*:?$",
    re.IGNORECASE,
)
_WS = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200c-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


# Every format character lies in planes 0, 1 and 14; scanning only those (a sixth of the code space) keeps
# the first clean of a process at ~0.3 s instead of ~2 s (tests/test_hidden_text.py checks the whole range).
CF_PLANES = (range(0x0, 0x20000), range(0xE0000, 0xF0000))


def format_char_codes(planes: tuple[range, ...] = CF_PLANES) -> list[int]:
    return [c for r in planes for c in r if unicodedata.category(chr(c)) == "Cf"]


@cache
def _format_chars() -> re.Pattern:
    """Every Unicode format character (category Cf): soft hyphen, zero-width and bidi marks, word joiner,
    tag characters U+E0000-E007F... Invisible to a reader, so they can carry text only a model sees."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in format_char_codes()) + "]")


def strip_format_chars(text: str) -> tuple[str, int]:
    """text without format characters (Unicode category Cf), and how many were removed."""
    return _format_chars().subn("", text)


def normalize(text: str) -> str:
    """NFC, unified newlines, no control/bidi characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CTRL.sub("", text)
    lines = [_WS.sub(" ", line).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def strip_boilerplate(text: str) -> str:
    """Cut a trailing comments/sidebar block. Only cuts when what follows the heading is headline-like."""
    paras = text.split("\n\n")
    n = len(paras)
    # furniture_from[i]: every line of paras[i:] is furniture. One backward pass (rescanning the rest for
    # each heading was quadratic in the number of paragraphs).
    furniture_from = [True] * (n + 1)
    for i in range(n - 1, -1, -1):
        lines = [ln for ln in paras[i].split("\n") if ln.strip()]
        furniture_from[i] = furniture_from[i + 1] and all(_is_furniture_line(ln) for ln in lines)
    for i in range(max(1, n // 2), n):  # only the last part can be trailing furniture; never cut most of it
        first_line = paras[i].strip().split("\n")[0]
        if _is_heading(first_line) and furniture_from[i]:
            return "\n\n".join(paras[:i]).rstrip()
    return text


_MAX_HEADING = 200  # a furniture heading is short; longer lines are never matched against the pattern


def _is_heading(line: str) -> bool:
    return len(line) <= _MAX_HEADING and _FURNITURE_HEADINGS.match(line) is not None


def _is_furniture_line(line: str) -> bool:
    line = line.strip()
    if _is_heading(line):
        return True
    # headline-like: short, and not a run of sentences
    return len(line) <= 160 and line.count(". ") == 0


def clean(text: str) -> str:
    return clean_with_counts(text)[0]


def clean_with_counts(text: str) -> tuple[str, dict[str, int]]:
    """clean(), plus what was removed that a reader could not see (kept in the document's metadata)."""
    text, invisible = strip_format_chars(text)
    return strip_boilerplate(normalize(text)), {"invisible_chars_removed": invisible}


def clean_pages(pages: list[str]) -> tuple[str, dict[str, int], list[int]]:
    """clean() of the pages joined by blank lines, plus where each page starts in the cleaned text.

    Each page is normalised on its own (normalisation never crosses a blank line, so this is the same
    text as cleaning the joined pages) and its offset is recorded; a page with no text starts where the
    next one does. A page start past a cut-off trailing boilerplate block is clamped to the text's end.
    """
    parts: list[str] = []
    starts: list[int] = []
    invisible, pos = 0, 0
    for page in pages:
        text, n = strip_format_chars(page)
        invisible += n
        text = normalize(text)
        starts.append(pos)
        if text:
            parts.append(text)
            pos += len(text) + 2
    text = strip_boilerplate("\n\n".join(parts))
    return text, {"invisible_chars_removed": invisible}, [min(s, len(text)) for s in starts]
