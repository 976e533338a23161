"""Citation verification: marker parsing (pure) and repair/flagging with the real model over the article."""

from __future__ import annotations

import pytest

from core.language.markers import marker_numbers, parse_markers, place_markers
from core.types import Passage
from rag.verify.citations import neutralise, parse_sentences


# ---------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    ("text", "clean", "nums"),
    [
        ("Signed in 1961 [1].", "Signed in 1961.", [1]),
        ("Signed in 1961 [1, 2].", "Signed in 1961.", [1, 2]),
        ("Signed in 1961 [1][2].", "Signed in 1961.", [1, 2]),
        ("Signed in 1961 [Source 2].", "Signed in 1961.", [2]),
        ("Signed in 1961 [sources 1 and 3].", "Signed in 1961.", [1, 3]),
        ("Signed in 1961 [2-4].", "Signed in 1961.", [2, 3, 4]),
        ("Signed in 1961 [ 3 ; 1 ] [3].", "Signed in 1961.", [3, 1]),
        ("See [2024] for details.", "See [2024] for details.", []),  # a year in brackets is no marker
        ("No markers here.", "No markers here.", []),
    ],
)
def test_parse_markers(text, clean, nums):
    assert parse_markers(text) == (clean, nums)


def test_marker_numbers_forms():
    assert marker_numbers("[Passage #4]") == [4]
    assert marker_numbers("[1–3]") == [1, 2, 3]


def test_parse_sentences_moves_trailing_markers_and_merges_dangling_ones():
    got = parse_sentences("The pact was signed. [1] China was muted [2]. [3]\n- Japan voiced concern [1]")
    assert got == [("The pact was signed.", [1]), ("China was muted.", [2, 3]), ("- Japan voiced concern", [1])]


def test_place_markers_keeps_quotes_closed():
    assert place_markers("It was signed in 1961.", (1, 2)) == "It was signed in 1961 [1][2]."
    assert place_markers('He said "no."', (1,)) == 'He said "no." [1]'
    assert place_markers("No stop", (3,)) == "No stop [3]"
    assert place_markers("Uncited.", ()) == "Uncited."


def test_neutralise_renders_links_images_and_html_as_text():
    out = neutralise(
        'See ![secret](http://evil.example/x.png?d=1) and [the report](https://evil.example/r) '
        '<script>fetch("http://evil.example")</script><b>bold</b> <img src=x onerror=alert(1)> '
        "<https://evil.example/auto>\n[ref]: http://evil.example/ref"
    )
    assert "![" not in out and "](" not in out
    assert "<script" not in out and "<b>" not in out and "<img" not in out and "fetch(" not in out
    assert "secret" in out and "the report" in out and "bold" in out
    assert "evil.example/ref" not in out


# ---------------------------------------------------------------- real model + article
def _passage(chunk, rank: int) -> Passage:
    return Passage(chunk=chunk, score=1.0 / rank, rank=rank)


@pytest.fixture(scope="module")
def article(article_assistant, article_library):
    store = article_library.store
    doc_id = "elephant-in-the-room.txt"  # one of the bundled documents
    chunks = store.chunks_of(doc_id)

    def find(phrase: str):
        return next(c for c in chunks if phrase in c.text)

    return {
        "doc": store.document(doc_id),
        "containers": find("10,000 shipping containers"),
        "treaty": find("also signed in 1961"),
        "yun": find("irreplaceable role"),
        "verifier": article_assistant.verifier,
    }


def test_wrong_marker_is_replaced_by_the_supporting_passage(article):
    passages = [_passage(article["containers"], 1), _passage(article["treaty"], 2)]
    v = article["verifier"].verify("North Korea's mutual defense treaty with China was signed in 1961 [1].", passages)
    assert v.sentences[0].supported and v.sentences[0].markers == (1,)
    assert [c.chunk_id for c in v.citations] == [article["treaty"].chunk_id]  # [1] pointed at the containers
    assert v.text.endswith("[1].")


