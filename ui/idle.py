"""An idle server sleeps: Gradio's queue polls for work every 1 ms, which burns CPU with nobody asking.

Gradio 6's Queue.start_processing sleeps `sleep_when_free` (1 ms off Windows) between looks at an empty
queue, and start_progress_updates sleeps `progress_update_sleep_when_free` (10 ms): about 1,100 wake-ups a
second, 3% of a core on this machine with no request at all (docs/benchmarks.md). Both loops read the
attribute on every turn, so `calm_queue` makes them properties: Gradio's own short sleeps while the queue
was pushed to in the last few seconds or a job is running, and `IDLE_SLEEP_S` otherwise. The first event
after a quiet spell waits at most IDLE_SLEEP_S longer to start; the HTTP API (/v1, MCP) does not use this queue.
"""

from __future__ import annotations

import time
from typing import Any

IDLE_SLEEP_S = 0.05  # the queue's poll interval when nothing happened for BUSY_FOR_S
BUSY_FOR_S = 5.0
_BUSY = {"sleep_when_free": 0.001, "progress_update_sleep_when_free": 0.01}  # Gradio's own values


def _busy(queue: Any) -> bool:
    return time.monotonic() - queue._calm_last_push < BUSY_FOR_S or any(j is not None for j in queue.active_jobs)


def _poll(name: str) -> property:
    def get(queue: Any) -> float:
        return _BUSY[name] if _busy(queue) else max(IDLE_SLEEP_S, _BUSY[name])

    return property(get, lambda queue, value: None)  # Gradio's __init__ assigns its constants: ignored


def calm_queue(blocks: Any) -> None:
    """Slow `blocks`' Gradio queue polling while it is idle. Call after blocks.queue() (and fair_queue)."""
    queue = blocks._queue
    if getattr(queue, "_calm_last_push", None) is not None:
        return
    queue._calm_last_push = time.monotonic()
    queue.__class__ = type("CalmQueue", (type(queue),), {name: _poll(name) for name in _BUSY})
    push = queue.push

    async def noted_push(body: Any, request: Any, username: str | None) -> Any:
        queue._calm_last_push = time.monotonic()
        return await push(body, request, username)

    queue.push = noted_push
