"""An idle server does not poll: Gradio's queue loops wake rarely while nobody asks (ui/idle.py).

Counts wake-ups, not CPU seconds: the real Gradio Queue's two polling loops run for one second on a real
event loop, with their `asyncio.sleep` calls counted. Gradio's own 1 ms / 10 ms polls make over a hundred
even on a busy machine; calmed, an idle second is about thirty.
"""

from __future__ import annotations

import asyncio
import time

import gradio as gr

from ui.idle import IDLE_SLEEP_S, calm_queue


def _page() -> gr.Blocks:
    with gr.Blocks() as page:
        box = gr.Textbox()
        box.submit(lambda s: s, box, box)
    page.queue(max_size=8, default_concurrency_limit=1)
    return page


def _wakeups(queue, seconds: float = 1.0) -> int:
    """How many times the queue's processing and progress loops slept during `seconds` of idling."""
    import gradio.queueing as gq

    count = 0
    real_sleep = asyncio.sleep

    async def counted(delay, *args, **kwargs):
        nonlocal count
        count += 1
        return await real_sleep(delay, *args, **kwargs)

    async def idle() -> None:
        queue.stopped = False
        tasks = [asyncio.ensure_future(queue.start_processing()), asyncio.ensure_future(queue.start_progress_updates())]
        await real_sleep(seconds)
        queue.stopped = True
        await real_sleep(0.2)
        for t in tasks:
            t.cancel()

    gq.asyncio.sleep = counted
    try:
        asyncio.run(idle())
    finally:
        gq.asyncio.sleep = real_sleep
    return count


def test_gradio_alone_polls_hundreds_of_times_a_second():
    """The problem, measured: without calm_queue the idle queue wakes > 100 times in a second."""
    assert _wakeups(_page()._queue) > 100


def test_a_calm_idle_queue_wakes_rarely():
    page = _page()
    calm_queue(page)
    page._queue._calm_last_push = time.monotonic() - 60  # nobody asked for a minute
    n = _wakeups(page._queue)
    assert n <= 2 * (1 / IDLE_SLEEP_S + 1 / 0.1), n  # ~20 + ~10 a second, not ~1,100


def test_a_push_makes_the_queue_responsive_again():
    page = _page()
    calm_queue(page)
    calm_queue(page)  # idempotent
    q = page._queue
    q._calm_last_push = time.monotonic() - 60
    assert q.sleep_when_free == IDLE_SLEEP_S
    q._calm_last_push = time.monotonic()  # what the wrapped push records
    assert q.sleep_when_free == 0.001 and q.progress_update_sleep_when_free == 0.01
    q._calm_last_push = time.monotonic() - 60
    q.active_jobs = [[object()]]  # a job running: Gradio's short sleeps for its progress updates
    assert q.progress_update_sleep_when_free == 0.01
