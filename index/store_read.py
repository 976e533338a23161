"""Write/read stage: the index lives in Chroma (embedded PersistentClient or a server), one code path for both.

The store is the truth (layout in index.shared): a chunks collection, a documents collection (one immutable
record per document version: the cleaned text and every DocEntry field) and a commit log, one record per
generation mapping doc_id -> document record. Nothing in the data directory is needed to read the index; the
local bm25s files are a per-process cache, rebuilt from the documents whenever the generation differs.

Commit protocol for a write (add, replace or remove), so a crash at any step leaves the previous state readable:
  1. document records and chunks are upserted under content-addressed ids (invisible: no commit names them);
  2. the writer reads the newest generation G, applies its change to G's document map and adds the record
     `gen-(G+1)`; Chroma keeps the first record under an id, so reading back its own token means it won
     <- the commit point (compare-and-set). A writer that lost re-reads the head, re-applies its change on
     top of the winner's and retries (bounded; then StoreBusyError, a retryable error), so two concurrent
     writers both land and neither overwrites the other;
  3. after the commit: the head hint moves forward, chunks and records the new generation no longer names
     are deleted, commits far behind are forgotten.
Readers check at most once per `refresh_s` (1 s) on the query path whether a newer generation exists (one
Chroma call) and then load it (new document records only) and rebuild BM25. Records left by a writer that
died before its commit are invisible; `repair` deletes those older than `grace_s` (younger ones may belong
to a write still in flight in another process). An index of layout 1 (manifest.json + docs/) is migrated into
the store on open. A failed Chroma call drops the connection, raises StoreUnavailableError, and the next
call reconnects (a restarted server is picked up without restarting the app).

Collections: every document belongs to one (DocEntry.collection, in its document record) and every chunk
carries it in its Chroma metadata. A search given `collections` sees only those: Chroma applies a `where`
filter before ranking, and BM25 zeroes the other chunks' scores before taking its top n (bm25s weight_mask),
so neither side can return another collection's chunk nor come back empty while the chosen collections have
matches. An index of schema 1 (before collections; either layout) is migrated on open: its chunks gain
collection "default" in Chroma first, then a new generation records schema 2 (the commit point; a crash in
between just migrates again). Its document records stay as written: a record without the field is "default".
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import IndexMissingError, StorageError, StoreBusyError
from core.settings import DEFAULT_COLLECTION
from core.types import Chunk, Document
from index.keyword import KeywordIndex
from index.manifest import SCHEMA_VERSION, DocEntry, Manifest, check_compatible
from index.migration import migrate_layout_1, upgrade_schema
from index.pages import chunk_pages, to_metadata
from index.quarantine import flag_spans, spans_in
from index.shared import Head, SharedState, new_token, record_id


class DenseSearch(Protocol):
    def dense_search(self, query_vec: np.ndarray, n: int,
                     collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """The n chunks nearest to an L2-normalised query vector, with cosine similarity, best first.
        `collections`: only chunks of documents in these collections (None: all)."""
        ...


class KeywordSearch(Protocol):
    def bm25_search(self, query: str, n: int,
                    collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """The n chunks with the highest BM25 score for `query`, best first (only in `collections`)."""
        ...


class ChunkSearch(DenseSearch, KeywordSearch, Protocol):
    """The read side of an index, all the answer path may see of it."""


@dataclass(frozen=True)
class DocInfo:
    doc_id: str
    title: str
    source: str
    content_hash: str
    kind: str
    n_chunks: int
    meta: dict = field(default_factory=dict)
    quarantined: int = 0  # sentences addressed to AI assistants (index.quarantine), set aside as evidence
    collection: str = DEFAULT_COLLECTION

    @property
    def bundled(self) -> bool:
        """Shipped with the app (marked in the manifest when indexed from the bundled corpus)."""
        return bool(self.meta.get("bundled"))


def _spans_meta(flagged: list[tuple[int, int]], c: Chunk) -> str:
    """The chunk's quarantined sentence spans, relative to the chunk, as "s-e;s-e" (Chroma metadata is flat)."""
    return ";".join(f"{s}-{e}" for s, e in spans_in(flagged, c.start, c.end))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Snap:
    """One generation as this process sees it; replaced whole, so a query reads one consistent generation."""

    manifest: Manifest
    records: dict[str, str]  # doc_id -> document record id
    texts: dict[str, str]  # doc_id -> cleaned text
    chunks: dict[str, tuple[str, int]]  # chunk_id -> (doc_id, ordinal)
    keyword: KeywordIndex
    missing: tuple[str, ...] = ()  # documents whose record could not be read (reported by verify)
    present: frozenset[str] = frozenset()  # the collections holding documents
    masks: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)  # BM25 weight masks, per collections

    def ordered_ids(self) -> list[str]:
        return [cid for e in self.manifest.documents.values() for cid in e.chunk_ids()]

    def narrows(self, collections: tuple[str, ...] | None) -> bool:
        """Whether `collections` leaves out a collection of this generation (if not, filtering is a no-op:
        Chroma's `where` made dense queries about 3.5x slower, 2.29 vs 0.65 ms on 1,100 chunks,
        docs/collections.md)."""
        return collections is not None and not self.present <= set(collections)

    def mask(self, collections: tuple[str, ...]) -> np.ndarray:
        """1.0 for the BM25 rows whose document is in `collections`, else 0.0 (cached for this generation)."""
        key = tuple(sorted(collections))
        got = self.masks.get(key)
        if got is None:
            docs, wanted = self.manifest.documents, set(collections)
            got = np.fromiter((1.0 if cid in self.chunks and docs[self.chunks[cid][0]].collection in wanted
                               else 0.0 for cid in self.keyword.ids), dtype=np.float32, count=len(self.keyword.ids))
            self.masks[key] = got
        return got


