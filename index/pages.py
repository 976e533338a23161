"""Pages: where each page of a paged document (PDF) starts in its cleaned text, and which page a span is on.

A document's page starts are a list of character offsets into the cleaned text, one per page, in page
order (document.meta["page_starts"]; page n starts at starts[n-1]). A page without text starts where the
next one does, so an offset belongs to the last page whose start is at or before it. Documents that have
no pages (text, Markdown, HTML, DOCX) have no list, and every page here is None.

A chunk carries its first page and the offsets inside it where a later page begins (Chunk.page,
Chunk.page_breaks), so a quote inside the chunk finds its own page without the document at hand.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence


def page_at(starts: Sequence[int] | None, offset: int) -> int | None:
    """The 1-based page holding character `offset`, or None for a document without pages."""
    if not starts:
        return None
    return max(1, bisect_right(starts, offset))


def chunk_pages(starts: Sequence[int] | None, start: int, end: int) -> dict:
    """The page fields of a chunk spanning [start, end): its first page and the later page starts inside it."""
    if not starts:
        return {}
    return {"page": page_at(starts, start), "page_breaks": tuple(s for s in starts if start < s < end)}


def to_metadata(page: int | None, breaks: Sequence[int]) -> dict:
    """The page fields as flat Chroma metadata (no lists there): {} for a document without pages."""
    if page is None:
        return {}
    return {"page": page, "page_breaks": ",".join(str(b) for b in breaks)}


def from_metadata(meta: dict) -> dict:
    """Chunk page fields back from Chroma metadata written by to_metadata ({} when it has none)."""
    if meta.get("page") is None:
        return {}
    raw = str(meta.get("page_breaks") or "")
    return {"page": int(meta["page"]), "page_breaks": tuple(int(b) for b in raw.split(",") if b)}


def page_label(first: int | None, last: int | None = None) -> str:
    """"p. 3", "pp. 3-4", or "" without a page: one wording for cards, the viewer, the CLI and exports."""
    if first is None:
        return ""
    if last is None or last <= first:
        return f"p. {first}"
    return f"pp. {first}\u2013{last}"
