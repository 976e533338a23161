"""Collections: which sets of documents a question is asked of (docs/collections.md).

A collection exists once a document is added into it (`python -m index add PATH --collection NAME`, or an
upload in the page); "default" always exists. Every edge that accepts collection names (the CLI, the page,
the OpenAI model name, MCP tools, the LangChain runnable) resolves them here against the index's current
list, so an unknown name is refused with the choices instead of silently answering from nothing. The store
enforces the choice (index.store: a Chroma `where` filter and a BM25 weight mask).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.errors import ConfigError, UnknownCollectionError
from core.settings import DEFAULT_COLLECTION, collection_names

__all__ = ["DEFAULT_COLLECTION", "resolve_collection", "resolve_collections"]


def resolve_collections(names: str | Sequence[str] | None, known: Iterable[str],
                        default: Sequence[str] = (DEFAULT_COLLECTION,)) -> tuple[str, ...]:
    """Checked names, in the order given; None, "" or [] mean `default` (settings.collection_names).
    Raises UnknownCollectionError naming the choices (a malformed name is unknown too)."""
    choices = sorted({DEFAULT_COLLECTION, *known})
    raw = names if names else default
    try:
        wanted = collection_names(raw if isinstance(raw, str) else tuple(raw))
    except ConfigError as e:
        raise UnknownCollectionError(f"{e}; available: {', '.join(choices)}") from e
    missing = [n for n in wanted if n not in choices]
    if missing:
        raise UnknownCollectionError(
            f"collection {missing[0]!r} does not exist; available: {', '.join(choices)}. "
            "Leave the collection out to ask the default one, or add documents into it first "
            f"(`python -m index add PATH --collection {missing[0]}`)")
    return wanted


def resolve_collection(name: str | None, known: Iterable[str] = (DEFAULT_COLLECTION,)) -> str:
    """One collection's name; None or "" means the default. Raises UnknownCollectionError naming the choices."""
    wanted = resolve_collections(name, known)
    if len(wanted) != 1:
        raise UnknownCollectionError(f"give one collection here, not {', '.join(wanted)}")
    return wanted[0]
