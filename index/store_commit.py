"""Committing to the index: add, replace and remove documents so that a crash at any step leaves the previous
state readable, and two writers in two processes both land.

Commit protocol for a write (add, replace or remove):
  1. document records and chunks are upserted under content-addressed ids (invisible: no commit names them);
  2. the writer reads the newest generation G, applies its change to G's document map and adds the record
     `gen-(G+1)`; Chroma keeps the first record under an id, so reading back its own token means it won
     <- the commit point (compare-and-set). A writer that lost re-reads the head, re-applies its change on
     top of the winner's and retries (bounded; then StoreBusyError, a retryable error), so two concurrent
     writers both land and neither overwrites the other;
  3. after the commit: the head hint moves forward, chunks and records the new generation no longer names
     are deleted, commits far behind are forgotten.
Records left by a writer that died before its commit are invisible; `repair` deletes those older than
`grace_s` (younger ones may belong to a write still in flight in another process).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Callable

import numpy as np

from core.errors import IndexMissingError, StorageError, StoreBusyError
from core.settings import DEFAULT_COLLECTION
from core.types import Chunk, Document
from index.manifest import SCHEMA_VERSION, DocEntry, check_compatible
from index.pages import to_metadata
from index.quarantine import flag_spans, spans_in
from index.sentence_vectors import SentenceVectors
from index.shared import Head, new_token, record_id
from index.store_read import StoreReader


def _spans_meta(flagged: list[tuple[int, int]], c: Chunk) -> str:
    """The chunk's quarantined sentence spans, relative to the chunk, as "s-e;s-e" (Chroma metadata is flat)."""
    return ";".join(f"{s}-{e}" for s, e in spans_in(flagged, c.start, c.end))


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class StoreCommitter(StoreReader):
    """The write side of IndexStore: every change is one compare-and-set commit of a new generation."""

    chroma_url: str
    grace_s: float
    _swept: float
    lost_races: int

    def destroy(self) -> None:
        """Delete the whole index (the server-side collections too), for a rebuild."""
        with self._lock:
            if self.chroma_url or self.shared.local_path.exists():
                self.shared.drop()
            # not the chroma folder: deleting the files under Chroma's cached client for this path made the
            # rebuild fail with "attempt to write a readonly database"
            for name in ("manifest.json", "docs", "bm25"):
                p = self.index_dir / name
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
            self._snap, self._cache = None, {}

    def initialize(self, config: dict) -> None:
        """Create an empty index recording what builds it (no-op when one exists); refuses another config."""
        with self._lock:
            head = self._load_head()
            if head is None:
                cfg = {**config, "schema_version": SCHEMA_VERSION}
                head = self.shared.claim(None, {}, cfg, new_token()) or self.shared.head()
                assert head is not None
            check_compatible(head.config, config, self.shared.where)
            self._install(head)
            if time.monotonic() - self._swept > 60:
                self.repair()

    def write(self, items: list[tuple[Document, list[Chunk], np.ndarray]], kinds: dict[str, str] | None = None) -> None:
        """Add or replace documents (with their chunks and embeddings) in one commit."""
        if not items:
            return
        kinds = kinds or {}
        with self._lock:
            self._snapshot()
            put: dict[str, str] = {}
            records = []
            for doc, chunks, vecs in items:
                if len(chunks) != len(vecs):
                    raise ValueError("one embedding per chunk is required")
                entry = DocEntry(doc.doc_id, doc.title, doc.source, doc.content_hash, kinds.get(doc.doc_id, ""),
                                 [(c.start, c.end) for c in chunks],
                                 {k: v for k, v in doc.meta.items() if k not in ("kind", "collection")},
                                 flag_spans(doc.text), doc.meta.get("collection") or DEFAULT_COLLECTION)
                rid = record_id(entry, text_sha(doc.text))
                records.append((rid, entry, doc.text))
                self._cache[rid] = (entry, doc.text)
                put[doc.doc_id] = rid
            self._ensure_room(records, items)
            self.shared.put_docs(records)  # before the chunks: a record with no chunks yet is never committed
            for (_, entry, _), (_, chunks, vecs) in zip(records, items, strict=True):
                self._upsert(entry, chunks, vecs)
            self._commit(lambda current: {**current, **put})

    def _ensure_room(self, records: list[tuple[str, DocEntry, str]], items: list) -> None:
        """Embedded Chroma blocks forever on a full disk instead of failing, so refuse before writing."""
        if self.shared.chroma_url:
            return
        texts = sum(len(text.encode()) for _, _, text in records)
        vectors = sum(np.asarray(vecs).nbytes for _, _, vecs in items)
        # the text twice (document record, chunk documents) and its full-text index, the vectors in the WAL and
        # the HNSW segment, plus headroom for SQLite's journal
        needed = 4 * texts + 3 * vectors + (32 << 20)
        where = self.shared.local_path if self.shared.local_path.exists() else self.shared.local_path.parent
        try:
            free = shutil.disk_usage(where).free
        except OSError:
            return
        if free < needed:
            raise StorageError(
                f"not enough free disk space for this write in {where} (about {needed >> 20} MB needed, "
                f"{free >> 20} MB free): free up space or move RAG_DATA_DIR, then add the documents again; "
                "nothing was changed")

    def _upsert(self, entry: DocEntry, chunks: list[Chunk], vecs: np.ndarray) -> None:
        batch = self.shared.max_batch()
        now = time.time()
        with self.shared.call() as cols:
            for b in range(0, len(chunks), batch):
                part = chunks[b:b + batch]
                cols["chunks"].upsert(
                    ids=[entry.chunk_id(c.ordinal) for c in part],
                    embeddings=np.asarray(vecs[b:b + batch], dtype=np.float32),
                    documents=[c.text for c in part],
                    metadatas=[{"doc_id": c.doc_id, "title": c.title, "ordinal": c.ordinal, "start": c.start,
                                "end": c.end, "content_hash": entry.content_hash, "collection": entry.collection,
                                "written_at": now,
                                "quarantined": _spans_meta(entry.quarantined, c),
                                **to_metadata(c.page, c.page_breaks)} for c in part],
                )

    def remove(self, doc_id: str) -> None:
        def drop(records: dict[str, str]) -> dict[str, str]:
            if doc_id not in records:
                raise KeyError(doc_id)
            return {k: v for k, v in records.items() if k != doc_id}

        with self._lock:
            self._snapshot()
            self._commit(drop)

    def _commit(self, change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        """Apply `change` to the newest generation's document map and commit it as the next (compare-and-set)."""
        token, deadline, tries = new_token(), time.monotonic() + self.commit_timeout_s, 0
        at = self._snap.manifest.generation if self._snap is not None else 0
        while True:
            parent = self.shared.head(at_least=at)
            if parent is None:
                raise IndexMissingError(f"the index in {self.shared.where} was deleted meanwhile: "
                                        "rebuild it with `python -m index build`")
            new = self.shared.claim(parent, change(dict(parent.records)), parent.config, token)
            if new is not None:
                break
            tries += 1
            self.lost_races += 1
            if time.monotonic() > deadline:
                raise StoreBusyError(
                    f"other writers committed to {self.shared.where} {tries} times while this write tried to: "
                    "nothing of it is visible; retry the same command (already-written parts are reused)")
            at = parent.generation
            time.sleep(random.uniform(0.005, 0.03) * min(tries, 10))  # jitter: racing writers spread out
        self._after_commit(parent, new)

    def _after_commit(self, parent: Head, new: Head) -> None:
        """Read the new generation, then delete what it superseded (best effort: repair finishes the job)."""
        gone = [r for r in set(parent.records.values()) - set(new.records.values())]
        old = self._entries({r: r for r in gone}, text=True)
        self._install(new)
        live = set(self._snap.chunks) if self._snap else set()
        dead = sorted({cid for e, _ in old.values() for cid in e.chunk_ids()} - live)
        self.shared.advance_hint(new.generation)
        if dead:
            self.shared.delete("chunks", dead)
        if gone:
            self.shared.delete("docs", sorted(gone))
            chunk_texts = [t[s:e] for en, t in old.values() if t for s, e in en.spans]
            SentenceVectors(self.shared).drop_unused(chunk_texts, self._snap.texts.values() if self._snap else ())

    # ------------------------------------------------------------------ repair
    def repair(self) -> list[str]:
        """Delete records no generation names that are older than grace_s (interrupted writes). Returns what was fixed."""
        with self._lock:
            self._swept = time.monotonic()
            head = self.shared.head()
            if head is None:
                return []
            self._install(head)
            assert self._snap is not None
            cutoff, fixed = time.time() - self.grace_s, []
            for role, live in (("chunks", set(self._snap.chunks)), ("docs", set(head.records.values()))):
                orphans = self.shared.older_than(role, sorted(self.shared.ids(role) - live), cutoff)
                if orphans:
                    self.shared.delete(role, orphans)
                    fixed.append(f"removed {len(orphans)} orphan {role} records from Chroma")
            return fixed
