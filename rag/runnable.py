"""The Assistant as a LangChain Runnable: `assistant.as_runnable()`.

Input: a question (str) or {"question", "history", "collection"}; output: the verified `Answer`.
"collection" is one name, "A,B", or a list of names; the assistant checks them against the index.
`stream` yields the answer's text pieces as generated, then the final Answer (whose text is the verified
one: markers may be renumbered or dropped). The stages (rewrite, plan, retrieve, gate, generate, verify)
are child runs, visible to any LangChain callback handler or tracer.

It drives the Assistant's own `stream()` over a copy of the assistant whose parts are wrapped, so the
pipeline, its order and its checks stay exactly those of `Assistant.stream`: each wrapper only reports
its call to LangChain as a RunnableLambda run under the current run.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import ensure_config, patch_config, run_in_executor

from core.errors import InputError
from core.types import Answer, Final, TextDelta, Turn

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}


def to_turn(item: Any) -> Turn | None:
    """A history item as a Turn: a Turn, {"role", "content"}, (role, content) or a LangChain message.
    System and tool messages are not conversation turns and are skipped."""
    if isinstance(item, Turn):
        return item
    if isinstance(item, dict):
        role, content = item.get("role"), item.get("content")
    elif isinstance(item, tuple | list) and len(item) == 2:
        role, content = item
    elif hasattr(item, "type") and hasattr(item, "content"):  # a langchain_core BaseMessage
        role, content = item.type, item.content
    else:
        raise InputError(f"history item {item!r} is not a turn: use {{'role': 'user', 'content': '...'}}, "
                         "a (role, content) pair, or a LangChain message")
    if role in ("system", "tool", "developer", "function"):
        return None
    if role not in _ROLES or not isinstance(content, str):
        raise InputError(f"history item has role {role!r} and content of type {type(content).__name__}: "
                         "roles are user/assistant (human/ai) and content is text")
    return Turn(_ROLES[role], content)


def parse_input(value: Any) -> tuple[str, list[Turn], Any]:
    """(question, history, collection) from a str or {"question", "history", "collection"}."""
    if isinstance(value, str):
        return value, [], None
    if not isinstance(value, dict) or "question" not in value:
        raise InputError("the runnable's input is a question (str) or {'question': ..., 'history': [...], "
                         "'collection': ...}")
    unknown = set(value) - {"question", "history", "collection"}
    if unknown:
        raise InputError(f"unknown input keys {sorted(unknown)}: use question, history, collection")
    history: Sequence[Any] = value.get("history") or []
    turns = [t for t in (to_turn(h) for h in history) if t is not None]
    return value["question"], turns, value.get("collection")


class _Traced:
    """A stage object whose one method runs as a named child run; everything else passes through."""

    def __init__(self, inner: Any, method: str, stage: str, config: RunnableConfig, stream: bool = False) -> None:
        self._inner, self._method, self._stage = inner, method, stage
        self._config, self._stream = config, stream

    def __getattr__(self, name: str) -> Any:
        if name == self.__dict__.get("_method"):
            return self._call
        return getattr(self._inner, name)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self._inner, self._method)
        # the run's input names the arguments, so a trace reads {"query": ..., "k": ...}
        shown = {**dict(zip(_PARAMS.get(self._method, ()), args, strict=False)), **kwargs}
        if self._stream:
            def pieces(_: Any) -> Iterator[Any]:
                yield from call(*args, **kwargs)

            return RunnableLambda(pieces, name=self._stage).stream(shown, self._config)
        return RunnableLambda(lambda _: call(*args, **kwargs), name=self._stage).invoke(shown, self._config)


# parameter names of each wrapped method, for the traced inputs
_PARAMS = {"rewrite": ("question", "history"), "search": ("query", "k", "collections"), "check": ("query", "retrieval"),
           "generate": ("request",), "verify": ("raw", "passages")}


def traced_assistant(assistant: Any, config: RunnableConfig) -> Any:
    """A shallow copy of `assistant` (same index, models and locks) whose stages report as child runs."""
    traced = copy.copy(assistant)
    traced.rewriter = _Traced(assistant.rewriter, "rewrite", "rewrite", config)
    traced.planner = _Traced(assistant.planner, "route", "plan", config)
    traced.retriever = _Traced(assistant.retriever, "search", "retrieve", config)
    traced.gate = _Traced(assistant.gate, "check", "gate", config)
    traced.generator = _Traced(assistant.generator, "generate", "generate", config, stream=True)
    policy = assistant.policy  # the verify stage: its verifier, and the fallback generator it may call
    fallback = policy.fallback and _Traced(policy.fallback, "generate", "generate", config, stream=True)
    traced.verifier = _Traced(assistant.verifier, "verify", "verify", config)
    traced.policy = dataclasses.replace(policy, verifier=traced.verifier, fallback=fallback)
    return traced


class AssistantRunnable(Runnable[Any, Answer]):
    """Runnable[str | {question, history, collection}, Answer] over one Assistant."""

    name = "cited_answers"

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    @property
    def InputType(self) -> Any:
        return str | dict

    @property
    def OutputType(self) -> type[Answer]:
        return Answer

    def _events(self, value: Any, run_manager: CallbackManagerForChainRun,
                config: RunnableConfig) -> Iterator[str | Answer]:
        question, history, collection = parse_input(value)
        child = patch_config(config, callbacks=run_manager.get_child())
        for event in traced_assistant(self.assistant, child).stream(question, history, collections=collection):
            if isinstance(event, TextDelta):
                if event.text:
                    yield str(event.text)
            elif isinstance(event, Final):
                yield event.answer

    def _answer(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Answer:
        final = None
        for item in self._events(value, run_manager, config):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self._answer, input, ensure_config(config), run_type="chain")

    def _transform(self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun,
                   config: RunnableConfig) -> Iterator[str | Answer]:
        for value in inputs:
            yield from self._events(value, run_manager, config)

    def stream(self, input: Any, config: RunnableConfig | None = None,
               **kwargs: Any) -> Iterator[Any]:
        """Text pieces as generated, then the verified Answer."""
        yield from self._transform_stream_with_config(iter([input]), self._transform, config, run_type="chain")

    async def astream(self, input: Any, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[Any]:
        """As `stream`, without blocking the event loop: each step runs in LangChain's executor."""
        items = iter(self.stream(input, config, **kwargs))
        done = object()
        while (item := await run_in_executor(config, next, items, done)) is not done:
            yield item
