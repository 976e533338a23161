"""Per-user limits that survive page loads and API calls: upload quota and login attempts.

Gradio's session state is new on every page load and every API call, so a per-session count limits
nothing. These counters are keyed by the logged-in user, or by the client address when there is no
login, and count within a sliding time window. They live in the app's process (one object per app,
built by the UI's composition, never a module global); a restart forgets them, which is acceptable for
abuse limits.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]
# The address of the client whose login is being checked: Gradio passes an auth callable only the name and
# password, so ui.server's LoginAddress middleware sets this around each POST /login.
LOGIN_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar("login_address", default=None)


class WindowCounter:
    """Amounts (events, bytes) per key within the last `window_s` seconds. Thread-safe; at most `max_keys`
    keys are kept (the stalest go first), so a flood of fake keys cannot fill memory."""

    def __init__(self, window_s: float, *, clock: Clock = time.monotonic, max_keys: int = 10_000) -> None:
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def _trim(self, q: deque, now: float) -> deque:
        while q and q[0][0] <= now - self.window_s:
            q.popleft()
        return q

    def count(self, key: str) -> int:
        """The sum of amounts added under `key` within the window. Reading never creates a key."""
        with self._lock:
            q = self._events.get(key)
            if q is None:
                return 0
            self._trim(q, self._clock())
            if not q:
                del self._events[key]
            return sum(n for _, n in q)

    def add(self, key: str, n: int = 1) -> None:
        """Record `n` (events, or bytes) now. The key cap holds here, the only place keys are made."""
        with self._lock:
            now = self._clock()
            q = self._trim(self._events.setdefault(key, deque()), now)
            q.append((now, n))
            while len(self._events) > self._max_keys:
                stalest = min(self._events, key=lambda k: self._events[k][-1][0] if self._events[k] else 0.0)
                del self._events[stalest]

    def __len__(self) -> int:
        return len(self._events)


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
    """Gradio's `auth` callable with rate limiting, per client address as well as per name, so that nobody
    can lock everyone out (issue 24, finding 5):
    - `max_failures` wrong passwords for one name from one address lock that pair;
    - `max_address_failures` from one address (any names) lock that address;
    - `max_name_failures` for one name from all addresses together lock that name (a spread-out guess).
    A lock lasts until its failures leave the window. Each counter keeps at most `max_keys` keys, and
    checking a lock never creates one, so a flood of names or addresses cannot grow memory."""

    def __init__(self, credentials: list[tuple[str, str]], *, max_failures: int = 5, max_address_failures: int = 20,
                 max_name_failures: int = 50, window_s: float = 300.0, clock: Clock = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self._credentials = dict(credentials)
        self.max_failures, self.max_address_failures = max_failures, max_address_failures
        self.max_name_failures = max_name_failures
        self._pairs = WindowCounter(window_s, clock=clock, max_keys=max_keys)
        self._addresses = WindowCounter(window_s, clock=clock, max_keys=max_keys)
        self._names = WindowCounter(window_s, clock=clock, max_keys=max_keys)

    def keys(self) -> int:
        return len(self._pairs) + len(self._addresses) + len(self._names)

    def locked(self, username: str, address: str | None = None) -> bool:
        addr = address or LOGIN_ADDRESS.get() or "unknown"
        return (self._pairs.count(f"{addr}\x00{username}") >= self.max_failures
                or self._addresses.count(addr) >= self.max_address_failures
                or self._names.count(username) >= self.max_name_failures)

    def __call__(self, username: str, password: str, address: str | None = None) -> bool:
        addr = address or LOGIN_ADDRESS.get() or "unknown"
        if self.locked(username, addr):
            return False
        expected = self._credentials.get(username)
        ok = expected is not None and hmac.compare_digest(expected.encode(), str(password).encode())
        if not ok:
            self._pairs.add(f"{addr}\x00{username}")
            self._addresses.add(addr)
            self._names.add(username)
        return ok


def event_key(username: str | None, request: Any, session: str | None = None) -> str:
    """Whose queued Gradio event this is: the login; else the client's address; else, on a loopback address
    (no login is only allowed there: ui.server.check_exposure), the browser session, since every local
    client shares 127.0.0.1 and one key for all would make the per-user cap a global one."""
    if username:
        return f"user:{username}"
    host = getattr(getattr(request, "client", None), "host", None)
    try:
        local = host is None or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = True  # "localhost", "testclient": not a network address
    return f"session:{session}" if local and session else f"addr:{host or 'unknown'}"


def fair_queue(blocks: Any, per_user: int) -> None:
    """Admit at most `per_user` waiting jobs per user/address into `blocks`' Gradio queue (issue 24, finding
    11): one client can no longer fill the shared queue so that everyone else's ask gets 503. Call after
    blocks.queue(); Gradio answers a refusal with 400 and this message."""
    queue = blocks._queue
    if getattr(queue, "_fair_per_user", None) is not None:
        queue._fair_per_user = per_user
        return
    queue._fair_per_user = per_user
    push = queue.push

    async def fair_push(body: Any, request: Any, username: str | None) -> Any:
        key = event_key(username, request, getattr(body, "session_hash", None))
        waiting = sum(1 for q in list(queue.event_queue_per_concurrency_id.values()) for e in list(q.queue)
                      if event_key(e.username, e.request, e.session_hash) == key)
        if waiting >= queue._fair_per_user:
            return (False, f"you already have {waiting} requests waiting, the per-user limit: wait for them to "
                           "finish (the limit is RAG_MAX_QUEUED_PER_USER)", "error")
        return await push(body, request, username)

    queue.push = fair_push
