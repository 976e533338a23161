"""Our retriever as a LangChain `BaseRetriever`, so it plugs into any LangChain chain.

    from rag.retrieve.langchain_retriever import RagRetriever
    lc = RagRetriever(retriever=assistant.retriever, k=4)
    docs = lc.invoke("How many containers?")          # or lc.invoke(q, k=2)

Documents carry our metadata (chunk id, document id, title, character span, fused/dense/BM25 scores),
so a chain's output can still be cited and highlighted. LangChain types stay at this edge.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from core.types import Passage


def to_document(p: Passage) -> Document:
    c = p.chunk
    meta: dict[str, Any] = {
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "title": c.title,
        "ordinal": c.ordinal,
        "start": c.start,
        "end": c.end,
        "score": p.score,
        "rank": p.rank,
    }
    if p.dense is not None:
        meta["dense"] = p.dense
    if p.lexical is not None:
        meta["bm25"] = p.lexical
    return Document(page_content=c.text, metadata=meta, id=c.chunk_id)


class RagRetriever(BaseRetriever):
    """LangChain adapter over any rag.retrieve.hybrid.Retriever (normally HybridRetriever)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any = Field(description="a rag.retrieve.hybrid.Retriever: has retrieve(query, k) -> list[Passage]")
    k: int = Field(default=5, ge=1, description="passages to return unless invoke() is given k")
    collections: tuple[str, ...] | None = Field(default=None, description="only these collections (None: all)")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return [to_document(p) for p in self.retriever.retrieve(query, k or self.k, self.collections)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        # retrieval is CPU-bound and synchronous (embedding, Chroma, bm25s): keep it off the event loop
        passages = await asyncio.to_thread(self.retriever.retrieve, query, k or self.k, self.collections)
        return [to_document(p) for p in passages]
