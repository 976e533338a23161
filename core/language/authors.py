"""Who wrote a post or a review: its author line, a field of the document rather than a sentence of its body.

"Posted by guppy_gus:", "Reply from DocRunsFar (physio, not your physio):", '★★☆☆☆ "Display died after 7
months" - by Hannah_P', '... - by Tomasz K., verified purchase'. The one place these lines are read: the
sentence splitter (index/sentences.py) keeps an author line a sentence of its own, and follow-ups
(rag/generate/followups.py) read who said a line of a forum thread or a review from it. Pure functions;
every regex is linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.language.terms import STOPWORDS, words

_AUTHOR_LEADS = ("posted by ", "reply from ", "comment from ", "answer from ", "answered by ", "written by ")
_REVIEW_BY = re.compile(r"\s[-–—] ?by ([^,\n]{1,60})(?:,[^\n]{0,40})?$")
_END_STOP = re.compile(r"[.!?][\"”']*\s[A-Z]")  # a sentence ends before the byline: not a byline
_NAME_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # "DialedIn_Dave": Dialed, In, Dave
_AUTHOR_LINE_MAX = 200


@dataclass(frozen=True)
class Author:
    """A post's or review's author, as its author line gives it."""

    name: str  # "DocRunsFar", "Fell_Walker_Gwen", "Tomasz K."
    role: str = ""  # what the line says they are: "physio, not your physio"

    def called(self) -> frozenset[str]:
        """Lower-case words a reader may call the author by: the whole handle, each part of it ("Gwen" for
        Fell_Walker_Gwen, "Dave" for DialedIn_Dave) and the content words of the role ("the physio")."""
        parts = {p.lower() for p in _NAME_PART.findall(self.name)} | set(words(self.role))
        return frozenset(w for w in {*words(self.name), *parts} if len(w) > 1 and w not in STOPWORDS)


def author_line(sentence: str) -> Author | None:
    """The author a line names when it is a post's or review's author line; None for any other sentence."""
    line = sentence.strip()
    if not line or len(line) > _AUTHOR_LINE_MAX or "\n" in line:
        return None
    low = line.lower()
    lead = next((p for p in _AUTHOR_LEADS if low.startswith(p)), "")
    if lead and line.endswith(":"):
        name, _, role = line[len(lead):-1].partition("(")
        return Author(name.strip(), role.rstrip(") ").strip()) if name.strip() else None
    m = _REVIEW_BY.search(line)
    if m and line[0] in "★☆\"“'" and not _END_STOP.search(line[:m.start()]):
        return Author(m.group(1).strip())
    return None


def authors_of(texts: tuple[str, ...] | list[str]) -> list[Author | None]:
    """Per sentence of a passage, the author of the post it belongs to: the last author line at or before it
    (None before the first one, and for a passage with none)."""
    out: list[Author | None] = []
    current: Author | None = None
    for t in texts:
        current = author_line(t) or current
        out.append(current)
    return out
