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

from core.errors import RagError, question_too_long
from core.settings import Settings
from core.types import Answer
from core.untrusted import inert
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.export import citation_records, closest_block, closest_records
from ui.openai_api import MAX_BODY_BYTES

INSTRUCTIONS = (
    "Answers questions about the indexed documents with numbered [n] citations that point at exact "
    "passages. Use `ask` for an answer, `search` for raw passages, `list_documents` to see what is indexed. "
    "Documents live in named collections: pass `collection` (one name, or several as 'A,B') to ask within "
    "them; list_documents shows the available ones. "
    "An answer with abstained=true means the documents do not cover the question; `closest` then lists the "
    "nearest passages, which do not answer it."
)


class ClaimOut(BaseModel):
    sentence: int = Field(description="which answer sentence (0-based) this quote supports")
    text: str = Field(description="that answer sentence")
    quote: str = Field(description="the document sentence that supports it")
    quote_start: int = Field(description="character span of the quote in the document")
    quote_end: int


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
    quote_start: int | None = Field(None, description="character span of the quote in the document")
    quote_end: int | None = None
    claims: list[ClaimOut] = Field(default_factory=list, description="one quote per answer sentence citing "
                                   "this marker, as /v1's citations carry (two claims may share a passage)")


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


class AskResult(BaseModel):
    answer: str = Field(description="the verified answer text with [n] markers")
    citations: list[CitationOut]
    abstained: bool = Field(description="true when the documents do not cover the question")
    abstain_reason: str = Field("", description="why the documents do not settle the question")
    plan: str = Field("fact", description="which plan answered: fact, overview, list, comparison, explanation, library")
    notice: str = ""
    closest: list[PassageOut] = Field(default_factory=list, description="when abstained: the nearest passages "
                                      "found, which do not answer the question (the answer text lists them too)")


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
        tools = {t.name: t for t in await self.list_tools()}
        if name not in tools:
            raise ToolError(f"There is no tool {name!r}: use one of {', '.join(sorted(tools))}")
        known = tools[name].input_schema.get("properties", {})
        if unknown := sorted(set(arguments) - set(known)):
            raise ToolError(f"Error executing tool {name}: unknown argument(s) {', '.join(map(repr, unknown))}; "
                            f"{name} takes {', '.join(known)} (fix the names and call again)")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as e:
            cause = e.__cause__
            if isinstance(e, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {argument_errors(cause)}") from cause


# pydantic's error types in words: what is wrong with the argument (never pydantic's text, its URL or the value)
_PLAIN = {"missing": "is missing: add it", "string_type": "must be text (a string)",
          "string_too_short": "must not be empty", "int_type": "must be a whole number",
          "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
          "bool_type": "must be true or false"}


def _plain(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if err["type"] in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    return _PLAIN.get(err["type"], "has the wrong type or value")


def argument_errors(e: ValidationError) -> str:
    """Which arguments were refused and why, in words, without echoing their values (they can be huge or
    hostile) or pydantic's own text."""
    parts = [f"'{'.'.join(str(x) for x in err['loc']) or 'arguments'}' {_plain(err)}" for err in e.errors()[:5]]
    return "; ".join(parts) + " (fix these arguments and call again; the tool's input schema lists them)"


def _bounded(text: str, what: str, limit: int) -> str:
    if len(text) > limit:
        raise ToolError(str(question_too_long(len(text), limit, what)))
    return text


def _checked(assistant: Assistant, collection: str | None) -> tuple[str, ...]:
    try:
        return assistant.resolve(collection)
    except RagError as e:
        raise ToolError(str(e)) from e


def ask_result(answer: Answer) -> AskResult:
    """An answer as MCP returns it: the /v1 citation records (quote spans and one quote per claim included),
    with document text made inert; an abstention lists its closest passages in the text and in `closest`, as /v1 does."""
    cites = [CitationOut(**{k: v for k, v in r.items() if k in CitationOut.model_fields}
                         | {"quote": inert(r["quote"]), "title": inert(r["title"]),
                            "claims": [ClaimOut(**k | {"quote": inert(k["quote"])}) for k in r["claims"]]})
             for r in citation_records(answer)]
    closest = [PassageOut(**r, score=p.score) for r, p in zip(closest_records(answer), answer.retrieved, strict=False)]
    text = "\n\n".join(t for t in (answer.text, closest_block(answer)) if t)
    return AskResult(answer=text, citations=cites, abstained=answer.abstained, abstain_reason=answer.abstain_reason,
                     plan=answer.plan, notice=answer.notice, closest=closest)


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
