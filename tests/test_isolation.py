"""Uploads are read in a worker process with a time budget and a memory cap (issue 11): one bad file
fails alone with a one-line error, and the server process never parses it."""

from __future__ import annotations

import pytest

from core.errors import IngestError
from index.chunking import ChunkerConfig
from index.isolation import Isolation

CHUNKER = ChunkerConfig(size=700, overlap=150)


def _nested_html(paragraphs: int) -> str:
    # unclosed <p> tags nest: bs4's html.parser tree builder is quadratic in the depth (measured: 1.6 MB
    # takes ~20 s in-process), the kind of file the worker's budget exists for
    return "<html><body>" + ("<p>word " * 200 + "</p>\n") * paragraphs


def test_worker_returns_the_same_document_and_chunks_as_in_process(tmp_path, settings) -> None:
    from index.chunking import chunk_document
    from index.prepare import prepare_document

    f = tmp_path / "page.html"
    f.write_text("<h1>Title</h1><p>First sentence here. Second one.</p><p>Pay\u2060ment due.</p>", "utf-8")
    doc, chunks = Isolation(timeout_s=60).prepare(f, "page.html", 10**6, CHUNKER)
    local = prepare_document(f, "page.html", 10**6)
    assert doc == local
    assert chunks == chunk_document(local, CHUNKER)


def test_time_budget_fails_one_file_with_a_one_line_error(tmp_path) -> None:
    f = tmp_path / "deep.html"
    f.write_text(_nested_html(3000), "utf-8")
    with pytest.raises(IngestError, match=r"deep.html: took longer than the 2 s budget") as e:
        Isolation(timeout_s=2).prepare(f, "deep.html", 10**8, CHUNKER)
    assert "\n" not in str(e.value)


def test_memory_cap_fails_one_file_with_a_one_line_error(tmp_path) -> None:
    f = tmp_path / "big.html"
    f.write_text(_nested_html(5000), "utf-8")
    with pytest.raises(IngestError, match=r"big.html: needs more than the 100 MiB memory cap|big.html: stopped"):
        Isolation(timeout_s=60, memory_bytes=100 * 2**20).prepare(f, "big.html", 10**8, CHUNKER)


def test_parser_errors_come_back_as_the_usual_ingest_errors(tmp_path) -> None:
    f = tmp_path / "bad.pdf"
    f.write_bytes(b"not a pdf at all")
    with pytest.raises(IngestError, match=r"bad\.pdf: is not a PDF"):
        Isolation(timeout_s=60).prepare(f, "bad.pdf", 10**6, CHUNKER)


def test_indexer_isolates_uploads_and_keeps_the_index(settings, tmp_path) -> None:
    from index.pipeline import Indexer

    idx = Indexer.from_settings(settings(ingest_timeout_s=2))
    assert idx.isolation is not None
    good = tmp_path / "good.txt"
    good.write_text("Good\n\nThe river is long.", "utf-8")
    idx.add([good], names={str(good): "good.txt"})
    slow = tmp_path / "deep.html"
    slow.write_text(_nested_html(3000), "utf-8")
    rep = idx.add([slow, good], names={str(slow): "deep.html", str(good): "good.txt"})
    assert len(rep.errors) == 1 and "budget" in str(rep.errors[0])
    assert [d.doc_id for d in idx.documents()] == ["good.txt"]
