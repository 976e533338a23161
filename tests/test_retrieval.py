"""Hybrid retrieval: RRF fusion and dedup as pure functions, then the real retriever over the article index."""

from __future__ import annotations

import itertools

import pytest

from core.language.terms import jaccard, term_set
from core.types import Chunk
from rag.retrieve.hybrid import HybridRetriever, dedup, rrf_fuse


def _chunk(cid: str, text: str, doc: str = "d") -> Chunk:
    return Chunk(chunk_id=cid, doc_id=doc, title="t", ordinal=0, start=0, end=len(text), text=text)


# ---------------------------------------------------------------- pure parts
def test_rrf_rewards_agreement_between_retrievers():
    fused = rrf_fuse([(["a", "b", "c"], 1.0), (["c", "b", "d"], 1.0)], rrf_k=60)
    ids = [cid for cid, _ in fused]
    # b is 2nd in both lists; a and c are 1st in one list but 3rd (or absent) in the other
    assert ids[0] in ("b", "c")
    assert set(ids) == {"a", "b", "c", "d"}
    scores = dict(fused)
    assert scores["b"] == pytest.approx(2 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["c"] > scores["b"] > scores["a"] > scores["d"]


def test_rrf_weights_and_zero_weight():
    dense, bm25 = ["a", "b", "c"], ["c", "b", "a"]
    assert [i for i, _ in rrf_fuse([(dense, 1.0), (bm25, 0.0)], 60)] == dense
    assert [i for i, _ in rrf_fuse([(dense, 0.0), (bm25, 1.0)], 60)] == bm25
    # a heavier keyword weight lets the keyword winner beat the dense winner
    assert rrf_fuse([(dense, 1.0), (bm25, 3.0)], 60)[0][0] == "c"
    assert rrf_fuse([(dense, 3.0), (bm25, 1.0)], 60)[0][0] == "a"


def test_rrf_ties_are_deterministic_and_small_k_sharpens():
    # a symmetric tie keeps first-appearance order (dense first)
    assert [i for i, _ in rrf_fuse([(["x", "y"], 1.0), (["y", "x"], 1.0)], 60)] == ["x", "y"]
    flat = dict(rrf_fuse([(["a", "b"], 1.0)], 1000))
    sharp = dict(rrf_fuse([(["a", "b"], 1.0)], 1))
    assert sharp["a"] / sharp["b"] > flat["a"] / flat["b"]


def test_dedup_drops_overlapping_chunks_keeps_distinct_ones():
    base = "Russia has received over 10,000 shipping containers from North Korea according to a US statement."
    chunks = [
        _chunk("1", base),
        _chunk("2", base + " Both denied it."),  # the overlap of two neighbouring chunks
        _chunk("3", "North Korea's mutual defense treaty with China was signed in 1961."),
        _chunk("4", "Russia received shipping containers.", doc="d"),  # its words are all in chunk 1
    ]
    assert dedup(chunks, 0.85) == [0, 2]
    assert dedup(chunks, 1.0) == [0, 1, 2, 3]  # 1.0 switches dedup off


# ---------------------------------------------------------------- real index
@pytest.fixture(scope="module")
def retriever(article_assistant) -> HybridRetriever:
    return article_assistant.retriever


def test_finds_the_answer_passage_first(retriever):
    got = retriever.retrieve("How many shipping containers has Russia received from North Korea?", 5)
    assert "10,000 shipping containers" in got[0].chunk.text
    assert [p.rank for p in got] == list(range(1, len(got) + 1))
    assert got[0].dense is not None and 0 < got[0].dense <= 1
    assert got[0].lexical is not None and got[0].lexical > 0
    assert all(a.score >= b.score for a, b in itertools.pairwise(got))


def test_keyword_side_finds_names_the_embedding_misses(retriever):
    # MiniLM gives this name-only question a low cosine; BM25 puts the right passage in the fused list
    got = retriever.search("Who is Edward Howell?", 3)
    assert any("Edward Howell" in p.chunk.text for p in got.passages[:2])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_k_is_respected(retriever, k):
    assert len(retriever.retrieve("treaty", k)) == k


def test_results_hold_no_near_duplicates(retriever):
    every = retriever.retrieve("China Russia North Korea", 50)
    n_chunks = sum(d.n_chunks for d in retriever.store.documents())
    assert len(every) <= n_chunks
    for a, b in itertools.combinations(every, 2):
        assert jaccard(term_set(a.chunk.text), term_set(b.chunk.text)) < 0.85
        small, large = sorted((term_set(a.chunk.text), term_set(b.chunk.text)), key=len)
        assert len(small & large) / len(small) < 0.95


def test_weights_change_the_ranking(article_assistant):
    store, emb = article_assistant.retriever.store, article_assistant.retriever.embedder
    q = "Who said China plays an irreplaceable role?"
    dense_only = HybridRetriever(store, emb, bm25_weight=0.0).retrieve(q, 12)
    bm25_only = HybridRetriever(store, emb, dense_weight=0.0).retrieve(q, 12)
    assert all(p.dense is not None for p in dense_only)
    assert all(p.lexical is not None and p.dense is None for p in bm25_only)
    # with one retriever switched off, the fused order is that retriever's own order (minus duplicates)
    raw_bm25 = [c.chunk_id for c, _ in store.bm25_search(q, 20)]
    kept = [p.chunk.chunk_id for p in bm25_only]
    assert kept == [c for c in raw_bm25 if c in set(kept)]
    raw_dense = [c.chunk_id for c, _ in store.dense_search(emb.embed([q])[0], 20)]
    kept = [p.chunk.chunk_id for p in dense_only]
    assert kept == [c for c in raw_dense if c in set(kept)]
    with pytest.raises(ValueError):
        HybridRetriever(store, emb, dense_weight=0.0, bm25_weight=0.0)


class _ListStore:
    """Fixed ranked lists standing in for Chroma and bm25s: the fusion logic is under test, not search."""

    def __init__(self, dense: list[str], bm25: list[str]) -> None:
        self.dense, self.bm25 = dense, bm25

    def dense_search(self, vec, n, collections=None):
        return [(_chunk(c, f"dense text {c} " * (i + 1)), 0.9 - i / 10) for i, c in enumerate(self.dense[:n])]

    def bm25_search(self, query, n, collections=None):
        return [(_chunk(c, f"keyword text {c} " * (i + 1)), 9.0 - i) for i, c in enumerate(self.bm25[:n])]


class _OneVec:
    """Embeds everything to the same unit vector: the list store ignores it."""

    name, dimension = "one", 2

    def embed(self, texts):
        import numpy as np

        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))


def test_the_keyword_winner_keeps_a_seat():
    # fused: b, c, d (in both lists) beat z (1st in BM25 only) and a (1st in dense only)
    store = _ListStore(dense=["a", "b", "c", "d"], bm25=["z", "c", "b", "d"])
    got = [p.chunk.chunk_id for p in HybridRetriever(store, _OneVec(), dedup_jaccard=1.0).retrieve("q", 3)]
    assert got == ["b", "c", "z"]
    assert [p.chunk.chunk_id for p in HybridRetriever(store, _OneVec(), dedup_jaccard=1.0).retrieve("q", 4)] == [
        "b", "c", "d", "z"]
