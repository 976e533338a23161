"""What every plan receives and the one method it implements.

A plan answers a whole kind of question (a summary, a list, the library's records) from the documents
in scope, with every sentence quoted from a document and cited. Plans see the library only through
`Library` below, and embeddings only through the callables they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.types import Answer, Chunk, Document, Turn


class Library(Protocol):
    """The index as plans read it (index.pipeline.Indexer satisfies it)."""

    def documents(self) -> list[Any]: ...  # DocInfo: doc_id, title, source, kind, n_chunks, collection
    def document(self, doc_id: str) -> Document: ...
    def chunks_of(self, doc_id: str) -> list[Chunk]: ...


@dataclass(frozen=True)
class PlanRequest:
    question: str
    kind: str  # rag.plan.kinds.KINDS
    history: list[Turn] = field(default_factory=list)
    collections: tuple[str, ...] | None = None  # the chat's collection scope (None: all)
    doc_ids: tuple[str, ...] = ()  # documents selected in the chat, if any
    # the fact path for a part question (one side of a comparison): retrieve, gate, generate, verify
    fact: Callable[[str], Answer] | None = None


class Plan(Protocol):
    kind: str

    def answer(self, request: PlanRequest) -> Answer:
        """A cited answer of this plan's kind, or an abstention that says what the documents lack."""
        ...
