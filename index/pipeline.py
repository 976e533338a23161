"""The ingestion pipeline: load -> clean -> chunk -> embed -> write, with skip-by-hash and per-file errors.

Only new or changed documents are embedded. Embedding is batched across all documents of one call, and
progress is reported per stage so long runs are visible.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import IngestError, InputError
from core.progress import Progress
from core.settings import BUNDLED_CORPUS, DEFAULT_COLLECTION, Settings, collection_names
from core.types import Chunk, Document
from index.chunking import DEFAULT_MAX_CHUNKS, ChunkerConfig, check_chunks, chunk_document
from index.embedding import Embedder
from index.embedding_onnx import embedder_from_settings
from index.isolation import Isolation
from index.loading import DEFAULT_MAX_CHARS, SUPPORTED
from index.manifest import SCHEMA_VERSION
from index.prepare import prepare_document
from index.sentence_vectors import SentenceVectors, chunk_views
from index.store import IndexStore
from index.store_read import DocInfo
from index.worker import EmbedWorker, unique


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unchanged content: no embedding work
    errors: list[IngestError] = field(default_factory=list)
    chunks: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.replaced)} replaced", f"{len(self.skipped)} unchanged"]
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        return ", ".join(parts) + f" ({self.chunks} chunks embedded)"


def doc_id_in(collection: str, doc_id: str) -> str:
    """A document's id within its collection: the bare id in "default" (so indexes from before collections
    keep their ids), "NAME/id" elsewhere. The same file in two collections is two documents (docs/collections.md)."""
    return doc_id if collection == DEFAULT_COLLECTION else f"{collection}/{doc_id}"


def _into_collection(doc: Document, chunks: list[Chunk], collection: str) -> tuple[Document, list[Chunk]]:
    doc_id = doc_id_in(collection, doc.doc_id)
    doc = dataclasses.replace(doc, doc_id=doc_id, meta={**doc.meta, "collection": collection})
    return doc, [dataclasses.replace(c, doc_id=doc_id, chunk_id=f"{doc_id}::{doc.content_hash[:12]}::{c.ordinal:05d}")
                 for c in chunks]


def _norm_title(title: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", title).casefold().split())


def own_title(doc: Document, chunks: list[Chunk], shown: str, others: Iterable[tuple[str, str, bool]],
              ) -> tuple[Document, list[Chunk]]:
    """An upload may not pass for another document in citations (issue 24 #17). `others`: (doc_id, title,
    bundled) of the indexed documents and the batch. A bundled document's title (casefolded, whitespace
    and Unicode forms normalised) is refused; another upload's is disambiguated with the file name."""
    mine = _norm_title(doc.title)
    clash = next(((i, b) for i, t, b in others if i != doc.doc_id and _norm_title(t) == mine), None)
    if clash is None:
        return doc, chunks
    if clash[1]:
        raise IngestError(shown, f"has the title {doc.title!r} of the bundled document {clash[0]!r}",
                          "Give the file its own title (its first heading, <title> or document properties); "
                          "an upload cannot appear as a bundled document in citations")
    doc = dataclasses.replace(doc, title=f"{doc.title} ({Path(doc.source).name})")
    return doc, [dataclasses.replace(c, title=doc.title) for c in chunks]


def one_collection(raw: str) -> str:
    names = collection_names(raw)
    if len(names) != 1:
        raise InputError(f"documents go into one collection at a time, not {', '.join(names)}: "
                         "give one name (--collection NAME or RAG_COLLECTION)")
    return names[0]


