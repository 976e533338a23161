"""Progress reporting, shared by every stage: one callback shape and one terminal printer.

Long stages (indexing, model joining and loading, evaluation) call `progress(stage, done, total)`; the
edges (command lines, the UI) decide how to show it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def terminal_progress() -> tuple[Progress, Callable[[], None]]:
    """(update(stage, done, total), close()): one tqdm bar per stage, on stderr."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>8}", unit="item", file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close() -> None:
        for bar in bars.values():
            bar.close()
        bars.clear()

    return update, close
