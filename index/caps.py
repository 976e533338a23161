"""Per-document caps, checked before the work they bound (issue 24 #12)."""

from __future__ import annotations

from core.errors import IngestError


def check_chars(n: int, max_chars: int, name: str) -> None:
    """Refuse a document whose extracted text is over the cap, before it is cleaned, chunked or embedded."""
    if n > max_chars:
        raise IngestError(name, f"has more than {max_chars:,} characters of text, over the per-document limit "
                          "(setting max_document_chars)",
                          "Split it into smaller files, or raise RAG_MAX_DOCUMENT_CHARS")
