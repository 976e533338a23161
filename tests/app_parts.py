"""Tests drive both sides of one composed app: the assistant (ask, stream) and the library (indexer).

`AppParts` keeps the tests short: `app.ask(...)` goes to the assistant, `app.indexer` is the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.settings import Settings, load_settings
from rag.compose import build


class AppParts:
    def __init__(self, settings: Settings) -> None:
        parts = build(settings)
        self.assistant = parts.assistant
        self.indexer = parts.library

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assistant, name)


def app_for(data: Path, **over: Any) -> AppParts:
    """An extractive app over `data` (settings overridable), isolated from the environment."""
    return AppParts(load_settings({"data_dir": data, "generator": "extractive", **over}, env={}))
