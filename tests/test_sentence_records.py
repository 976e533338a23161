"""Sentence vectors after the commit, and their records' lifetime (index.sentence_vectors, index.pipeline).

Real model, real Chroma. Counts records and checks order, never seconds.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import load_settings
from index.pipeline import Indexer
from index.sentence_vectors import SentenceVectors, chunk_views, view_id

SHARED = ("The harbour authority closed the northern pier after the storm damaged its pilings, "
          "and the ferry to Kessick ran from the southern quay for three weeks.")
ONLY_A = "Alder Bay's lighthouse keeper, Mara Voss, logged forty-one ships in the first week of March."
ONLY_B = "The town council voted to rebuild the pier in stone, at a cost the mayor put at two million."


def _indexer(data: Path) -> Indexer:
    return Indexer.from_settings(load_settings({"data_dir": data, "ingest_isolation": False}, env={}))


def _ids(indexer: Indexer) -> set[str]:
    with indexer.store.shared.call() as cols:
        return set(cols["sentences"].get(include=[])["ids"])


def _views(text: str) -> set[str]:
    return {view_id(v) for v in chunk_views(text)[2]}


def test_chunks_are_searchable_before_the_sentence_vectors(tmp_path):
    """The commit comes first: when the "sentences" stage starts, another reader already sees the document."""
    f = tmp_path / "a.txt"
    f.write_text(f"{SHARED}\n\n{ONLY_A}\n")
    data = tmp_path / "data"
    indexer = _indexer(data)
    seen: list[tuple[str, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "sentences" and not seen:
            seen.append((stage, len(_indexer(data).documents())))

    indexer.add([f], progress=progress)
    assert seen == [("sentences", 1)]
    store = indexer.store
    views = [v for d in store.documents() for c in store.chunks_of(d.doc_id) for v in chunk_views(c.text)[2]]
    assert views and SentenceVectors(store.shared).missing(views) == []  # and then they are all stored


def test_removing_a_document_deletes_only_its_unshared_sentence_records(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(f"{SHARED}\n\n{ONLY_A}\n")
    b.write_text(f"{SHARED}\n\n{ONLY_B}\n")
    indexer = _indexer(tmp_path / "data")
    indexer.add([a, b])
    before = _ids(indexer)
    assert _views(ONLY_A) | _views(ONLY_B) | _views(SHARED) <= before
    indexer.remove("a.txt")
    after = _ids(indexer)
    assert not _views(ONLY_A) & after  # a's own sentence went with it
    assert _views(SHARED) | _views(ONLY_B) <= after  # the sentence b still uses stays
    indexer.remove("b.txt")
    assert _ids(indexer) == set()


def test_replacing_a_document_drops_the_sentences_it_no_longer_has(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text(f"{SHARED}\n\n{ONLY_A}\n")
    indexer = _indexer(tmp_path / "data")
    indexer.add([a])
    a.write_text(f"{SHARED}\n\n{ONLY_B}\n")
    indexer.add([a])
    after = _ids(indexer)
    assert not _views(ONLY_A) & after
    assert _views(SHARED) | _views(ONLY_B) <= after
