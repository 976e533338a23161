"""Write/read stage: a Chroma collection (embedded or server), a bm25s index and the manifest, kept consistent.

Commit protocol for a write, so a crash at any point leaves the previous index usable:
  1. cleaned document texts are written under new content-addressed names;
  2. new chunks are upserted to Chroma under new content-addressed ids (invisible: not in the manifest yet);
  3. the manifest is replaced atomically  <- the commit point;
  4. old chunk ids and texts are deleted, and BM25 is rebuilt for the new generation.
On open, anything left over from an interrupted write (orphan ids, stale BM25, unreferenced texts) is repaired.

Collections: every document belongs to one (DocEntry.collection) and every chunk carries it in its Chroma
metadata. A search given `collections` sees only those: Chroma applies a `where` filter before ranking, and
BM25 zeroes the other chunks' scores before taking its top n (bm25s weight_mask), so neither side can return
another collection's chunk nor come back empty while the chosen collections have matches.
A schema-1 index (before collections) is migrated on open: chunk metadata gains collection "default" first,
then the manifest is rewritten as schema 2 (the commit point; a crash in between just migrates again).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np

from core.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    RagError,
    StorageError,
    StoreUnavailableError,
)
from core.settings import DEFAULT_COLLECTION
from core.types import Chunk, Document
from index.keyword import KeywordIndex
from index.manifest import LEGACY_CONFIG, SCHEMA_VERSION, DocEntry, Manifest, same_config_value
from index.quarantine import flag_spans, spans_in


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


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class IndexStore:
    """The index on disk. The manifest is the truth: chunk ids it does not list are invisible to search."""

    def __init__(self, index_dir: Path, *, chroma_url: str = "", collection: str = "chunks") -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.collection_name = collection
        self._client = None
        self._collection = None
        self._manifest: Manifest | None = None
        self._keyword: KeywordIndex | None = None
        self._chunks: dict[str, tuple[str, int]] = {}  # chunk_id -> (doc_id, ordinal)
        self._texts: dict[str, str] = {}  # text file name (content-addressed) -> cleaned text, loaded on demand
        self._masks: dict[tuple[int, tuple[str, ...]], np.ndarray] = {}  # BM25 weight masks per collections
        self._present: frozenset[str] = frozenset()  # the collections holding documents
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ paths
    @property
    def manifest_path(self) -> Path:
        return self.index_dir / "manifest.json"

    @property
    def docs_dir(self) -> Path:
        return self.index_dir / "docs"

    @property
    def bm25_dir(self) -> Path:
        return self.index_dir / "bm25"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # ------------------------------------------------------------------ chroma
    def _chroma(self):
        if self._collection is not None:
            return self._collection
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        cs = ChromaSettings(anonymized_telemetry=False)
        try:
            if self.chroma_url:
                u = urlparse(self.chroma_url)
                self._client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                                   ssl=u.scheme == "https", settings=cs)
            else:
                self._client = chromadb.PersistentClient(path=str(self.index_dir / "chroma"), settings=cs)
            # embeddings are always passed in: no embedding function (Chroma's default would try to download one)
            self._collection = self._client.get_or_create_collection(
                self.collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as e:
            self._client = self._collection = None
            raise self._unavailable(e) from e
        return self._collection

    def _unavailable(self, e: Exception) -> RagError:
        if isinstance(e, RagError):
            return e
        where = self.chroma_url or str(self.index_dir / "chroma")
        hint = "start it with `chroma run --path DIR --host 127.0.0.1 --port N`" if self.chroma_url else \
            "check the data directory is readable and writable"
        return StoreUnavailableError(f"the Chroma store at {where} is unavailable ({type(e).__name__}: {e}); {hint}")

    @contextmanager
    def _chroma_call(self) -> Iterator:
        """Run a Chroma call; on failure drop the handle so the next call reconnects (server restarted)."""
        col = self._chroma()
        try:
            yield col
        except Exception as e:
            self._client = self._collection = None
            raise self._unavailable(e) from e

    # ------------------------------------------------------------------ open / manifest
    def open(self, expect: dict | None = None) -> None:
        """Load the manifest (and BM25). Raise when missing, or when built with other settings than `expect`."""
        with self._lock:
            if not self.exists():
                raise IndexMissingError(
                    f"no index in {self.index_dir}: build it with `python -m index build` (bundled documents) "
                    "or `python -m index add PATH`"
                )
            m = Manifest.load(self.manifest_path)
            if m.config.get("schema_version") == 1:
                m = self._migrate_v1()
            if expect is not None:
                check_compatible(m.config, expect, self.index_dir)
            self._set_manifest(m)
            kw = KeywordIndex.load(self.bm25_dir)
            if kw is None or kw.generation != m.generation or kw.ids != self._ordered_ids():
                kw = self._build_keyword(m)
                # a read-only data dir keeps the rebuilt index in memory only
                with contextlib.suppress(OSError):
                    kw.save(self.bm25_dir)
            self._keyword = kw

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self.open()
        assert self._manifest is not None
        return self._manifest

    def _set_manifest(self, m: Manifest) -> None:
        self._manifest = m
        self._chunks = {e.chunk_id(i): (d, i) for d, e in m.documents.items() for i in range(len(e.spans))}
        live = {e.text_file for e in m.documents.values()}
        self._texts = {k: v for k, v in self._texts.items() if k in live}
        self._masks = {}
        self._present = frozenset(e.collection for e in m.documents.values())

    def _narrows(self, collections: tuple[str, ...] | None) -> bool:
        """Whether `collections` leaves out a collection of this index (if not, filtering is a no-op: Chroma's
        `where` made dense queries about 3.6x slower, 2.2 vs 0.6 ms on 1,100 chunks, docs/collections.md)."""
        return collections is not None and not self._present <= set(collections)

    def _migrate_v1(self) -> Manifest:
        """Schema 1 -> 2: every document joins collection "default", and so do its chunks in Chroma."""
        try:
            return self._migrate_v1_locked()
        except StorageError as e:
            raise IndexMismatchError(
                f"the index in {self.index_dir} predates collections (schema 1) and is migrated once on open, "
                f"which needs write access ({e}): open it once with write access (`python -m index list`), "
                "or rebuild it with `python -m index build --rebuild`") from e

    def _migrate_v1_locked(self) -> Manifest:
        with self._write_lock():
            m = Manifest.load(self.manifest_path)
            if m.config.get("schema_version") != 1:
                return m  # another process migrated it meanwhile
            ids = [cid for e in m.documents.values() for cid in e.chunk_ids()]
            with self._chroma_call() as col:
                for b in range(0, len(ids), 2000):
                    part = col.get(ids=ids[b:b + 2000], include=[])["ids"]
                    if part:  # chunks missing from Chroma stay missing; `index verify` reports them
                        col.update(ids=part, metadatas=[{"collection": DEFAULT_COLLECTION}] * len(part))
            m.config = {**m.config, "schema_version": SCHEMA_VERSION}
            m.save(self.manifest_path)  # commit point: from here on the index is schema 2
            return m

    def collections(self) -> list[str]:
        """The collections that hold at least one document, sorted."""
        if self._manifest is None:
            self.open()
        return sorted(self._present)

    def _ordered_ids(self) -> list[str]:
        return [cid for e in self.manifest.documents.values() for cid in e.chunk_ids()]

    def _build_keyword(self, m: Manifest) -> KeywordIndex:
        ids, texts = [], []
        for doc_id, e in m.documents.items():
            text = self._doc_text(doc_id, e)
            for i, (s, t) in enumerate(e.spans):
                ids.append(e.chunk_id(i))
                texts.append(text[s:t])
        return KeywordIndex.build(ids, texts, m.generation)

    def _doc_text(self, doc_id: str, entry: DocEntry | None = None) -> str:
        entry = entry or self.manifest.documents[doc_id]
        if entry.text_file in self._texts:
            return self._texts[entry.text_file]
        path = self.docs_dir / entry.text_file
        try:
            text = path.read_text("utf-8")
        except OSError as e:
            raise IndexCorruptError(f"document text {path} is missing: run `python -m index verify`, "
                                    "then re-add the document") from e
        self._texts[entry.text_file] = text
        return text

    # ------------------------------------------------------------------ reading
    def get_chunk(self, chunk_id: str) -> Chunk:
        doc_id, i = self._chunks[chunk_id]
        e = self.manifest.documents[doc_id]
        s, t = e.spans[i]
        return Chunk(chunk_id=chunk_id, doc_id=doc_id, title=e.title, ordinal=i, start=s, end=t,
                     text=self._doc_text(doc_id, e)[s:t])

    def has_chunk(self, chunk_id: str) -> bool:
        return chunk_id in self._chunks

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        e = self.manifest.documents[doc_id]
        return [self.get_chunk(e.chunk_id(i)) for i in range(len(e.spans))]

    def document(self, doc_id: str) -> Document:
        e = self.manifest.documents.get(doc_id)
        if e is None:
            raise KeyError(doc_id)
        return Document(doc_id=doc_id, title=e.title, source=e.source, text=self._doc_text(doc_id, e),
                        content_hash=e.content_hash,
                        meta={**e.meta, "kind": e.kind, "quarantined": len(e.quarantined), "collection": e.collection})

    def documents(self) -> list[DocInfo]:
        return [DocInfo(d, e.title, e.source, e.content_hash, e.kind, len(e.spans), dict(e.meta), len(e.quarantined),
                        e.collection)
                for d, e in self.manifest.documents.items()]

    def count(self) -> int:
        return len(self._chunks)

    def dense_search(self, query_vec: np.ndarray, n: int,
                     collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """Top-n chunks by cosine similarity (higher is better), only in `collections` when given."""
        total = self.count()
        if total == 0 or n <= 0 or (collections is not None and not collections):
            return []
        q = np.asarray(query_vec, dtype=np.float32).reshape(1, -1)
        where = None if not self._narrows(collections) else (
            {"collection": collections[0]} if len(collections) == 1 else {"collection": {"$in": list(collections)}})
        # ask for a few extra in case orphans from an interrupted write are still in Chroma
        with self._chroma_call() as col:
            res = col.query(query_embeddings=q, n_results=min(n + 8, total + 8), where=where, include=["distances"])
        out = []
        for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True):
            if cid in self._chunks:
                out.append((self.get_chunk(cid), 1.0 - float(dist)))
        return out[:n]

    def bm25_search(self, query: str, n: int,
                    collections: tuple[str, ...] | None = None) -> list[tuple[Chunk, float]]:
        """Top-n chunks by BM25 score (higher is better); empty when no query term is in the corpus.
        With `collections`, other chunks score 0 before the top n is taken (a filtered query)."""
        if self._keyword is None:
            self.open()
        assert self._keyword is not None
        mask = self._mask(self._keyword, collections) if self._narrows(collections) else None
        return [(self.get_chunk(cid), s) for cid, s in self._keyword.search(query, n, mask=mask)
                if cid in self._chunks]

    def _mask(self, kw: KeywordIndex, collections: tuple[str, ...]) -> np.ndarray:
        """1.0 for the BM25 rows whose document is in `collections`, else 0.0; cached per generation."""
        key = (kw.generation, tuple(sorted(collections)))
        mask = self._masks.get(key)
        if mask is None or len(mask) != len(kw.ids):
            docs = self.manifest.documents
            wanted = set(collections)
            mask = np.fromiter((1.0 if cid in self._chunks and docs[self._chunks[cid][0]].collection in wanted
                                else 0.0 for cid in kw.ids), dtype=np.float32, count=len(kw.ids))
            self._masks[key] = mask
        return mask

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One writer at a time across processes; the OS drops the lock if the writer is killed."""
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.index_dir / ".lock", "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as e:
            # the commit protocol guarantees the previous index is intact: say so, and how to fix
            raise StorageError(
                f"cannot write the index in {self.index_dir} ({e.strerror or e}): the data directory is "
                "read-only or full. Free disk space or make it writable (or point RAG_DATA_DIR elsewhere), "
                "then retry; the existing index is unchanged"
            ) from e

    def destroy(self) -> None:
        """Delete the whole index (the server-side collection too), for a rebuild."""
        with self._write_lock():
            if self.chroma_url or (self.index_dir / "chroma").exists():
                col = self._chroma()
                try:
                    self._client.delete_collection(col.name)
                except Exception as e:
                    raise self._unavailable(e) from e
            self._client = self._collection = None
            # not the chroma folder: its collection is gone, and deleting the files under Chroma's cached
            # client for this path made the rebuild fail with "attempt to write a readonly database"
            for name in ("manifest.json", "docs", "bm25"):
                p = self.index_dir / name
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
            self._manifest, self._keyword, self._chunks, self._texts = None, None, {}, {}

    def initialize(self, config: dict) -> None:
        """Create an empty index recording what builds it (no-op when one exists)."""
        with self._write_lock():
            if not self.exists():
                self.docs_dir.mkdir(parents=True, exist_ok=True)
                Manifest(config={**config, "schema_version": SCHEMA_VERSION}).save(self.manifest_path)
        self.open(expect=config)  # outside the lock: opening an index from before collections migrates it, under the lock
        with self._write_lock():
            self.repair()

    def write(self, items: list[tuple[Document, list[Chunk], np.ndarray]], kinds: dict[str, str] | None = None) -> None:
        """Add or replace documents (with their chunks and embeddings) in one commit."""
        if not items:
            return
        kinds = kinds or {}
        with self._write_lock():
            m = Manifest.load(self.manifest_path)
            self._set_manifest(m)
            new_docs = dict(m.documents)
            self.docs_dir.mkdir(parents=True, exist_ok=True)
            for doc, chunks, vecs in items:
                if len(chunks) != len(vecs):
                    raise ValueError("one embedding per chunk is required")
                entry = DocEntry(doc.doc_id, doc.title, doc.source, doc.content_hash, kinds.get(doc.doc_id, ""),
                                 [(c.start, c.end) for c in chunks],
                                 {k: v for k, v in doc.meta.items() if k not in ("kind", "collection")},
                                 flag_spans(doc.text), doc.meta.get("collection") or DEFAULT_COLLECTION)
                _atomic_write_text(self.docs_dir / entry.text_file, doc.text)
                self._upsert(entry, chunks, vecs)
                new_docs[doc.doc_id] = entry
            self._commit(m, new_docs)

    def _upsert(self, entry: DocEntry, chunks: list[Chunk], vecs: np.ndarray) -> None:
        with self._chroma_call() as col:
            batch = max(1, min(2000, self._client.get_max_batch_size()))
            for b in range(0, len(chunks), batch):
                part = chunks[b:b + batch]
                col.upsert(
                    ids=[entry.chunk_id(c.ordinal) for c in part],
                    embeddings=np.asarray(vecs[b:b + batch], dtype=np.float32),
                    documents=[c.text for c in part],
                    metadatas=[{"doc_id": c.doc_id, "title": c.title, "ordinal": c.ordinal, "start": c.start,
                                "end": c.end, "content_hash": entry.content_hash, "collection": entry.collection,
                                "quarantined": _spans_meta(entry.quarantined, c)} for c in part],
                )

    def remove(self, doc_id: str) -> None:
        with self._write_lock():
            m = Manifest.load(self.manifest_path)
            if doc_id not in m.documents:
                raise KeyError(doc_id)
            new_docs = {k: v for k, v in m.documents.items() if k != doc_id}
            self._commit(m, new_docs)

    def _commit(self, old: Manifest, new_docs: dict[str, DocEntry]) -> None:
        new = Manifest(config=old.config, generation=old.generation + 1, documents=new_docs)
        new.save(self.manifest_path)  # commit point
        self._set_manifest(new)
        self.repair()

    def repair(self) -> list[str]:
        """Finish an interrupted write: drop orphan chunks and texts, rebuild a stale BM25. Returns what was fixed."""
        fixed: list[str] = []
        m = self.manifest
        live = set(self._chunks)
        with self._chroma_call() as col:
            stored = set(col.get(include=[])["ids"])
            orphans = sorted(stored - live)
            for b in range(0, len(orphans), 2000):
                col.delete(ids=orphans[b:b + 2000])
        if orphans:
            fixed.append(f"removed {len(orphans)} orphan chunks from Chroma")
        keep = {e.text_file for e in m.documents.values()}
        if self.docs_dir.is_dir():
            for f in self.docs_dir.iterdir():
                if f.name not in keep:
                    f.unlink(missing_ok=True)
                    fixed.append(f"removed unreferenced text {f.name}")
        kw = KeywordIndex.load(self.bm25_dir)
        if kw is None or kw.generation != m.generation or kw.ids != self._ordered_ids():
            kw = self._build_keyword(m)
            kw.save(self.bm25_dir)
            fixed.append(f"rebuilt BM25 for generation {m.generation}")
        self._keyword = kw
        return fixed

    def verify(self) -> list[str]:
        """Problems found; an empty list means Chroma, BM25 and the manifest agree."""
        problems: list[str] = []
        m = Manifest.load(self.manifest_path)
        self._set_manifest(m)
        live = set(self._chunks)
        with self._chroma_call() as col:
            stored = set(col.get(include=[])["ids"])
        if live - stored:
            problems.append(f"{len(live - stored)} manifest chunks are missing from Chroma")
        if stored - live:
            problems.append(f"{len(stored - live)} Chroma chunks are not in the manifest (orphans)")
        problems += _collection_problems(m, self._chroma_call, sorted(live & stored))
        kw = KeywordIndex.load(self.bm25_dir)
        if kw is None:
            problems.append("BM25 index is missing or unreadable")
        elif kw.generation != m.generation or kw.ids != self._ordered_ids():
            problems.append(f"BM25 index is stale (generation {kw.generation}, manifest {m.generation})")
        for doc_id, e in m.documents.items():
            try:
                text = (self.docs_dir / e.text_file).read_text("utf-8")
            except OSError:
                problems.append(f"{doc_id}: document text file is missing")
                continue
            if hashlib.sha256(text.encode()).hexdigest() != e.content_hash:
                problems.append(f"{doc_id}: document text does not match its content hash")
            if any(not (0 <= s < t <= len(text)) for s, t in e.spans):
                problems.append(f"{doc_id}: a chunk span lies outside the document")
        return problems


def _collection_problems(m: Manifest, chroma_call, ids: list[str]) -> list[str]:
    """A chunk whose Chroma metadata names another collection than its document would be seen from there."""
    if m.config.get("schema_version") == 1:
        return ["the index predates collections (schema 1): any command that opens it migrates it, "
                "e.g. `python -m index list`"]
    owner = {cid: e.collection for e in m.documents.values() for cid in e.chunk_ids()}
    wrong = 0
    with chroma_call() as col:
        for b in range(0, len(ids), 2000):
            got = col.get(ids=ids[b:b + 2000], include=["metadatas"])
            wrong += sum((meta or {}).get("collection") != owner[cid]
                         for cid, meta in zip(got["ids"], got["metadatas"], strict=True))
    return [f"{wrong} Chroma chunks are filed under another collection than their document's: rebuild with "
            "`python -m index build --rebuild`"] if wrong else []


def check_compatible(built: dict, expect: dict, where: Path) -> None:
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
