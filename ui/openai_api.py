"""An OpenAI-compatible chat API over the same Assistant the page uses: /v1/models, /v1/chat/completions.

Citations survive the trip. The content keeps the verified [n] markers and ends with a sources footnote;
the response (the last chunk, when streaming) carries a machine-readable `citations` list and an
`abstained` flag. Markers are renumbered and unsupported ones dropped only once the whole answer is
verified, so a stream sends the verified text after verification (with keep-alive comments meanwhile),
never raw text that the verifier would later change.

Model names: `cited-answers` (the server's collections: RAG_COLLECTION, normally "default") or
`cited-answers:COLLECTION` (or `cited-answers:A,B` for several); rag.collections checks them against the
index, and /v1/models lists one model per collection. Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}
(ui/openai_errors.py), a wrong method or an unknown /v1 path included.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from core.errors import RagError, UnknownCollectionError
from core.settings import Settings
from core.types import Answer, Final, Turn
from core.untrusted import inert
from rag.collections import DEFAULT_COLLECTION, resolve_collections
from rag.compose import Assistant
from ui import export
from ui.openai_errors import ApiError, logged, with_fallbacks

log = logging.getLogger(__name__)
MODEL = "cited-answers"
ROLES = ("system", "developer", "user", "assistant", "tool")
_SOURCES, _CLOSEST, _NOTE = f"\n\n{export.SOURCES_HEAD}\n", f"\n\n{export.CLOSEST_HEAD}\n", "\n\nNote: "
_PIECE = re.compile(r"(?:\S+\s*){1,6}|\s+")
KEEPALIVE_S = 5.0
MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32  # a chat request nests 4 levels; deeper is an attack on the parser
STORED = 256  # completions kept for /export, most recent first out


@dataclass(frozen=True)
class ModelChoice:
    name: str  # as the client sent it, echoed back in responses
    collection: str  # the collections asked, comma-separated

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self.collection.split(","))


def parse_model(name: Any, known: Iterable[str] = (DEFAULT_COLLECTION,),
                default: Sequence[str] = (DEFAULT_COLLECTION,)) -> ModelChoice:
    """`cited-answers` (the `default` collections) or `cited-answers:COLLECTION[,COLLECTION]`, checked against
    `known`; anything else is an OpenAI-style model_not_found."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, f"'model' is required: use {MODEL!r}", code="invalid_value", param="model")
    base, _, collection = name.strip().partition(":")
    if base != MODEL:
        raise ApiError(404, f"The model {name!r} does not exist: use {MODEL!r} or '{MODEL}:COLLECTION' "
                       "(GET /v1/models lists them)", code="model_not_found", param="model")
    try:
        return ModelChoice(name, ",".join(resolve_collections(collection or None, known, default)))
    except UnknownCollectionError as e:
        raise ApiError(404, f"The model {name!r} does not exist: {e} (model {MODEL!r})", code="model_not_found",
                       param="model") from e


def message_text(message: Any, i: int) -> tuple[str, str]:
    """(role, text) of one message; text parts are joined, anything else is refused."""
    where = f"messages[{i}]"
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise ApiError(400, f"{where} must be an object with a role ({', '.join(ROLES)}) and content",
                       code="invalid_value", param=where)
    content = message.get("content")
    if content is None:
        return message["role"], ""
    if isinstance(content, str):
        return message["role"], content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text", ""), str) for p in content):
        return message["role"], "".join(p.get("text", "") for p in content)
    raise ApiError(400, f"{where}.content must be text (a string or text parts); images and files are not "
                   "supported: add documents through the page instead", code="invalid_value", param=where)


def strip_footnote(text: str) -> str:
    """An earlier answer of ours without its "Sources:" footnote or an abstention's closest passages (and
    the notice before either).

    String search from the end, not a regex: the footnote is the last block, and a lazy DOTALL pattern
    rescanned the tail from every "\\n\\n" (quadratic: a 160 KB history froze the server for 25 s)."""
    i = max(text.rfind(_SOURCES), text.rfind(_CLOSEST))
    if i < 0:
        return text
    text = text[:i]
    j = text.rfind(_NOTE)
    return text[:j] if j >= 0 and "\n\n" not in text[j + len(_NOTE):] else text


