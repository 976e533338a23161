"""Grounded answers with checked citations. The public surface is small:

    from rag import Assistant, load_settings
    assistant = Assistant.from_settings(load_settings())
    answer = assistant.ask("How many containers has Russia received?")

Imports are lazy so `import rag` stays cheap (no torch, no chromadb until an Assistant is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings, load_settings
    from rag.compose import Assistant

__all__ = ["Assistant", "Settings", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from rag.compose import Assistant

        return Assistant
    if name in ("Settings", "load_settings"):
        from core import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
