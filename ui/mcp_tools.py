"""MCP tools over the same Assistant and library: ask, search, list_documents (streamable HTTP at /mcp).

Built on the `mcp` SDK's MCPServer: typed arguments become the tools' input schemas, the pydantic return
types their output schemas, so a host gets structured content it can check. A bad argument or one of our
errors comes back as a tool error (is_error) whose text says how to fix it; the server keeps serving.

The same limits as /v1 (docs/security.md, "API & outputs"): a question or query over max_question_chars is
refused before any work, at most `limit` asks/searches run at once, a body over 1 MiB is refused while read,
and a rejected argument says which field and why, never pydantic's raw text with the value echoed.
Document text in every result goes through core.untrusted.inert.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette

from core.errors import RagError
from core.settings import Settings
from core.types import Answer
from core.untrusted import inert
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.export import citation_records
from ui.openai_api import MAX_BODY_BYTES

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
    abstain_reason: str = Field("", description="why the documents do not settle the question")
    plan: str = Field("fact", description="which plan answered: fact, overview, list, comparison, explanation, library")
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


class _Server(MCPServer):
    """MCPServer with /v1's body cap and argument errors that name the field and the fix."""

    def streamable_http_app(self, **kw: Any) -> Starlette:
        kw.setdefault("max_request_body_size", MAX_BODY_BYTES)
        return super().streamable_http_app(**kw)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as e:
            cause = e.__cause__
            if isinstance(e, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {argument_errors(cause)}") from cause


def argument_errors(e: ValidationError) -> str:
    """Which arguments were refused and why, without echoing their values (they can be huge or hostile)."""
    parts = [f"{'.'.join(str(x) for x in err['loc']) or 'arguments'}: {err['msg']}" for err in e.errors()[:5]]
    return "; ".join(parts) + " (fix these arguments and call again; the tool's input schema lists them)"


def _bounded(text: str, what: str, limit: int) -> str:
    if len(text) > limit:
        raise ToolError(f"the {what} is {len(text)} characters, over the limit of {limit} "
                        "(RAG_MAX_QUESTION_CHARS): shorten it")
    return text


def _checked(assistant: Assistant, collection: str | None) -> tuple[str, ...]:
    try:
        return assistant.resolve(collection)
    except RagError as e:
        raise ToolError(str(e)) from e


def ask_result(answer: Answer) -> AskResult:
    """An answer as MCP returns it: the /v1 citation records, with document text made inert."""
    cites = [CitationOut(**{k: v for k, v in r.items() if k in CitationOut.model_fields}
                         | {"quote": inert(r["quote"]), "title": inert(r["title"])})
             for r in citation_records(answer)]
    return AskResult(answer=answer.text, citations=cites, abstained=answer.abstained,
                     abstain_reason=answer.abstain_reason, plan=answer.plan, notice=answer.notice)


def build_mcp(assistant: Assistant, library: Indexer, settings: Settings | None = None,
              limit: int | None = None) -> MCPServer:
    """The MCP server object; ui.server mounts its streamable HTTP app beside the page and the API.
    `settings` default to the assistant's; `limit` (asks and searches at once) to the page's and /v1's."""
    from ui.app import chat_concurrency

    settings = settings or assistant.settings
    slots = asyncio.Semaphore(max(1, limit or chat_concurrency(settings, assistant.generator_name)))
    max_chars = settings.max_question_chars
    mcp = _Server("cited-answers", instructions=INSTRUCTIONS)

    @mcp.tool(description="Answer a question from the documents, with citations to exact passages.")
    async def ask(question: Annotated[str, Field(min_length=1, description="the question")],
                  collection: Annotated[str | None, COLLECTION] = None) -> AskResult:
        _bounded(question, "question", max_chars)
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        try:
            async with slots:
                answer = await anyio.to_thread.run_sync(lambda: assistant.ask(question, collections=names))
        except RagError as e:
            raise ToolError(str(e)) from e
        return ask_result(answer)

    @mcp.tool(description="Search the documents: the best-matching passages with their character spans.")
    async def search(query: Annotated[str, Field(min_length=1)],
                     k: Annotated[int, Field(ge=1, le=50, description="how many passages")] = 5,
                     collection: Annotated[str | None, COLLECTION] = None) -> SearchResult:
        _bounded(query, "query", max_chars)
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        try:
            async with slots:
                await anyio.to_thread.run_sync(assistant.open)
                found = await anyio.to_thread.run_sync(assistant.retriever.search, query, k, names)
        except RagError as e:
            raise ToolError(str(e)) from e
        return SearchResult(query=query, passages=[_passage(p) for p in found.passages])

    @mcp.tool(description="List the indexed documents.")
    async def list_documents(collection: Annotated[str | None, COLLECTION] = None) -> DocumentList:
        names = await anyio.to_thread.run_sync(_checked, assistant, collection)
        docs = await anyio.to_thread.run_sync(library.documents)
        return DocumentList(collection=",".join(names), available=assistant.collections(), documents=[
            DocumentOut(doc_id=d.doc_id, title=inert(d.title), kind=d.kind, chunks=d.n_chunks,
                        collection=d.collection)
            for d in docs if d.collection in names])

    return mcp


def _passage(p: Any) -> PassageOut:
    """One search hit; its text made inert (same length, so start/end still slice the document)."""
    c = p.chunk
    return PassageOut(rank=p.rank, chunk_id=c.chunk_id, doc_id=c.doc_id, title=inert(c.title), start=c.start,
                      end=c.end, text=inert(c.text), score=p.score, page=c.page)