def _too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON data nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def decode_body(body: bytes) -> Any:
    """The request's JSON, or a 400 that says what is wrong (never a 500 for a hostile body)."""
    try:
        data = json.loads(body)
    except RecursionError:
        data = None  # nested past the parser's own limit
    except ValueError as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from e
    if data is None or _too_deep(data):
        raise ApiError(400, f"the request body nests JSON deeper than {MAX_JSON_DEPTH} levels: send the "
                       "chat request's plain shape (model, messages with text content)", code="invalid_value")
    return data


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is over `limit`: by its Content-Length before reading,
    and while reading (a chunked or lying client), so an oversized body is never held in memory."""
    too_large = ApiError(413, f"the request body is over {limit} bytes: send shorter messages",
                         code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def owner_of(request: Request) -> str:
    """Who may read a stored completion back: a digest of the API key that created it."""
    return hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()


@dataclass(frozen=True)
class ChatRequest:
    model: ModelChoice
    question: str
    history: list[Turn]
    stream: bool


def parse_request(body: Any, settings: Settings, known: Iterable[str] = (DEFAULT_COLLECTION,)) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object with 'model' and 'messages'")
    model = parse_model(body.get("model"), known, settings.collection_names)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list ending with the user's question",
                       code="invalid_value", param="messages")
    if body.get("n", 1) not in (1, None):
        raise ApiError(400, "only n=1 is supported", code="invalid_value", param="n")
    turns = [message_text(m, i) for i, m in enumerate(messages)]
    limit = 64 * settings.max_question_chars
    if sum(len(t) for _, t in turns) > limit:
        raise ApiError(400, f"the messages hold more than {limit} characters: send fewer or shorter turns",
                       code="context_length_exceeded", param="messages")
    role, question = turns[-1]
    if role != "user":
        raise ApiError(400, "the last message must be the user's question (role 'user')",
                       code="invalid_value", param="messages")
    # A client sends our earlier answers back with their footnotes: the history needs only the answer.
    history = [Turn(r, strip_footnote(t)) for r, t in turns[:-1] if r in ("user", "assistant")]
    return ChatRequest(model, question, history, bool(body.get("stream", False)))


def completion(answer: Answer, request: ChatRequest, cid: str, created: int) -> dict:
    message = {"role": "assistant", "content": export.answer_content(answer)}
    return {"id": cid, "object": "chat.completion", "created": created, "model": request.model.name,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            **answer_fields(answer)}


def answer_fields(answer: Answer) -> dict:
    """The fields beyond OpenAI's: what was cited, and whether the assistant abstained."""
    # document text made inert (same length: quote_start/quote_end still slice the document)
    records = [{**r, "quote": inert(r["quote"]), "title": inert(r["title"]),
                "claims": [{**k, "quote": inert(k["quote"])} for k in r["claims"]]}
               for r in export.citation_records(answer)]
    return {"citations": records, "plan": answer.plan, "abstained": answer.abstained,
            "abstain_reason": answer.abstain_reason or None, "notice": answer.notice or None,
            "closest_passages": export.closest_records(answer)}


def _sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


