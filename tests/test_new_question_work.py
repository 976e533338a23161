"""A new question embeds only itself: sentence vectors are computed at index time (index.sentence_vectors).

Counts work, not seconds: the texts handed to the embedding model while a never-seen question is answered.
Real model, real Chroma, the bundled article.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import load_settings
from index.sentence_vectors import SentenceVectors, chunk_views

QUESTIONS = ("Which car brand carried Putin through Pyongyang?",
             "Who runs the China program at the Stimson Center?",
             "What year did Beijing and Pyongyang sign their defence treaty?")


class Counting:
    """Records every text the wrapped embedder's `embed` is given."""

    def __init__(self, embedder) -> None:
        self.embedder, self.texts = embedder, []
        self.real = embedder.embed

    def __call__(self, texts):
        self.texts.extend(texts)
        return self.real(texts)


@pytest.fixture(scope="module")
def fresh(article_index):
    """A fresh assistant (empty caches) over the article index, its embedder's calls counted."""
    from rag.compose import build

    parts = build(load_settings({"data_dir": article_index, "generator": "extractive"}, env={}))
    parts.assistant.open()
    counter = Counting(parts.library.embedder)
    parts.library.embedder.embed = counter
    return parts, counter


def test_indexing_stores_every_sentence_view(fresh):
    parts, counter = fresh
    store = parts.library.store
    texts = [c.text for doc in store.documents() for c in store.chunks_of(doc.doc_id)]
    views = list(dict.fromkeys(v for t in texts for v in chunk_views(t)[2]))
    assert len(views) > len(texts), "sentences and clauses, not just chunks"
    stored = SentenceVectors(store.shared)
    assert stored.missing(views) == []
    got = stored.get(views[:20])
    fresh_vecs = counter.real(views[:20])
    assert np.allclose(np.stack([got[v] for v in views[:20]]), fresh_vecs, atol=1e-3)


def test_a_new_question_embeds_only_itself(fresh):
    parts, counter = fresh
    for q in QUESTIONS:
        counter.texts.clear()
        answer = parts.assistant.ask(q)
        assert answer.retrieved
        # the question (and its country-name expansion for the reader), never a passage's sentences
        assert len(counter.texts) <= 2, counter.texts
        assert all(t.rstrip("?").split()[0] in q for t in counter.texts)


def test_an_index_without_sentence_vectors_still_answers(fresh, article_index):
    """An index built before this change: the bank embeds the views at question time, as it used to."""
    from rag.compose import build

    parts = build(load_settings({"data_dir": article_index, "generator": "extractive"}, env={}))
    bank = parts.assistant.verifier.bank
    bank.lookup = lambda texts: {}
    counter = Counting(parts.library.embedder)
    parts.library.embedder.embed = counter
    answer = parts.assistant.ask(QUESTIONS[0])
    assert answer.citations and "Mercedes-Benz" in answer.text
    assert answer.text == fresh[0].assistant.ask(QUESTIONS[0]).text  # the same answer from stored vectors
    assert len(counter.texts) > 10  # the passages' sentences, embedded now


def test_build_if_missing_fills_an_old_index_once(tmp_path, capsys):
    """`make run` calls `build --if-missing`: an index from before sentence vectors gets them, once."""
    from index.cli import main
    from index.pipeline import Indexer

    data = tmp_path / "data"
    lib = Indexer.from_settings(load_settings({"data_dir": data}, env={}))
    lib.build_bundled()
    stored = SentenceVectors(lib.store.shared)
    with lib.store.shared.call() as cols:  # what an index built before this change holds: none
        cols["sentences"].delete(ids=cols["sentences"].get(include=[])["ids"])
    assert stored.count() == 0
    assert main(["--data-dir", str(data), "build", "--if-missing"]) == 0
    assert "stored the sentence vectors" in capsys.readouterr().out
    lib = Indexer.from_settings(load_settings({"data_dir": data}, env={}))
    store = lib.store
    views = [v for d in store.documents() for c in store.chunks_of(d.doc_id) for v in chunk_views(c.text)[2]]
    assert SentenceVectors(store.shared).missing(views) == []
    assert main(["--data-dir", str(data), "build", "--if-missing"]) == 0
    assert "stored the sentence vectors" not in capsys.readouterr().out  # once
