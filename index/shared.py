"""The index state kept in Chroma itself, so any number of processes can share one index over a Chroma server.

Chroma collections named after the chunks collection NAME (the same code for embedded and server):
  NAME         the chunks: vector, text, flat metadata (written by index.store);
  NAME-docs    one immutable record per document version, id `doc_id::digest` (digest of the entry and the
               cleaned text): the cleaned text as the Chroma document, every DocEntry field as JSON metadata;
  NAME-meta    the commit log: one record `gen-000000000042` per generation, holding the index config and the
               map doc_id -> document record id; plus a `head` hint (a lower bound of the newest generation);
  NAME-sentences  the chunks' sentence and clause vectors, content-addressed (index.sentence_vectors): an
               index-time cache the answer path reads instead of embedding sentences per question.
Records other than commits are written before they are referenced and never changed afterwards, so a
commit record alone decides what is visible. A commit is a compare-and-set: Chroma's `add` keeps the first
record under an id and ignores later ones, so a writer that adds `gen-(G+1)` and reads back its own token
owns generation G+1; a writer that reads another token lost the race, re-reads the head and retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.errors import IndexCorruptError, RagError, StoreUnavailableError
from index.manifest import DocEntry, entry_from_dict, entry_to_dict

LAYOUT = 2  # 1: manifest.json + docs/*.txt in the data dir; 2: everything in Chroma (this module)
KEEP_COMMITS = 12  # old commit records kept (each holds the whole document map): a reader further behind
# than this finds the newest generation through the head hint instead
_PROBE = 16  # commit ids asked for in one call when looking for the newest generation
_UNIT = [[1.0]]  # docs/meta records carry no meaningful vector; Chroma still wants one


def gen_id(g: int) -> str:
    return f"gen-{g:012d}"


def record_id(entry: DocEntry, text_hash: str) -> str:
    """Content-addressed id of one document version: a change to any field or to the text is a new record."""
    body = json.dumps(entry_to_dict(entry), sort_keys=True, ensure_ascii=False) + text_hash
    return f"{entry.doc_id}::{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Head:
    """One committed generation: what built the index and which document record holds each document."""

    generation: int
    config: dict
    records: dict[str, str]  # doc_id -> document record id


class SharedState:
    """Connection to the collections; every call reconnects after a failure (a restarted server)."""

    def __init__(self, local_path: Path, chroma_url: str, name: str) -> None:
        self.local_path = Path(local_path)
        self.chroma_url = chroma_url
        self.name = name
        self._client = None
        self._cols: dict | None = None
        self._batch: int | None = None

    @property
    def where(self) -> str:
        return f"{self.chroma_url} (collection {self.name})" if self.chroma_url else str(self.local_path.parent)

    def local_missing(self) -> bool:
        """Embedded mode with no Chroma folder yet: nothing to open (and nothing should be created by asking)."""
        return not self.chroma_url and not self.local_path.exists()

    # ------------------------------------------------------------------ connection
    def _connect(self) -> dict:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        cs = ChromaSettings(anonymized_telemetry=False)
        if self.chroma_url:
            u = urlparse(self.chroma_url)
            client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                         ssl=u.scheme == "https", settings=cs)
        else:
            client = chromadb.PersistentClient(path=str(self.local_path), settings=cs)
        # embeddings are always passed in: no embedding function (Chroma's default would try to download one)
        cols = {role: client.get_or_create_collection(name, embedding_function=None,
                                                      configuration={"hnsw": {"space": "cosine"}})
                for role, name in (("chunks", self.name), ("docs", f"{self.name}-docs"),
                                   ("meta", f"{self.name}-meta"), ("sentences", f"{self.name}-sentences"))}
        self._client = client
        return cols

    @contextmanager
    def call(self) -> Iterator[dict]:
        """The collections for one Chroma exchange; any failure drops the handles, so the next call reconnects."""
        try:
            if self._cols is None:
                self._cols = self._connect()
            yield self._cols
        except RagError:
            raise
        except Exception as e:
            self._client = self._cols = None
            raise self.unavailable(e) from e

    def reload(self) -> None:
        """Another process committed. An embedded Chroma keeps its vector index in this process's memory and
        does not see another process's writes, so open a fresh one for this path (a server needs nothing)."""
        if self.chroma_url or self._client is None:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        # private API (chromadb 1.5.9): the cached system for this path; others still holding it keep working
        with contextlib.suppress(AttributeError, TypeError):
            SharedSystemClient._identifier_to_system.pop(self._client._identifier, None)
        self._client = self._cols = None

    def unavailable(self, e: Exception) -> RagError:
        if self.chroma_url:
            hint = "start it (`chroma run --path DIR --host 127.0.0.1 --port N`) or fix RAG_CHROMA_URL; retry " \
                   "when it is back (nothing is lost: a write either committed or is invisible)"
        else:
            hint = "check the data directory is readable and writable and not full, then retry; the existing " \
                   "index is unchanged"
        return StoreUnavailableError(f"the Chroma store at {self.where} is unavailable "
                                     f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); {hint}")

    def max_batch(self) -> int:
        if self._batch is None:
            with self.call():
                self._batch = max(1, min(2000, self._client.get_max_batch_size()))
        return self._batch

    def drop(self) -> None:
        """Delete all the collections (a rebuild)."""
        with self.call() as cols:
            for col in cols.values():
                self._client.delete_collection(col.name)
        self._client = self._cols = None

    # ------------------------------------------------------------------ commit log
    def head(self, at_least: int = 0) -> Head | None:
        """The newest committed generation (None: nothing committed yet)."""
        with self.call() as cols:
            hint = cols["meta"].get(ids=["head"], include=["metadatas"])["metadatas"]
            g = max(at_least, int(hint[0]["generation"]) if hint else 0)
            while True:
                found = cols["meta"].get(ids=[gen_id(g + i) for i in range(1, _PROBE + 1)], include=[])["ids"]
                if not found:
                    break
                g = max(int(i[4:]) for i in found)
            if g == 0:
                return None
            got = cols["meta"].get(ids=[gen_id(g)], include=["documents"])
        if not got["ids"]:
            if at_least:  # our own generation was collected long ago: start from the hint
                return self.head()
            raise IndexCorruptError(f"the commit record of generation {g} is missing in {self.where}: rebuild "
                                    "with `python -m index build --rebuild`")
        raw = json.loads(got["documents"][0])
        return Head(int(raw["generation"]), raw["config"], dict(raw["records"]))

    def changed_since(self, g: int) -> bool:
        """True when a newer generation exists, or generation g is gone (the index was rebuilt). One call."""
        with self.call() as cols:
            found = set(cols["meta"].get(ids=[gen_id(g), gen_id(g + 1)], include=[])["ids"])
        return gen_id(g + 1) in found or gen_id(g) not in found

    def claim(self, parent: Head | None, records: dict[str, str], config: dict, token: str) -> Head | None:
        """Commit `records` as generation parent+1 if no one else has; None when another writer got there first."""
        g = (parent.generation if parent else 0) + 1
        body = json.dumps({"layout": LAYOUT, "generation": g, "config": config, "records": records,
                           "writer": token, "time": time.time()}, ensure_ascii=False)
        with self.call() as cols:
            cols["meta"].add(ids=[gen_id(g)], embeddings=_UNIT, documents=[body],
                             metadatas=[{"writer": token, "generation": g}])
            got = cols["meta"].get(ids=[gen_id(g)], include=["metadatas"])["metadatas"]
        if not got or got[0].get("writer") != token:
            return None
        return Head(g, config, dict(records))

    def advance_hint(self, g: int) -> None:
        """Move the head hint and forget commits far behind it (best effort: the log is the truth)."""
        with self.call() as cols:
            cols["meta"].upsert(ids=["head"], embeddings=_UNIT, documents=[""], metadatas=[{"generation": g}])
            old = [gen_id(x) for x in range(max(1, g - KEEP_COMMITS - 4), g - KEEP_COMMITS)]
            if old:
                cols["meta"].delete(ids=old)

    # ------------------------------------------------------------------ document records
    def put_docs(self, records: list[tuple[str, DocEntry, str]]) -> None:
        """Upsert (record id, entry, cleaned text) records, in batches."""
        now = time.time()
        with self.call() as cols:
            for b in range(0, len(records), 200):
                part = records[b:b + 200]
                cols["docs"].upsert(
                    ids=[r for r, _, _ in part], embeddings=_UNIT * len(part), documents=[t for _, _, t in part],
                    metadatas=[{"doc_id": e.doc_id, "entry": json.dumps(entry_to_dict(e), ensure_ascii=False),
                                "written_at": now} for _, e, _ in part])

    def get_docs(self, rids: list[str], *, text: bool) -> dict[str, tuple[DocEntry, str | None]]:
        """Records by id (absent ids are left out); the text only when asked for."""
        out: dict[str, tuple[DocEntry, str | None]] = {}
        include = ["metadatas", "documents"] if text else ["metadatas"]
        with self.call() as cols:
            for b in range(0, len(rids), 500):
                got = cols["docs"].get(ids=rids[b:b + 500], include=include)
                docs = got.get("documents") or [None] * len(got["ids"])
                for rid, meta, doc in zip(got["ids"], got["metadatas"], docs, strict=True):
                    out[rid] = (entry_from_dict(json.loads(meta["entry"])), doc)
        return out

    def ids(self, role: str) -> set[str]:
        with self.call() as cols:
            return set(cols[role].get(include=[])["ids"])

    def older_than(self, role: str, ids: list[str], cutoff: float) -> list[str]:
        """Of `ids`, those written before `cutoff` (or before writes were timestamped)."""
        out = []
        with self.call() as cols:
            for b in range(0, len(ids), 1000):
                got = cols[role].get(ids=ids[b:b + 1000], include=["metadatas"])
                out += [i for i, m in zip(got["ids"], got["metadatas"], strict=True)
                        if float((m or {}).get("written_at", 0.0)) < cutoff]
        return out

    def delete(self, role: str, ids: list[str]) -> None:
        with self.call() as cols:
            for b in range(0, len(ids), 2000):
                cols[role].delete(ids=ids[b:b + 2000])
