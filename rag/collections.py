"""Collections: which set of documents a question is asked of.

Only the default collection exists today (issue 12 adds named ones). Every edge that accepts a collection
name (the OpenAI model name, MCP tools, the LangChain runnable) resolves it here, so adding collections
changes this module and the composition root, not the edges.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import UnknownCollectionError

DEFAULT_COLLECTION = "default"


def resolve_collection(name: str | None, known: Iterable[str] = (DEFAULT_COLLECTION,)) -> str:
    """The collection's name; None or "" means the default. Raises UnknownCollectionError naming the choices."""
    if name is None or not str(name).strip():
        return DEFAULT_COLLECTION
    name = str(name).strip()
    choices = list(known)
    if name not in choices:
        raise UnknownCollectionError(
            f"collection {name!r} does not exist; available: {', '.join(choices)}. "
            "Leave the collection out to ask the default one")
    return name
