"""Per-user limits that survive page loads and API calls: upload quota and login attempts.

Gradio's session state is new on every page load and every API call, so a per-session count limits
nothing. These counters are keyed by the logged-in user, or by the client address when there is no
login, and count within a sliding time window. They live in the app's process (one object per app,
built by the UI's composition, never a module global); a restart forgets them, which is acceptable for
abuse limits.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]


class WindowCounter:
    """Events per key within the last `window_s` seconds. Thread-safe; at most `max_keys` keys are kept
    (the stalest go first), so a flood of fake keys cannot fill memory."""

    def __init__(self, window_s: float, *, clock: Clock = time.monotonic, max_keys: int = 10_000) -> None:
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._trim(key, self._clock()))

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            now = self._clock()
            q = self._trim(key, now)
            q.extend([now] * n)
            if len(self._events) > self._max_keys:
                stalest = min(self._events, key=lambda k: self._events[k][-1] if self._events[k] else 0.0)
                del self._events[stalest]


def client_key(request: Any) -> str:
    """Who is asking: the logged-in user, else the client's address (a gr.Request or anything with
    .username and .client.host). Forwarded-for headers are not trusted: any client can set them."""
    user = getattr(request, "username", None)
    if user:
        return f"user:{user}"
    host = getattr(getattr(request, "client", None), "host", None)
    return f"addr:{host or 'unknown'}"


class UploadQuota:
    """At most `max_files` uploaded files per user/address per window (default: per hour)."""

    def __init__(self, max_files: int, window_s: float = 3600.0, *, clock: Clock = time.monotonic) -> None:
        self.max_files = max_files
        self._counter = WindowCounter(window_s, clock=clock)

    def used(self, key: str) -> int:
        return self._counter.count(key)

    def record(self, key: str, n: int) -> None:
        if n > 0:
            self._counter.add(key, n)


class LoginGuard:
    """Gradio's `auth` callable with rate limiting: after `max_failures` wrong passwords for a user name
    within the window, that name is locked for the rest of the window (even with the right password);
    after `max_total_failures` failures of any names, every login waits out the window. Gradio does not
    pass the client address to an auth callable, so the global cap stands in for a per-address one."""

    def __init__(self, credentials: list[tuple[str, str]], *, max_failures: int = 5, max_total_failures: int = 50,
                 window_s: float = 300.0, clock: Clock = time.monotonic) -> None:
        self._credentials = dict(credentials)
        self.max_failures, self.max_total_failures = max_failures, max_total_failures
        self._failures = WindowCounter(window_s, clock=clock)

    def locked(self, username: str) -> bool:
        return (self._failures.count(f"user:{username}") >= self.max_failures
                or self._failures.count("*") >= self.max_total_failures)

    def __call__(self, username: str, password: str) -> bool:
        import hmac

        if self.locked(username):
            return False
        expected = self._credentials.get(username)
        ok = expected is not None and hmac.compare_digest(expected.encode(), str(password).encode())
        if not ok:
            self._failures.add(f"user:{username}")
            self._failures.add("*")
        return ok