def test_nonexistent_marker_is_replaced(article):
    passages = [_passage(article["treaty"], 1), _passage(article["containers"], 2)]
    v = article["verifier"].verify("Russia has received over 10,000 shipping containers from North Korea [9].", passages)
    assert "[9]" not in v.text
    assert v.sentences[0].supported
    assert [c.chunk_id for c in v.citations] == [article["containers"].chunk_id]
    assert v.citations[0].marker == 1


def test_unsupported_sentence_is_flagged_and_its_marker_removed(article):
    passages = [_passage(article["containers"], 1), _passage(article["treaty"], 2)]
    v = article["verifier"].verify(
        "Russia has received over 10,000 shipping containers from North Korea [1]. "
        "The capital of France is Paris, famous for its bakeries [2].",
        passages,
    )
    ok, bad = v.sentences
    assert ok.supported and ok.markers == (1,)
    assert not bad.supported and bad.markers == () and bad.support < article["verifier"].scorer.support_threshold
    assert "[2]" not in v.text
    assert len(v.citations) == 1  # only what is cited, never every passage


def test_missing_marker_gets_the_supporting_source_and_numbers_follow_first_use(article):
    passages = [_passage(article["treaty"], 1), _passage(article["yun"], 2), _passage(article["containers"], 3)]
    v = article["verifier"].verify(
        "Yun Sun said China plays an irreplaceable role for both Russia and North Korea [2]. "
        "North Korea's treaty with China was also signed in 1961. "
        "Russia has received over 10,000 shipping containers from North Korea [3].",
        passages,
    )
    assert [s.markers for s in v.sentences] == [(1,), (2,), (3,)]
    assert [c.chunk_id for c in v.citations] == [article["yun"].chunk_id, article["treaty"].chunk_id,
                                                 article["containers"].chunk_id]
    assert [c.marker for c in v.citations] == [1, 2, 3]


def test_citation_spans_point_into_the_document(article):
    passages = [_passage(article["containers"], 1)]
    v = article["verifier"].verify("Russia got more than 10,000 shipping containers from North Korea [1].", passages)
    c = v.citations[0]
    text = article["doc"].text
    assert text[c.start:c.end] == c.text == article["containers"].text
    assert c.start <= c.quote_start < c.quote_end <= c.end
    assert "10,000 shipping containers" in text[c.quote_start:c.quote_end]
    assert c.doc_id == article["containers"].doc_id and c.title


def test_markdown_and_html_in_generated_text_are_neutralised(article):
    passages = [_passage(article["containers"], 1)]
    v = article["verifier"].verify(
        "![x](http://evil.example/p.png) Russia has received over 10,000 shipping containers from North Korea "
        "[1](http://evil.example). <script>alert(1)</script>",
        passages,
    )
    assert "evil.example" not in v.text and "<script" not in v.text and "![" not in v.text
    assert any("10,000" in s.text for s in v.sentences)


def test_two_claims_sharing_a_passage_each_keep_their_own_quote(article):
    """Issue 29 item 2: one marker, two sentences: each claim carries the sentence that supports it."""
    chunk = article["treaty"]
    passages = [_passage(chunk, 1)]
    text = article["doc"].text
    # a real shared case from the chunk's own sentences: its first two long ones, both cited [1]
    from index.sentences import split_sentences

    spans = [(s, e) for s, e in split_sentences(chunk.text) if len(chunk.text[s:e]) > 40][:2]
    claims = " ".join(chunk.text[s:e].strip().rstrip(".") + " [1]." for s, e in spans)
    v = article["verifier"].verify(claims, passages)
    assert [s.markers for s in v.sentences] == [(1,), (1,)]
    (c,) = v.citations
    assert [k.sentence for k in c.claims] == [0, 1]
    quotes = [text[k.quote_start:k.quote_end] for k in c.claims]
    assert quotes[0] != quotes[1]
    for (s, e), q in zip(spans, quotes, strict=True):
        assert chunk.text[s:e].strip() in q or q in chunk.text[s:e]
    assert (c.quote_start, c.quote_end) in {(k.quote_start, k.quote_end) for k in c.claims}
