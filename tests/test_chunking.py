"""Chunk spans are exact (text[start:end] == chunk text), bounded, ordered and cover every sentence."""

from __future__ import annotations

import gzip
import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.settings import BUNDLED_CORPUS
from core.types import Document
from index.chunking import ChunkerConfig, chunk_document, chunk_spans
from index.cleaning import clean
from index.loading import load_file
from index.sentences import split_sentences

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squaddev_v1.1.json.gz"


def _doc(text: str) -> Document:
    return Document(doc_id="d", title="t", source="s", text=text, content_hash="0" * 64)


def _check(text: str, cfg: ChunkerConfig) -> None:
    chunks = chunk_document(_doc(text), cfg)
    if not text.strip():
        assert chunks == []
        return
    for n, c in enumerate(chunks):
        assert text[c.start:c.end] == c.text
        assert c.ordinal == n
        assert c.text == c.text.strip() and c.text
        assert len(c.text) <= cfg.size
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # every sentence lies inside some chunk (long sentences are hard-split, so check their characters)
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start:c.end] = [True] * (c.end - c.start)
    for s, e in split_sentences(text):
        assert all(covered[i] for i in range(s, e) if not text[i].isspace())


words = st.sampled_from(["the", "treaty", "Kim", "Putin", "said.", "signed", "in", "1961!", "why?", "Mr.", "U.S.",
                         "data", "ok\n", "\n\n", " ", ".", "“quoted.”", "x" * 30, "é", "中文。"])
texts = st.lists(words, max_size=400).map(" ".join)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=texts, size=st.integers(100, 900), overlap=st.integers(0, 49))
def test_spans_exact_property(text, size, overlap):
    _check(clean(text), ChunkerConfig(size=size, overlap=overlap))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(text=st.text(max_size=3000))
def test_spans_exact_any_unicode(text):
    _check(clean(text), ChunkerConfig(size=200, overlap=50))


@pytest.mark.skipif(not SQUAD.exists(), reason="needs ../shared/data (SQuAD dev) beside the checkout")
def test_spans_exact_on_real_articles():
    with gzip.open(SQUAD) as f:
        data = json.load(f)["data"]
    for art in data[:20]:
        text = clean("\n\n".join(p["context"] for p in art["paragraphs"]))
        for cfg in (ChunkerConfig(700, 150), ChunkerConfig(300, 100)):
            _check(text, cfg)


def test_article_chunks_respect_paragraphs():
    text = clean(load_file(BUNDLED_CORPUS / "elephant-in-the-room.txt").text)
    spans = chunk_spans(text, ChunkerConfig(700, 150))
    assert 8 <= len(spans) <= 16
    # with paragraph-sized budget, chunks end at paragraph ends, not mid-paragraph
    paragraph_ends = sum(1 for _, e in spans if e == len(text) or text[e:e + 2] == "\n\n")
    assert paragraph_ends == len(spans)


def test_overlap_repeats_trailing_sentence_when_splitting_a_paragraph():
    para = " ".join(f"Sentence number {i} carries a fact about topic {i}." for i in range(12))
    spans = chunk_spans(para, ChunkerConfig(size=200, overlap=60))
    assert len(spans) > 2
    for (_, e1), (s2, _) in pairwise(spans):
        assert s2 < e1  # overlapping
        assert e1 - s2 <= 60
    no_overlap = chunk_spans(para, ChunkerConfig(size=200, overlap=0))
    for (_, e1), (s2, _) in pairwise(no_overlap):
        assert s2 >= e1
