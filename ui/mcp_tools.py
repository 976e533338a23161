"""MCP tools over the same Assistant and library: ask, search, list_documents (streamable HTTP at /mcp).

Built on the `mcp` SDK's MCPServer: typed arguments become the tools' input schemas, the pydantic return
types their output schemas, so a host gets structured content it can check. A bad argument or one of our
errors comes back as a tool error (is_error) whose text says how to fix it; the server keeps serving.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from core.errors import RagError
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.export import citation_records

INSTRUCTIONS = (
    "Answers questions about the indexed documents with numbered [n] citations that point at exact "
    "passages. Use `ask` for an answer, `search` for raw passages, `list_documents` to see what is indexed. "
    "Documents live in named collections: pass `collection` (one name, or several as 'A,B') to ask within "
    "them; list_documents shows the available ones. "
    "An answer with abstained=true means the documents do not cover the question."
)


class CitationOut(BaseModel):
    index: int = Field(description="the n of the [n] marker in the answer")
    chunk_id: str
    doc_id: str
    title: str
    start: int = Field(description="character span of the cited passage in the document")
    end: int
    page: int | None = Field(None, description="PDF page where the quote starts (1-based); null: no pages")
    page_end: int | None = Field(None, description="PDF page where the quote ends")
    quote: str = Field(description="the sentence (or passage) that supports the claim")


class AskResult(BaseModel):
    answer: str = Field(description="the verified answer text with [n] markers")
    citations: list[CitationOut]
    abstained: bool = Field(description="true when the documents do not cover the question")
    notice: str = ""


class PassageOut(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    score: float
    page: int | None = Field(None, description="PDF page where the passage starts (1-based); null: no pages")


class SearchResult(BaseModel):
    query: str
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    kind: str
    chunks: int
    collection: str = "default"


class DocumentList(BaseModel):
    collection: str = Field(description="the collections listed, comma-separated")
    documents: list[DocumentOut]
    available: list[str] = Field(default_factory=list, description="every collection a tool call may name")


COLLECTION = Field(default=None, description="collection(s) to use, e.g. 'default' or 'hr,legal' (default: the "
                   "server's; list_documents shows the available ones)")


def _checked(assistant: Assistant, collection: str | None) -> tuple[str, ...]:
    try:
        return assistant.resolve(collection)
    except RagError as e:
        raise ToolError(str(e)) from e


def build_mcp(assistant: Assistant, library: Indexer) -> MCPServer:
    """The MCP server object; ui.server mounts its streamable HTTP app beside the page and the API."""
    mcp = MCPServer("cited-answers", instructions=INSTRUCTIONS)

    @mcp.tool(description="Answer a question from the documents, with citations to exact passages.")
    async def ask(question: Annotated[str, Field(min_length=1, description="the question")],
                  collection: Annotated[str | None, COLLECTION] = None) -> AskResult:
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        try:
            answer = await anyio.to_thread.run_sync(lambda: assistant.ask(question, collections=names))
        except RagError as e:
            raise ToolError(str(e)) from e
        cites = [CitationOut(**{k: v for k, v in r.items() if k in CitationOut.model_fields})
                 for r in citation_records(answer)]
        return AskResult(answer=answer.text, citations=cites, abstained=answer.abstained, notice=answer.notice)

    @mcp.tool(description="Search the documents: the best-matching passages with their character spans.")
    async def search(query: Annotated[str, Field(min_length=1)],
                     k: Annotated[int, Field(ge=1, le=50, description="how many passages")] = 5,
                     collection: Annotated[str | None, COLLECTION] = None) -> SearchResult:
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        try:
            await anyio.to_thread.run_sync(assistant.open)
            found = await anyio.to_thread.run_sync(assistant.retriever.search, query, k, names)
        except RagError as e:
            raise ToolError(str(e)) from e
        return SearchResult(query=query, passages=[
            PassageOut(rank=p.rank, chunk_id=p.chunk.chunk_id, doc_id=p.chunk.doc_id, title=p.chunk.title,
                       start=p.chunk.start, end=p.chunk.end, text=p.chunk.text, score=p.score,
                       page=p.chunk.page)
            for p in found.passages])

    @mcp.tool(description="List the indexed documents.")
    async def list_documents(collection: Annotated[str | None, COLLECTION] = None) -> DocumentList:
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        docs = await anyio.to_thread.run_sync(library.documents)
        return DocumentList(collection=",".join(names), available=assistant.collections(), documents=[
            DocumentOut(doc_id=d.doc_id, title=d.title, kind=d.kind, chunks=d.n_chunks, collection=d.collection)
            for d in docs if d.collection in names])

    return mcp
