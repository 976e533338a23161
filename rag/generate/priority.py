"""Who goes first on the one local model: interactive chat before background work (evaluations).

One llama.cpp context serves everyone, one generation at a time. A plain lock is not fair: an evaluation
that asks case after case re-takes it the instant it lets go, and a chat user can wait for the whole
suite. The gate below lets background work take the model only while no interactive caller is waiting,
so a chat question waits for at most the one generation already running.

Background work is marked per thread of execution with `background()` (a context variable), so the
caller does not thread a flag through the Assistant: rag.eval.runner wraps its cases in it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("rag_background_work", default=False)


@contextmanager
def background() -> Iterator[None]:
    """Everything generated inside this block yields the model to interactive callers."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def is_background() -> bool:
    return _BACKGROUND.get()


class PriorityGate:
    """A mutex where interactive callers overtake waiting background callers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._interactive_waiting = 0

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the gate (False after `timeout` seconds without it); background callers let interactive ones
        that are waiting go first."""
        low = is_background()
        with self._cond:
            if not low:
                self._interactive_waiting += 1
            try:
                ok = self._cond.wait_for(lambda: not self._busy and not (low and self._interactive_waiting), timeout)
            finally:
                if not low:
                    self._interactive_waiting -= 1
            if ok:
                self._busy = True
            return ok

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @property
    def interactive_waiting(self) -> int:
        with self._cond:
            return self._interactive_waiting
