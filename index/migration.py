"""Bringing older indexes up to date on open, so an upgrade never needs a rebuild.

Two old shapes exist:
  - layout 1: manifest.json + docs/*.txt in the data dir, chunks already in Chroma (before the store became
    the truth). Its documents are copied into Chroma records and committed as the first generation.
  - schema 1: Chroma records without collections. Chunks get `collection` in their metadata first (a Chroma
    `where` never matches a missing key), then the same document map is committed as this schema: the
    commit is the point where the migration takes effect, and repeating it after a crash is harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from core.errors import IndexCorruptError, IndexMissingError, StoreBusyError
from index.manifest import SCHEMA_VERSION, DocEntry, Manifest, check_compatible
from index.shared import Head, SharedState, new_token, record_id


def migrate_layout_1(shared: SharedState, manifest_path: Path, docs_dir: Path) -> Head:
    """Move a layout-1 index into the store; its chunks are labelled with their collection first, so one
    commit also brings schema 1 up to date. The old files stay, renamed, until the user deletes them."""
    m = Manifest.load(manifest_path)
    if m.config.get("schema_version") not in (1, SCHEMA_VERSION):
        check_compatible(m.config, {}, manifest_path.parent)  # a newer manifest: says to rebuild
    records: dict[str, str] = {}
    for doc_id, e in m.documents.items():
        try:
            text = (docs_dir / e.text_file).read_text("utf-8")
        except OSError as err:
            raise IndexCorruptError(
                f"cannot migrate the index in {manifest_path.parent}: document text {e.text_file} is missing "
                f"({err.strerror}); rebuild it with `python -m index build --rebuild`") from err
        rid = record_id(e, hashlib.sha256(text.encode()).hexdigest())
        shared.put_docs([(rid, e, text)])
        records[doc_id] = rid
    label_chunks(shared, [(e, None) for e in m.documents.values()])  # schema 1 chunks have no collection
    config = {**m.config, "schema_version": SCHEMA_VERSION}
    head = shared.claim(None, records, config, new_token()) or shared.head()
    assert head is not None
    with contextlib.suppress(OSError):
        manifest_path.rename(manifest_path.with_name("manifest.json.migrated"))
    return head


def upgrade_schema(shared: SharedState, head: Head, entries_of: Callable[[Head], Iterable[tuple[DocEntry, object]]],
                   timeout_s: float) -> Head:
    """`head`, or the generation that migrates it from schema 1 (before collections) to this schema.

    Losing the commit race re-reads the head and labels its chunks too (an old-version writer may have added
    chunks without the field meanwhile)."""
    version = head.config.get("schema_version")
    if version != 1:
        if isinstance(version, int) and version > SCHEMA_VERSION:
            check_compatible(head.config, {}, shared.where)  # says to upgrade or rebuild
        return head
    token, deadline = new_token(), time.monotonic() + timeout_s
    while head.config.get("schema_version") == 1:
        label_chunks(shared, entries_of(head))
        new = shared.claim(head, head.records, {**head.config, "schema_version": SCHEMA_VERSION}, token)
        if new is not None:
            shared.advance_hint(new.generation)
            return new
        if time.monotonic() > deadline:
            raise StoreBusyError(f"other writers kept committing to {shared.where} while this process "
                                 "migrated it to collections: retry the same command")
        newer = shared.head(at_least=head.generation)
        if newer is None:
            raise IndexMissingError(f"the index in {shared.where} was deleted meanwhile: "
                                    "rebuild it with `python -m index build`")
        head = newer
    return head


def label_chunks(shared: SharedState, entries: Iterable[tuple[DocEntry, object]]) -> None:
    """Set each entry's collection in the Chroma metadata of its chunks (other keys are kept)."""
    ids = {cid: e.collection for e, _ in entries for cid in e.chunk_ids()}
    batch = shared.max_batch()
    order = sorted(ids)
    with shared.call() as cols:
        for b in range(0, len(order), batch):
            part = cols["chunks"].get(ids=order[b:b + batch], include=[])["ids"]
            if part:  # chunks missing from Chroma stay missing; `index verify` reports them
                cols["chunks"].update(ids=part, metadatas=[{"collection": ids[c]} for c in part])