def iter_files(paths: Iterable[str | Path]) -> Iterable[tuple[Path | None, str, IngestError | None]]:
    """Expand folders (sorted, supported types only); a missing path becomes an error for the report."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED)
            if not files:
                yield None, str(p), IngestError(str(p), "folder has no supported files",
                                                f"Supported types: {', '.join(SUPPORTED)}")
            for f in files:
                yield f, str(f), None
        elif not p.exists():
            yield None, str(p), IngestError(str(p), "no such file or folder", "Check the path")
        else:
            yield p, str(p), None


class Indexer:
    def __init__(self, store: IndexStore, embedder: Embedder, chunker: ChunkerConfig, max_file_bytes: int,
                 isolation: Isolation | None = None, *, max_chars: int = DEFAULT_MAX_CHARS,
                 max_chunks: int = DEFAULT_MAX_CHUNKS, worker: EmbedWorker | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.max_file_bytes = max_file_bytes
        # uploads (files given a display name) are read in a capped worker process; None: all in-process
        self.isolation = isolation
        self.max_chars, self.max_chunks = max_chars, max_chunks  # per document, before the work (issue 24 #12)
        # uploads are embedded in a low-priority worker process (index.worker); None: in-process
        self.worker = worker
        self._call = threading.local()  # per add() call: is it an upload (names given)?

    @classmethod
    def from_settings(cls, s: Settings, embedder: Embedder | None = None) -> Indexer:
        return cls(
            store=IndexStore(s.index_dir, chroma_url=s.chroma_url, collection=s.collection),
            embedder=embedder or embedder_from_settings(s),
            chunker=ChunkerConfig(size=s.chunk_size, overlap=s.chunk_overlap),
            max_file_bytes=s.max_upload_bytes,
            isolation=Isolation.from_settings(s),
            max_chars=s.max_document_chars, max_chunks=s.max_document_chunks,
            # only an embedder built from these settings: the worker builds the same one
            worker=EmbedWorker.from_settings(s) if embedder is None and s.ingest_isolation
            and s.embed_backend.startswith("onnx") else None,
        )

    def config(self) -> dict:
        """What the index records about what built it; a mismatch later refuses to query."""
        return {"schema_version": SCHEMA_VERSION, "embed_model": self.embedder.name,
                "embed_variant": getattr(self.embedder, "variant", None),
                "dimension": self.embedder.dimension, "chunker": self.chunker.as_dict()}

    def open(self) -> None:
        """Open for querying: refuses an index built with another model, dimension or chunker."""
        self.store.open(expect=self.config())

    # -------------------------------------------------------------- ingest
    def prepare(self, path: Path, name: str = "") -> Document:
        """Load and clean one file into a Document (raises IngestError naming the file)."""
        return prepare_document(path, name, self.max_file_bytes, self.max_chars)

    def _prepare_and_chunk(self, path: Path, name: str) -> tuple[Document, list[Chunk]]:
        if self.isolation is not None and name:  # an upload: a worker process with a time budget and memory cap
            doc, chunks = self.isolation.prepare(path, name, self.max_file_bytes, self.chunker, self.max_chars)
        else:
            doc = prepare_document(path, name, self.max_file_bytes, self.max_chars)
            chunks = chunk_document(doc, self.chunker)
        check_chunks(len(chunks), self.max_chunks, name or str(path))  # before any embedding
        return doc, chunks

    def add(self, paths: Iterable[str | Path], progress: Progress | None = None,
            names: dict[str, str] | None = None, *, bundled: bool = False,
            collection: str = DEFAULT_COLLECTION) -> IngestReport:
        """Ingest files/folders into `collection` (created by its first document). `names` maps a path to
        the name to show and derive the id from (uploads). bundled=True marks the documents in the manifest
        as shipped with the app (they cannot be removed or replaced by an upload); only build_bundled() sets it."""
        collection = one_collection(collection)
        self._call.upload = bool(names)
        report = IngestReport()
        self.store.initialize(self.config())
        infos = {d.doc_id: d for d in self.store.documents()}
        # an already-indexed bundled document indexed before the mark existed is re-written once to get it
        existing = {k: d.content_hash for k, d in infos.items() if d.bundled or not bundled}
        files = list(iter_files(paths))
        todo: list[tuple[Document, list[Chunk]]] = []
        for n, (path, shown, err) in enumerate(files, 1):
            if progress:
                progress("load", n, len(files))
            if err is not None:
                report.errors.append(err)
                continue
            assert path is not None
            try:
                name = (names or {}).get(str(path), "")
                doc, chunks = _into_collection(*self._prepare_and_chunk(path, name), collection)
                doc, chunks = _admitted(doc, chunks, name or shown, infos, todo, bundled)
            except IngestError as e:
                report.errors.append(e)
                continue
            # unchanged, unless an index from before page-aware loading lacks this PDF's pages
            if existing.get(doc.doc_id) == doc.content_hash and ("page_starts" not in doc.meta
                                                                 or "page_starts" in infos[doc.doc_id].meta):
                report.skipped.append(doc.doc_id)
                continue
            (report.replaced if doc.doc_id in infos else report.added).append(doc.doc_id)
            todo.append((doc, chunks))
        if todo:
            report.chunks = self._write(todo, progress)
        return report

    def _write(self, todo: list[tuple[Document, list[Chunk]]], progress: Progress | None) -> int:
        """Embed every chunk of the batch in one pass, write it all in one commit, then store the chunks'
        sentence vectors; the chunk count. The chunks are searchable from the commit on, at the chunk encode's
        pace: the sentence vectors (3-4x the chunks' encode work) come after it, and a question asked
        meanwhile embeds the views it lacks itself (rag.reader.evidence), as on an index built before them."""
        vecs = self._embed([c.text for _, cs in todo for c in cs], progress)
        items, off = [], 0
        for doc, cs in todo:
            items.append((doc, cs, vecs[off:off + len(cs)]))
            off += len(cs)
        if progress:
            progress("write", 0, 1)
        self.store.write(items, kinds={d.doc_id: d.meta.get("kind", "") for d, _ in todo})
        if progress:
            progress("write", 1, 1)
        self._embed_sentences([c.text for _, cs in todo for c in cs], progress)
        return off

    def _embed_sentences(self, chunk_texts: list[str], progress: Progress | None) -> None:
        """The chunks' sentence and clause vectors the store lacks, embedded and stored (after the commit that
        makes the chunks visible): a new question then embeds only itself (index.sentence_vectors)."""
        sentences = SentenceVectors(self.store.shared)
        todo = sentences.missing([v for t in dict.fromkeys(chunk_texts) for v in chunk_views(t)[2]])
        if todo:
            sentences.put(todo, self._embed(todo, progress, stage="sentences"))

    def fill_sentence_vectors(self, progress: Progress | None = None) -> int:
        """An index built before sentence vectors were stored gets them, once (`build --if-missing`, which
        `make run` calls, does it): its questions then stop embedding sentences. The chunks read; 0 when the
        index already has them or has no chunks."""
        if not self.store.exists() or SentenceVectors(self.store.shared).count() > 0:
            return 0
        texts = [c.text for d in self.documents() for c in self.store.chunks_of(d.doc_id)]
        self._embed_sentences(texts, progress)
        return len(texts)

    def _embed(self, texts: list[str], progress: Progress | None, stage: str = "embed") -> np.ndarray:
        # batches of a few hundred keep progress visible without hurting encode throughput
        warm_up = getattr(self.embedder, "warm_up", None)
        if warm_up is not None and not getattr(self.embedder, "loaded", True):
            if progress:
                progress("model", 0, 1)
            warm_up()  # only now: re-indexing unchanged content never pays for loading the model
            if progress:
                progress("model", 1, 1)
        step = 256
        out = []
        embed = getattr(self.embedder, "embed_bulk", self.embedder.embed)  # ONNX: all cores for indexing
        if self.worker is not None and getattr(self._call, "upload", False):  # off the server, time-capped
            deadline = self.worker.deadline()
            embed = lambda batch: self.worker.embed(batch, deadline)  # noqa: E731
        distinct, inverse = unique(texts)  # a repeated chunk is embedded once
        # longest first across all steps, not only within one: each batch pads to texts of about its own length
        order = np.argsort([-len(t) for t in distinct], kind="stable")
        for b in range(0, len(distinct), step):
            out.append(embed([distinct[i] for i in order[b:b + step]]))
            if progress:
                progress(stage, min(b + step, len(distinct)), len(distinct))
        if not out:
            return np.zeros((0, self.embedder.dimension), np.float32)
        vecs = np.empty((len(distinct), self.embedder.dimension), np.float32)
        vecs[order] = np.concatenate(out)
        return vecs[inverse]

    def build_bundled(self, progress: Progress | None = None) -> IngestReport:
        return self.add([BUNDLED_CORPUS], progress, bundled=True)

    # -------------------------------------------------------------- manage
    def documents(self) -> list[DocInfo]:
        if not self.store.exists():
            return []
        return self.store.documents()

    def document(self, doc_id: str) -> Document:
        """The cleaned document every chunk span points into (KeyError when it is not indexed)."""
        return self.store.document(doc_id)

    def remove(self, doc_id: str) -> None:
        self.store.remove(doc_id)

    def collections(self) -> list[str]:
        """Collections holding documents, with "default" always listed (it is where documents go unasked)."""
        found = self.store.collections() if self.store.exists() else []
        return sorted({DEFAULT_COLLECTION, *found})

    def verify(self) -> list[str]:
        return self.store.verify()


def _admitted(doc: Document, chunks: list[Chunk], shown: str, infos: dict[str, DocInfo],
              todo: list[tuple[Document, list[Chunk]]], bundled: bool) -> tuple[Document, list[Chunk]]:
    """The document as it may enter the index, or IngestError: an upload never takes a bundled document's
    name or title, and two files of one batch never share an id."""
    if not bundled and doc.doc_id in infos and infos[doc.doc_id].bundled:
        raise IngestError(shown, f"has the same name as the bundled document {doc.doc_id!r}",
                          "Rename the file; bundled documents cannot be replaced")
    if not bundled:
        doc, chunks = own_title(doc, chunks, shown, [*((d.doc_id, d.title, d.bundled) for d in infos.values()),
                                                     *((d.doc_id, d.title, False) for d, _ in todo)])
    if bundled:
        doc.meta["bundled"] = True
    doc.meta.setdefault("added", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if any(d.doc_id == doc.doc_id for d, _ in todo):
        raise IngestError(shown, f"another file in this batch has the id {doc.doc_id!r}", "Rename one of them")
    return doc, chunks