class OpenAIService:
    """The /v1 routes over one Assistant. `limit` bounds answers computed at once (as the page's queue does),
    streamed or not: a request waits for a slot before its first stage (rewrite) and holds it to the end."""

    def __init__(self, assistant: Assistant, settings: Settings, limit: int,
                 collections: Callable[[], Iterable[str]] = lambda: (DEFAULT_COLLECTION,)) -> None:
        self.assistant = assistant
        self.settings = settings
        self.collections = collections  # the index's collections now (library.collections)
        # taken on the event loop, never in a worker thread: waiting requests must not hold the threads
        # that the running answers need to finish
        self._slots = asyncio.Semaphore(max(1, limit))
        self._stored: OrderedDict[str, tuple[str, ChatRequest, Answer]] = OrderedDict()
        self._stored_lock = threading.Lock()

    def models(self) -> dict:
        names = [MODEL, *(f"{MODEL}:{c}" for c in sorted({DEFAULT_COLLECTION, *self.collections()}))]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "cited-rag"}
                                           for n in names]}

    def router(self) -> APIRouter:
        r = APIRouter(prefix="/v1")
        r.add_api_route("/models", self.models, methods=["GET"])
        r.add_api_route("/models/{model:path}", self._model, methods=["GET"])
        r.add_api_route("/chat/completions", self._chat, methods=["POST"])
        r.add_api_route("/chat/completions/{cid}/export", self._export, methods=["GET"])
        return with_fallbacks(r)

    async def _model(self, model: str) -> Response:
        try:
            choice = parse_model(model, self.collections(), self.settings.collection_names)
        except ApiError as e:
            return e.response()
        return JSONResponse({"id": choice.name, "object": "model", "created": 0, "owned_by": "cited-rag"})

    async def _chat(self, request: Request) -> Response:
        try:
            body = await read_body(request)
            known = await run_in_threadpool(self.collections)
            chat = await run_in_threadpool(self._parse, body, known)  # CPU work stays off the event loop
            owner = owner_of(request)
            if chat.stream:
                return await self._open_stream(chat, owner)
            async with self._slots:
                answer = await run_in_threadpool(self._answer, chat)
        except Exception as e:  # translated once, here
            return logged(e).response()
        return JSONResponse(completion(answer, chat, *self._store(owner, chat, answer)))

    def _parse(self, body: bytes, known: Iterable[str]) -> ChatRequest:
        return parse_request(decode_body(body), self.settings, known)

    def _answer(self, chat: ChatRequest) -> Answer:
        return self.assistant.ask(chat.question, chat.history, collections=chat.model.collections)

    async def _open_stream(self, chat: ChatRequest, owner: str) -> Response:
        """Take a slot, run up to the first event (bad input is a 4xx before the stream opens), then let the
        answer finish in a task that gives the slot back, whatever the client does meanwhile."""
        await self._slots.acquire()
        try:
            events = await run_in_threadpool(self._start, chat)
        except BaseException:
            self._slots.release()
            raise
        work = asyncio.ensure_future(run_in_threadpool(_final_answer, events))
        work.add_done_callback(lambda t: (self._slots.release(), t.cancelled() or t.exception()))
        return StreamingResponse(self._sse_stream(chat, owner, work), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _start(self, chat: ChatRequest) -> Iterator:
        events = self.assistant.stream(chat.question, chat.history, collections=chat.model.collections)
        first = next(events)
        return _prepend(first, events)

    async def _sse_stream(self, chat: ChatRequest, owner: str, work: asyncio.Future) -> AsyncIterator[str]:
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": chat.model.name}

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
            return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

        yield chunk({"role": "assistant", "content": ""})
        while not (await asyncio.wait({work}, timeout=KEEPALIVE_S))[0]:
            yield ": answering\n\n"  # an SSE comment: keeps proxies from timing out
        try:
            answer = work.result()
        except Exception as e:  # the stream has started: the error becomes its last event
            yield _sse(logged(e).body())
            yield _sse("[DONE]")
            return
        self._store(owner, chat, answer, cid)
        for piece in _PIECE.findall(export.answer_content(answer)):
            yield chunk({"content": piece})
        yield chunk({}, "stop", **answer_fields(answer))
        yield _sse("[DONE]")

    def _store(self, owner: str, chat: ChatRequest, answer: Answer, cid: str = "") -> tuple[str, int]:
        cid = cid or f"chatcmpl-{uuid.uuid4().hex}"
        with self._stored_lock:
            self._stored[cid] = (owner, chat, answer)
            while len(self._stored) > STORED:
                self._stored.popitem(last=False)
        return cid, int(time.time())

    async def _export(self, cid: str, request: Request) -> Response:
        """A recent completion's conversation as Markdown, with numbered citations and quoted passages.
        Only for the API key that created it: another key gets the same 404 as an unknown id."""
        with self._stored_lock:
            found = self._stored.get(cid)
        if found is None or not hmac.compare_digest(found[0], owner_of(request)):
            return ApiError(404, f"no recent completion {cid!r} for this API key: only the last {STORED} are "
                            "kept, each for the key that asked; ask again", code="not_found", param="cid").response()
        _, chat, answer = found
        earlier = "".join(f"**{t.role}:** {t.content}\n\n" for t in chat.history)
        text = export.conversation_markdown([(chat.question, answer)])
        if earlier:
            text = text.replace("\n## 1.", f"\n## Earlier turns\n\n{earlier}## 1.", 1)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{cid}.md"'})


def _final_answer(events: Iterator) -> Answer:
    """Run an answer's stream to its end (in a worker thread); its Final event is the answer."""
    answer = None
    for event in events:
        if isinstance(event, Final):
            answer = event.answer
    if answer is None:
        raise RagError("the answer stream ended without an answer")
    return answer


def _prepend(first: Any, rest: Iterator) -> Iterator:
    yield first
    yield from rest
