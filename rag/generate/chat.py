"""Chat models behind one tiny protocol: an in-process llama.cpp model, any LangChain chat model, or any
OpenAI-compatible server (the LangChain adapter around ChatOpenAI).

All stream text pieces, ending with a Truncated event when the reply hit its token limit. None knows about
passages or citations: rag.generate.llm builds the messages, and rag.verify.citations checks whatever comes
back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from core.errors import GeneratorError, ModelError
from core.progress import Progress
from rag.generate.llama_stats import CallStats, perf_read, perf_reset
from rag.generate.models import verify_file
from rag.generate.priority import PriorityGate
from rag.generate.protocol import Truncated


class ChatModel(Protocol):
    def chat(self, messages: list[dict], max_tokens: int) -> Iterator[str | Truncated]:
        """Stream the assistant's reply to `messages` ({"role", "content"} dicts) as text pieces."""
        ...


class LlamaCppChat:
    """A GGUF model run in-process by llama-cpp-python.

    The model loads lazily, once per instance, on `warm_up()` or the first `chat()`. One llama.cpp
    context holds one KV cache, so calls are serialised by a lock: concurrent UI users queue rather
    than corrupt each other's state. llama.cpp reuses the longest common token prefix of consecutive
    calls, which is why callers keep the system prompt first and identical.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_batch: int = 512,
        flash_attn: bool = True,
        *,
        sha256: str | None = None,
        prepare: Callable[[], Path] | None = None,
        progress: Progress | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        verbose: bool = False,
        name: str = "",
    ) -> None:
        if model_path is None and prepare is None:
            raise ModelError("LlamaCppChat needs a model_path or a prepare() that returns one")
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx, self.n_threads, self.n_batch, self.flash_attn = n_ctx, n_threads, n_batch, flash_attn
        self.sha256 = sha256
        self.temperature, self.seed, self.verbose = temperature, seed, verbose
        self.name = name or (self.model_path.name if self.model_path else "local")
        self._prepare = prepare
        self._progress = progress
        self._llm: Any = None
        self.last_call: CallStats | None = None  # what llama.cpp evaluated for the latest call (llama_stats)
        self._load_lock = threading.Lock()
        # guards the llama.cpp context (KV cache) during a generation; chat overtakes waiting evaluations
        self._lock = PriorityGate()

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def llama(self) -> Any:
        """The underlying llama_cpp.Llama (loads it). For benchmarks that compare against the raw call."""
        self.warm_up()
        return self._llm

    def warm_up(self) -> None:
        """Verify the file (sha256, once per process) and load the model. Idempotent and thread-safe."""
        if self._llm is not None:
            return
        with self._load_lock:
            if self._llm is not None:
                return
            path = self._prepare() if self._prepare is not None else self.model_path
            assert path is not None
            path = Path(path)
            if self.sha256:
                verify_file(path, self.sha256, progress=self._progress)
            elif not path.is_file():
                raise ModelError(f"model file {path} does not exist: check local_model / RAG_LOCAL_MODEL")
            if self._progress:
                self._progress(f"loading {path.name}", 0, 1)
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise ModelError(
                    "llama-cpp-python is not installed: run `make install` (compiles it once, ~6-10 min), "
                    "or choose --generator extractive"
                ) from e
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_batch=self.n_batch,
                    flash_attn=self.flash_attn,
                    seed=self.seed,
                    verbose=self.verbose,
                )
            except (ValueError, RuntimeError) as e:
                raise ModelError(f"llama.cpp could not load {path}: {e}") from e
            self.model_path = path
            self._llm = llm
            if self._progress:
                self._progress(f"loading {path.name}", 1, 1)

    def chat(self, messages: list[dict], max_tokens: int) -> Iterator[str | Truncated]:
        self.warm_up()
        return self._stream(messages, max_tokens)

    def prime(self, messages: list[dict]) -> None:
        """Evaluate a prompt now (the fixed system prompt, at warm-up): llama.cpp keeps its tokens cached,
        so the first question evaluates only its own tokens, like every later one."""
        self.warm_up()
        with self._lock.hold():
            self._llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)

    def _stream(self, messages: list[dict], max_tokens: int) -> Iterator[str | Truncated]:
        # The lock is held for the whole stream; closing the iterator early releases it (GeneratorExit).
        with self._lock.hold():
            perf_reset(self._llm)
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    repeat_penalty=1.0,
                    seed=self.seed,
                    stream=True,
                )
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content")
                    if piece:
                        yield piece
                    if choice.get("finish_reason") == "length":
                        yield Truncated()
            except ValueError as e:  # e.g. the prompt exceeds n_ctx
                raise GeneratorError(f"local model failed: {e}. Use fewer/shorter passages or raise llm_ctx") from e
            finally:  # also when the caller stops the stream early (a doomed draft)
                self.last_call = perf_read(self._llm)


# finish/stop reasons that mean "cut at the token limit", by provider: OpenAI-compatible servers and
# llama.cpp ("length"), Anthropic ("max_tokens"), Google ("MAX_TOKENS"), Ollama's done_reason ("length").
TRUNCATION_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})
_REASON_KEYS = ("finish_reason", "stop_reason", "done_reason")
# the model fields that cap the reply's tokens, by provider; the first one a model declares is used
_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "num_predict")


def is_truncated(chunk: Any) -> bool:
    """True when a streamed LangChain message chunk says the reply stopped at its token limit."""
    meta = getattr(chunk, "response_metadata", None) or {}
    return any(isinstance(meta.get(k), str) and meta[k].lower() in TRUNCATION_REASONS for k in _REASON_KEYS)


def model_name(model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


class LangChainChat:
    """Any LangChain chat model (a BaseChatModel: ChatOpenAI, ChatOllama, ChatAnthropic, a fake...) as a
    ChatModel. Streams its text pieces; a reply cut at the token limit ends with a Truncated event.

    A failure before the first piece is retried `retries` times with a short back-off; after text has been
    streamed a retry would repeat it, so the error is raised. Every failure ends as a GeneratorError.
    """

    fix = "check the chat model's settings"

    def __init__(self, model: Any = None, *, name: str = "", retries: int = 0, backoff: float = 0.5,
                 timeout: float | None = None) -> None:
        self.model = model
        self.name = name or (model_name(model) if model is not None else "chat")
        self.retries, self.backoff, self.timeout = max(0, retries), backoff, timeout

    def warm_up(self) -> None:
        """Nothing to load: the model object is built by the caller."""

    def chat(self, messages: list[dict], max_tokens: int) -> Iterator[str | Truncated]:
        self.warm_up()
        return self._stream(messages, max_tokens)

    def where(self) -> str:
        return f"chat model {self.name!r}"

    def errors(self) -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
        """(retryable, fatal) exception types. Unknown providers: nothing is known to be transient."""
        return (), (Exception,)

    def _limit(self, max_tokens: int) -> dict[str, Any]:
        fields = getattr(type(self.model), "model_fields", {}) or {}
        return next(({f: max_tokens} for f in _LIMIT_FIELDS if f in fields), {})

    def _stream(self, messages: list[dict], max_tokens: int) -> Iterator[str | Truncated]:
        retryable, fatal = self.errors()
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            produced = False
            try:
                for chunk in self.model.stream(messages, **self._limit(max_tokens)):
                    piece = chunk.content if isinstance(chunk.content, str) else ""
                    if piece:
                        produced = True
                        yield piece
                    if is_truncated(chunk):
                        yield Truncated()
                return
            except retryable as e:
                last = e
                if produced:
                    raise GeneratorError(f"{self.where()} failed mid-answer: {_describe(e)}") from e
            except fatal as e:
                raise GeneratorError(f"{self.where()} refused the request: {_describe(e)}. {self.fix}") from e
            if attempt < self.retries:
                time.sleep(self.backoff * (attempt + 1))
        waited = f" with a {self.timeout:g} s timeout" if self.timeout else ""
        raise GeneratorError(
            f"{self.where()} did not answer ({_describe(last)}) after {self.retries + 1} attempt(s){waited}. "
            "Check that the server is running and RAG_LLM_URL is right, or choose --generator extractive"
        ) from last


class OpenAIChat(LangChainChat):
    """Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI): LangChainChat around ChatOpenAI.

    `timeout` bounds connecting and each wait for the next streamed piece, so a server that accepts and
    then says nothing fails after `timeout` seconds instead of hanging.
    """

    fix = "Check RAG_LLM_MODEL and RAG_LLM_API_KEY"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 60.0,
        retries: int = 1,
        *,
        temperature: float = 0.0,
        backoff: float = 0.5,
    ) -> None:
        super().__init__(None, name=model, retries=retries, backoff=backoff, timeout=timeout)
        self.base_url, self.model_id = base_url.rstrip("/"), model
        self._api_key = api_key or "not-needed"  # local servers ignore it, the client insists on one
        self._temperature = temperature
        self._client_lock = threading.Lock()

    def warm_up(self) -> None:
        """Build the client (cheap; no request is sent, so a down server does not block start-up)."""
        if self.model is not None:
            return
        with self._client_lock:
            if self.model is None:
                from langchain_openai import ChatOpenAI

                # max_retries=0: our own bounded retry is the only one, so the total wait is known.
                self.model = ChatOpenAI(
                    base_url=self.base_url, model=self.model_id, api_key=self._api_key, timeout=self.timeout,
                    max_retries=0, temperature=self._temperature, streaming=True,
                )

    def where(self) -> str:
        return f"remote LLM {self.model_id!r} at {self.base_url}"

    def errors(self) -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
        import httpx
        import openai

        retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError,
                     openai.RateLimitError, httpx.TransportError)
        return retryable, (openai.APIError, httpx.HTTPError)

    def _limit(self, max_tokens: int) -> dict[str, Any]:
        """langchain-openai sends only `max_completion_tokens`, which llama-cpp-python's server (and other
        older OpenAI-compatible servers) ignore, generating up to n_ctx. Send the classic field too,
        except to OpenAI itself, whose reasoning models reject it."""
        if "api.openai.com" in self.base_url:
            return {"max_tokens": max_tokens}
        return {"max_tokens": max_tokens, "extra_body": {"max_tokens": max_tokens}}


def _describe(e: BaseException | None) -> str:
    if e is None:
        return "no error"
    status = getattr(e, "status_code", None)
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    kind = type(e).__name__
    if status:
        return f"HTTP {status} {kind}: {text[:200]}"
    return f"{kind}: {text[:200]}" if text else kind
