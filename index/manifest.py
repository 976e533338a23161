"""The manifest: what built the index, which documents it holds, and their chunk spans.

Since layout 2 the truth lives in Chroma (index.shared: one commit record per generation); a `Manifest` is
the in-memory snapshot of one generation. The JSON file form (manifest.json) is the layout-1 format, read
only to migrate an old index into the store.
DocEntry is serialised generically (every dataclass field), so a field added later travels unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path

from core.errors import IndexCorruptError, IndexMismatchError
from core.settings import DEFAULT_COLLECTION

# 2: documents belong to a named collection (DocEntry.collection), and chunks carry it in their Chroma metadata.
# A version-1 index (one pile) is migrated on open, whichever layout it has: its documents become collection
# "default" (index.store).
SCHEMA_VERSION = 2
# config keys added after indexes were built without them: the value those indexes implicitly have
LEGACY_CONFIG = {"embed_variant": "torch"}
# embedder variants whose vectors are interchangeable (tests/test_embedding_onnx.py: cosine >= 0.9999)
SAME_VECTORS = {"torch": "fp32", "onnx-fp32": "fp32"}


def same_config_value(key: str, built: object, expect: object) -> bool:
    if key == "embed_variant":
        return SAME_VECTORS.get(str(built), built) == SAME_VECTORS.get(str(expect), expect)
    return built == expect


@dataclass
class DocEntry:
    doc_id: str
    title: str
    source: str
    content_hash: str
    kind: str
    spans: list[tuple[int, int]]  # chunk ordinal -> (start, end) in the cleaned text
    meta: dict = field(default_factory=dict)  # e.g. {"bundled": true, "invisible_chars_removed": 3}
    quarantined: list[tuple[int, int]] = field(default_factory=list)  # index.quarantine sentence spans
    collection: str = DEFAULT_COLLECTION  # records written before collections lack it: they are in "default"

    def chunk_id(self, ordinal: int) -> str:
        return f"{self.doc_id}::{self.content_hash[:12]}::{ordinal:05d}"

    def chunk_ids(self) -> list[str]:
        return [self.chunk_id(i) for i in range(len(self.spans))]

    @cached_property  # read on every get_chunk (tens per query): compute the safe name once
    def text_file(self) -> str:
        return f"{_safe(self.doc_id)}--{self.content_hash[:16]}.txt"


def entry_to_dict(e: DocEntry) -> dict:
    """Every field of the entry (generic: a field added to DocEntry is carried without listing it here)."""
    return {f.name: getattr(e, f.name) for f in fields(e)}


def entry_from_dict(raw: dict) -> DocEntry:
    """The inverse of entry_to_dict; list-of-pairs fields become tuples again, unknown keys are kept out."""
    kw = {}
    for f in fields(DocEntry):
        if f.name not in raw:
            continue
        v = raw[f.name]
        if str(f.type).startswith("list[tuple") and isinstance(v, list):
            v = [tuple(x) for x in v]
        kw[f.name] = v
    return DocEntry(**kw)


def _safe(doc_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id)[:120]


@dataclass
class Manifest:
    config: dict  # schema_version, embed_model, dimension, chunker settings
    generation: int = 0
    documents: dict[str, DocEntry] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "config": self.config,
                "generation": self.generation,
                "documents": {k: {f: v for f, v in entry_to_dict(d).items() if f != "doc_id"}
                              for k, d in self.documents.items()},
            },
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text("utf-8"))
            docs = {k: entry_from_dict({"kind": "", **v, "meta": v.get("meta") or {}, "doc_id": k})
                    for k, v in raw["documents"].items()}
            return cls(config=raw["config"], generation=int(raw["generation"]), documents=docs)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexCorruptError(
                f"index manifest {path} is unreadable ({e}): rebuild with `python -m index build --rebuild`"
            ) from e

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
def check_compatible(built: dict, expect: dict, where: Path | str) -> None:
    """Refuse an index built by another model, dimension, chunker or schema."""
    if built.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"the index in {where} has schema version {built.get('schema_version')}, this version needs "
            f"{SCHEMA_VERSION}: rebuild it with `python -m index build --rebuild`"
        )
    built = {**LEGACY_CONFIG, **built}
    diffs = [f"{k}: index has {built.get(k)!r}, settings ask for {v!r}" for k, v in expect.items()
             if k != "schema_version" and not same_config_value(k, built.get(k), v)]
    if diffs:
        hint = (f" (RAG_EMBED_BACKEND={built['embed_variant']})" if "embed_variant" in expect
                and not same_config_value("embed_variant", built["embed_variant"], expect["embed_variant"]) else "")
        raise IndexMismatchError(
            f"the index in {where} was built with other settings ({'; '.join(diffs)}): rebuild it with "
            f"`python -m index build --rebuild`, or use the settings it was built with{hint}"
        )