class IndexStore:
    """The index. A commit record in Chroma is the truth: chunk ids it does not name are invisible to search."""

    def __init__(self, index_dir: Path, *, chroma_url: str = "", collection: str = "chunks",
                 refresh_s: float = 1.0, grace_s: float = 600.0, commit_timeout_s: float = 30.0) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.collection_name = collection
        self.shared = SharedState(self.index_dir / "chroma", chroma_url, collection)
        self.refresh_s = refresh_s  # how often the query path asks whether another process committed
        self.grace_s = grace_s  # uncommitted records younger than this may be another writer's, in flight
        self.commit_timeout_s = commit_timeout_s
        self._snap: _Snap | None = None
        self._cache: dict[str, tuple[DocEntry, str | None]] = {}  # record id -> (entry, text); records are immutable
        self._checked = 0.0
        self._swept = 0.0
        self._lock = threading.RLock()
        self.lost_races = 0  # commits this process had to retry because another writer committed first

    # ------------------------------------------------------------------ paths
    @property
    def manifest_path(self) -> Path:
        """The layout-1 manifest: only read to migrate an old index into the store."""
        return self.index_dir / "manifest.json"

    @property
    def docs_dir(self) -> Path:
        return self.index_dir / "docs"

    @property
    def bm25_dir(self) -> Path:
        return self.index_dir / "bm25"

    def exists(self) -> bool:
        if self._snap is not None or self.manifest_path.is_file():
            return True
        if self.shared.local_missing():
            return False
        return self.shared.head() is not None

    def _chroma_call(self):
        """The chunks collection for one call (reconnects after a failure)."""
        return _ChunksCall(self.shared)

    # ------------------------------------------------------------------ open / refresh
    def open(self, expect: dict | None = None) -> None:
        """Load the newest generation (and BM25). Raise when missing, or when built with other settings."""
        with self._lock:
            head = self._load_head()
            if head is None:
                raise IndexMissingError(
                    f"no index in {self.shared.where}: build it with `python -m index build` (bundled documents) "
                    "or `python -m index add PATH`"
                )
            if expect is not None:
                check_compatible(head.config, expect, self.shared.where)
            self._install(head)

    def _load_head(self) -> Head | None:
        head = None if self.shared.local_missing() else self.shared.head()
        if head is None and self.manifest_path.is_file():
            head = migrate_layout_1(self.shared, self.manifest_path, self.docs_dir)
        return self._upgraded(head) if head is not None else None

    def _upgraded(self, head: Head) -> Head:
        return upgrade_schema(self.shared, head, lambda h: self._entries(h.records, text=False).values(),
                              self.commit_timeout_s)

    def _snapshot(self) -> _Snap:
        """The current generation, re-checked against the store at most once per refresh_s."""
        snap = self._snap
        if snap is None:
            self.open()
            assert self._snap is not None
            return self._snap
        if time.monotonic() - self._checked >= self.refresh_s:
            with self._lock:
                if time.monotonic() - self._checked >= self.refresh_s:
                    self._checked = time.monotonic()
                    if self.shared.changed_since(snap.manifest.generation):
                        self.shared.reload()
                        head = self.shared.head(at_least=snap.manifest.generation)
                        if head is None:
                            self._snap = None
                            self.open()
                        else:
                            self._install(self._upgraded(head))
        assert self._snap is not None
        return self._snap

    @property
    def manifest(self) -> Manifest:
        return self._snapshot().manifest

    def _entries(self, records: dict[str, str], *, text: bool) -> dict[str, tuple[DocEntry, str | None]]:
        """Document records by id, from the cache or one batched fetch; missing ones are left out."""
        want = [r for r in records.values() if r not in self._cache or (text and self._cache[r][1] is None)]
        if want:
            self._cache.update(self.shared.get_docs(want, text=text))
        return {r: self._cache[r] for r in records.values() if r in self._cache}

    def _install(self, head: Head) -> None:
        """Make `head` the generation this process reads; BM25 comes from the local cache when it matches."""
        got = self._entries(head.records, text=True)
        docs = {d: got[r][0] for d, r in head.records.items() if r in got}
        texts = {d: got[r][1] or "" for d, r in head.records.items() if r in got}
        missing = tuple(sorted(d for d, r in head.records.items() if r not in got))
        m = Manifest(config=head.config, generation=head.generation, documents=docs)
        present = frozenset(e.collection for e in docs.values())
        chunks = {e.chunk_id(i): (d, i) for d, e in docs.items() for i in range(len(e.spans))}
        ids = [cid for e in docs.values() for cid in e.chunk_ids()]
        kw = self._snap.keyword if self._snap is not None else KeywordIndex.load(self.bm25_dir)
        if kw is None or kw.ids != ids:
            kw = KeywordIndex.build(ids, [texts[d][s:t] for d, e in docs.items() for s, t in e.spans],
                                    head.generation)
            with contextlib.suppress(OSError):  # a cache: a read-only data dir keeps it in memory only
                self.index_dir.mkdir(parents=True, exist_ok=True)
                kw.save(self.bm25_dir)
        kw.generation = head.generation
        live = set(head.records.values())
        self._cache = {r: v for r, v in self._cache.items() if r in live}
        self._snap = _Snap(m, dict(head.records), texts, chunks, kw, missing, present)
        self._checked = time.monotonic()

    # ------------------------------------------------------------------ reading
    def get_chunk(self, chunk_id: str, snap: _Snap | None = None) -> Chunk:
        snap = snap or self._snapshot()
        doc_id, i = snap.chunks[chunk_id]
        e = snap.manifest.documents[doc_id]
        s, t = e.spans[i]
        return Chunk(chunk_id=chunk_id, doc_id=doc_id, title=e.title, ordinal=i, start=s, end=t,
                     text=snap.texts[doc_id][s:t], **chunk_pages(e.meta.get("page_starts"), s, t))

    def has_chunk(self, chunk_id: str) -> bool:
        return chunk_id in self._snapshot().chunks

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        snap = self._snapshot()
        e = snap.manifest.documents[doc_id]
        return [self.get_chunk(e.chunk_id(i), snap) for i in range(len(e.spans))]

    def document(self, doc_id: str) -> Document:
        snap = self._snapshot()
        e = snap.manifest.documents.get(doc_id)
        if e is None:
            raise KeyError(doc_id)
        return Document(doc_id=doc_id, title=e.title, source=e.source, text=snap.texts[doc_id],
                        content_hash=e.content_hash,
                        meta={**e.meta, "kind": e.kind, "quarantined": len(e.quarantined), "collection": e.collection})

    def documents(self) -> list[DocInfo]:
        return [DocInfo(d, e.title, e.source, e.content_hash, e.kind, len(e.spans), dict(e.meta), len(e.quarantined),
                        e.collection)
                for d, e in self._snapshot().manifest.documents.items()]

    def collections(self) -> list[str]:
        """The collections that hold at least one document, sorted."""
        return sorted(self._snapshot().present)

    def count(self) -> int:
        return len(self._snapshot().chunks)

    def dense_search(self, query_vec: np.ndarray, n: int,
                     collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """Top-n chunks by cosine similarity (higher is better), only in `collections` when given."""
        snap = self._snapshot()
        total = len(snap.chunks)
        if total == 0 or n <= 0 or (collections is not None and not collections):
            return []
        q = np.asarray(query_vec, dtype=np.float32).reshape(1, -1)
        where = None if not snap.narrows(collections) else (
            {"collection": collections[0]} if len(collections) == 1 else {"collection": {"$in": list(collections)}})
        # ask for a few extra: uncommitted chunks of a write in flight (or interrupted) may be nearer
        with self.shared.call() as cols:
            res = cols["chunks"].query(query_embeddings=q, n_results=min(n + 8, total + 8), where=where,
                                       include=["distances"])
        out = [(self.get_chunk(cid, snap), 1.0 - float(dist))
               for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True) if cid in snap.chunks]
        return out[:n]

    def bm25_search(self, query: str, n: int,
                    collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """Top-n chunks by BM25 score (higher is better); empty when no query term is in the corpus.
        With `collections`, other chunks score 0 before the top n is taken (a filtered query)."""
        snap = self._snapshot()
        if collections is not None and not collections:
            return []
        mask = snap.mask(collections) if snap.narrows(collections) else None
        return [(self.get_chunk(cid, snap), s) for cid, s in snap.keyword.search(query, n, mask=mask)
                if cid in snap.chunks]

    # ------------------------------------------------------------------ writing
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
                rid = record_id(entry, _sha(doc.text))
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
        old = self._entries({r: r for r in gone}, text=False)
        self._install(new)
        live = set(self._snap.chunks) if self._snap else set()
        dead = sorted({cid for e, _ in old.values() for cid in e.chunk_ids()} - live)
        self.shared.advance_hint(new.generation)
        if dead:
            self.shared.delete("chunks", dead)
        if gone:
            self.shared.delete("docs", sorted(gone))

    # ------------------------------------------------------------------ repair / verify
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

    def verify(self) -> list[str]:
        """Problems found; an empty list means the commit, the documents, Chroma's chunks and BM25 agree."""
        with self._lock:
            self._snap = None
            snap = self._snapshot()
        problems = [f"{d}: its document record is missing from Chroma: re-add the document" for d in snap.missing]
        stored = self.shared.ids("chunks")
        live = set(snap.chunks)
        if live - stored:
            problems.append(f"{len(live - stored)} chunks of the committed generation are missing from Chroma: "
                            "re-add their documents")
        old = self.shared.older_than("chunks", sorted(stored - live), time.time() - self.grace_s)
        if old:
            problems.append(f"{len(old)} Chroma chunks are in no generation (orphans): the next write removes them")
        problems += self._collection_problems(snap, sorted(live & stored))
        if snap.keyword.ids != snap.ordered_ids():
            problems.append(f"BM25 index is stale (generation {snap.manifest.generation})")
        for doc_id, e in snap.manifest.documents.items():
            text = snap.texts[doc_id]
            if _sha(text) != e.content_hash:
                problems.append(f"{doc_id}: document text does not match its content hash")
            if any(not (0 <= s < t <= len(text)) for s, t in e.spans):
                problems.append(f"{doc_id}: a chunk span lies outside the document")
        return problems


    def _collection_problems(self, snap: _Snap, ids: list[str]) -> list[str]:
        """A chunk whose Chroma metadata names another collection than its document would be seen from there."""
        wrong = 0
        with self.shared.call() as cols:
            for b in range(0, len(ids), 2000):
                got = cols["chunks"].get(ids=ids[b:b + 2000], include=["metadatas"])
                wrong += sum((meta or {}).get("collection")
                             != snap.manifest.documents[snap.chunks[cid][0]].collection
                             for cid, meta in zip(got["ids"], got["metadatas"], strict=True))
        return [f"{wrong} Chroma chunks are filed under another collection than their document's: rebuild with "
                "`python -m index build --rebuild`"] if wrong else []


class _ChunksCall:
    """`with store._chroma_call() as col:` -> the chunks collection (kept for tests and tools)."""

    def __init__(self, shared: SharedState) -> None:
        self._cm = shared.call()

    def __enter__(self):
        return self._cm.__enter__()["chunks"]

    def __exit__(self, *exc) -> bool | None:
        return self._cm.__exit__(*exc)
