"""Terminal progress bars for long stages (indexing, model loading), shared by the command-line edges."""

from __future__ import annotations

import sys
from collections.abc import Callable


def terminal_progress() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
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
