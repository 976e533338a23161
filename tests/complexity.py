"""Growth checks: how the CPU cost of a call grows with its input, not how long it takes.

A wall-clock assertion fails on a busy machine; a ratio between two sizes in the same run does not,
because both measurements share the machine's speed. Each size is timed with time.process_time (CPU of
this process, not waiting), repeated until the measurement is long enough to be above the clock's
resolution, and the minimum of a few repetitions is kept (noise only ever adds time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_MIN_SAMPLE_S = 0.02


def cpu_per_call(fn: Callable[[Any], Any], arg: Any, reps: int = 3, budget_s: float = 5.0) -> float:
    """Minimum CPU seconds per call of fn(arg) over `reps` samples (each sample loops until >= 20 ms)."""
    t0 = time.process_time()
    fn(arg)  # warm caches (regex compile, imports) and learn the rough cost
    once = max(time.process_time() - t0, 1e-7)
    if once > budget_s:  # already far too slow: one measurement is the answer
        return once
    loops = max(1, int(_MIN_SAMPLE_S / once))
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(loops):
            fn(arg)
        best = min(best, (time.process_time() - t0) / loops)
    return best


def growth(fn: Callable[[Any], Any], make: Callable[[int], Any], small: int, large: int) -> float:
    """CPU cost of fn(make(large)) over fn(make(small))."""
    a, b = make(small), make(large)
    return cpu_per_call(fn, b) / max(cpu_per_call(fn, a), 1e-9)


def assert_linear(fn: Callable[[Any], Any], make: Callable[[int], Any], small: int, large: int,
                  slack: float = 2.0, what: str = "") -> float:
    """Fail when the cost grows faster than `slack` times the size ratio (linear growth is the size ratio)."""
    ratio = growth(fn, make, small, large)
    bound = slack * large / small
    assert ratio <= bound, (f"{what or fn.__name__}: input x{large / small:g} cost x{ratio:.0f} "
                            f"(linear allows x{bound:g}) - super-linear work on hostile input")
    return ratio
