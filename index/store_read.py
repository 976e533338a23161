"""Reading the index: the generation this process sees, refreshed from the commit log, and search over it.

Readers check at most once per `refresh_s` (1 s) on the query path whether a newer generation exists (one
Chroma call) and then load it (new document records only) and rebuild BM25. Nothing in the data directory
is needed to read the index; the local bm25s files are a per-process cache, rebuilt from the documents
whenever the generation differs. An index of layout 1 (manifest.json + docs/) is migrated into the store on
open, and one of schema 1 (before collections) is upgraded (index.migration).

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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import IndexMissingError
from core.settings import DEFAULT_COLLECTION
from core.types import Chunk, Document
from index.keyword import KeywordIndex
from index.manifest import DocEntry, Manifest, check_compatible
from index.migration import migrate_layout_1, upgrade_schema
from index.pages import chunk_pages
from index.shared import Head, SharedState


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


@dataclass(frozen=True)
class Snapshot:
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



class StoreReader:
    """The read side of IndexStore (index.store builds the state): one consistent generation per query."""

    index_dir: Path
    shared: SharedState
    refresh_s: float
    commit_timeout_s: float
    _snap: Snapshot | None
    _cache: dict[str, tuple[DocEntry, str | None]]  # record id -> (entry, text); records are immutable
    _checked: float
    _lock: threading.RLock

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

    def _snapshot(self) -> Snapshot:
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
        self._snap = Snapshot(m, dict(head.records), texts, chunks, kw, missing, present)
        self._checked = time.monotonic()

    # ------------------------------------------------------------------ reading
    def get_chunk(self, chunk_id: str, snap: Snapshot | None = None) -> Chunk:
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
