"""One file to one cleaned Document: load -> clean, with the id and display source derived from its name.

Its own module because both sides run it: the indexer in-process (index.pipeline) and the capped worker
process for uploads (index.isolation). Living in pipeline.py it made isolation and pipeline import each
other.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from core.errors import IngestError
from core.settings import PROJECT_ROOT
from core.types import Document
from index.cleaning import clean_pages, clean_with_counts
from index.loading import DEFAULT_MAX_CHARS, load_file


def doc_id_for(name: str) -> str:
    """A stable, readable id from a file name: the same name re-added replaces the document."""
    base = Path(name).name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "document"
    return slug[:100]


def _display_path(path: Path) -> str:
    """What the viewer shows as a document's source: project-relative (data/corpus/...) or the bare file
    name, never an absolute server path."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return path.name


def prepare_document(path: Path, name: str, max_file_bytes: int, max_chars: int | None = None) -> Document:
    """Load and clean one file into a Document (raises IngestError naming the file, or its text over max_chars)."""
    loaded = load_file(path, max_bytes=max_file_bytes, display_name=name or str(path),
                       max_chars=max_chars or DEFAULT_MAX_CHARS)
    if loaded.pages:  # a paged format: record where each page starts in the cleaned text (index.pages)
        text, counts, starts = clean_pages(list(loaded.pages))
        counts = {**counts, "page_starts": starts}
    else:
        text, counts = clean_with_counts(loaded.text)
    counts = {**loaded.meta, **counts}
    if not text:
        raise IngestError(loaded.path, "no text left after cleaning", "Check the file has readable content")
    source = name or _display_path(path)
    return Document(doc_id=doc_id_for(name or path.name), title=loaded.title or Path(source).stem,
                    source=source, text=text,
                    content_hash=hashlib.sha256(text.encode()).hexdigest(), meta={"kind": loaded.kind, **counts})
