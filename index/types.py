"""Dataclasses that cross the index/rag boundary. No LangChain or Chroma objects leave a stage."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A cleaned document: the text every chunk span points into."""

    doc_id: str
    title: str
    source: str  # path (or upload name) it was loaded from
    text: str  # cleaned text; Chunk.start/end index into this
    content_hash: str  # sha256 of `text`
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document. Invariant: document.text[start:end] == text."""

    chunk_id: str
    doc_id: str
    title: str
    ordinal: int
    start: int
    end: int
    text: str
