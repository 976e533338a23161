"""ui.render: pure functions from answers and documents to safe HTML.

The Answer objects here are built by hand: these tests are about rendering, not about what the assistant
answers (tests/test_ui_api.py and tests/test_ui_browser.py run the real assistant).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import Answer, Chunk, Citation, Claim, Document, Passage, Sentence
from ui import render

HOSTILE = ('Ignore this <script>alert(1)</script> and <img src=x onerror="alert(2)"> '
           "[click me](http://evil.example/x) ![pixel](http://evil.example/p.png) \"quoted\" & 'single'")


class _Tags(HTMLParser):
    """Collects the real elements and attributes a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(h: str) -> _Tags:
    p = _Tags()
    p.feed(h)
    p.close()
    return p


ALLOWED_TAGS = {"div", "span", "button", "mark", "details", "summary"}


def assert_safe(h: str) -> None:
    p = parse(h)
    for tag, attrs in p.tags:
        assert tag in ALLOWED_TAGS, f"unexpected element <{tag}> in {h[:200]}"
        for name in attrs:
            assert not name.startswith("on"), f"event handler attribute {name} in <{tag}>"
            assert name not in ("href", "src", "style"), f"{name} in <{tag}>"


def doc(text: str, doc_id: str = "d1", title: str = "Doc <One>") -> Document:
    return Document(doc_id=doc_id, title=title, source="uploads/one.txt", text=text, content_hash="h")


def chunk_of(d: Document, start: int, end: int, ordinal: int = 0) -> Chunk:
    return Chunk(chunk_id=f"{d.doc_id}:{ordinal}", doc_id=d.doc_id, title=d.title, ordinal=ordinal,
                 start=start, end=end, text=d.text[start:end])


TEXT = ("Intro line.\n\nThe treaty was signed in June 2024. It binds both sides to mutual defence. "
        "Observers were surprised.\n\nA later paragraph about trade.")
D = doc(TEXT)
C_START = TEXT.index("The treaty")
C_END = TEXT.index("Observers were surprised.") + len("Observers were surprised.")
Q_START = TEXT.index("It binds")
Q_END = TEXT.index("defence.") + len("defence.")


def make_answer(**kw) -> Answer:
    ch = chunk_of(D, C_START, C_END)
    cit = Citation(marker=1, chunk_id=ch.chunk_id, doc_id=D.doc_id, title=D.title, start=C_START, end=C_END,
                   text=ch.text, quote_start=Q_START, quote_end=Q_END)
    other = chunk_of(D, TEXT.index("A later"), len(TEXT), 1)
    base = dict(
        question="What does the treaty do?",
        text="It binds both sides to mutual defence [1]. It was signed on the moon.",
        sentences=[Sentence("It binds both sides to mutual defence.", (1,), True, 0.9),
                   Sentence("It was signed on the moon.", (), False, 0.1)],
        citations=[cit],
        retrieved=[Passage(ch, 0.0328, 1, dense=0.61, lexical=7.25), Passage(other, 0.0161, 2, dense=0.2)],
        abstained=False, generator="extractive",
        timings={"total": 41.2, "retrieve": 12.0, "generate": 3.4, "verify": 20.1},
    )
    base.update(kw)
    return Answer(**base)


def test_answer_markers_are_buttons_pointing_at_citations():
    h = render.answer_html(make_answer(), turn=3)
    assert_safe(h)
    markers = [a["class"].split() for t, a in parse(h).tags if t == "button" and "cite-marker" in a["class"]]
    assert markers == [["cite-marker", "ref", "ref-cite", "ref-t3", "ref-n1", "ref-s0"]]
    # the marker sits right after the sentence it supports, and the sentence text is intact
    assert re.search(r'class="sent">It binds both sides to mutual defence <button[^>]*cite-marker[^>]*>1</button>\.</span>', h)


def test_unsupported_sentence_is_visibly_marked():
    h = render.answer_html(make_answer(), turn=0)
    assert re.search(r'class="sent unsupported"[^>]*>It was signed on the moon\.', h)
    assert "1 sentence could not be matched to a source" in h
    supported = re.search(r'class="sent"[^>]*>It binds', h)
    assert supported, "a supported sentence must not carry the unsupported mark"


def test_only_cited_sources_are_cards_and_retrieved_are_behind_a_toggle_with_scores():
    h = render.answer_html(make_answer(), turn=0)
    head, _, retrieved = h.partition('<details class="retrieved">')
    cards = re.findall(r'class="source-card [^"]*ref-(cite|passage) ', head)
    assert cards == ["cite"], "only the one cited source may be listed outside the toggle"
    assert "Retrieved passages (2)" in retrieved
    assert "dense 0.610" in retrieved and "bm25 7.25" in retrieved and "fused 0.0328" in retrieved
    assert re.findall(r"ref-passage ref-t0 ref-n(\d)", retrieved) == ["0", "1"]
    # the card shows the best sentence, not just the start of the chunk
    assert "It binds both sides to mutual defence." in head.split("source-card", 1)[1]


def test_meta_line_names_generator_and_stage_timings_in_pipeline_order():
    h = render.meta_html(make_answer())
    assert "extractive" in h
    assert h.index("retrieve 12 ms") < h.index("generate 3 ms") < h.index("verify 20 ms") < h.index("total 41 ms")
    # reader words in view; the stage timings only behind the Details toggle (issue 29, item 7)
    shown, _, details = h.partition('<details class="details">')
    assert "answered in 0.0 s" in shown and " ms" not in shown
    assert details.startswith("<summary>Details</summary>") and "retrieve 12 ms" in details


def test_abstention_is_shown_as_such_with_closest_passages():
    a = make_answer(text="The sources do not cover this question.", sentences=[], citations=[], abstained=True,
                    abstain_reason="best passage similarity 0.06 is below 0.30")
    h = render.answer_html(a, turn=2)
    assert_safe(h)
    assert "Not in the sources" in h and "The sources do not cover this question." in h
    # the reader gets words; the threshold and its numbers wait behind Details
    shown, _, details = h.partition('<details class="details">')
    assert "No sentence in your documents answers this." in shown and "0.30" not in shown
    assert "below 0.30" in details
    head = h.split('<details class="retrieved">')[0]
    assert "Closest passages" in head
    assert re.findall(r"ref-passage ref-t2 ref-n(\d)", head) == ["0", "1"]
    assert "cite-marker" not in h


def test_hostile_model_output_and_titles_are_text():
    hostile_doc = doc(HOSTILE + " tail", title=HOSTILE)
    ch = chunk_of(hostile_doc, 0, len(HOSTILE))
    cit = Citation(1, ch.chunk_id, hostile_doc.doc_id, hostile_doc.title, 0, len(HOSTILE), ch.text)
    a = make_answer(text=HOSTILE + " [1] [7]", sentences=[Sentence(HOSTILE, (1,), True, 0.8)], citations=[cit],
                    retrieved=[Passage(ch, 0.03, 1)], notice="<b>bold</b>", generator="<i>gen</i>",
                    question=HOSTILE)
    for h in (render.answer_html(a, 0), render.streaming_html(HOSTILE), render.user_html(HOSTILE),
              render.error_html(HOSTILE)):
        assert_safe(h)
        assert "<script" not in h and "<img" not in h and "<b>" not in h and "<i>" not in h
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in h
        # the markdown is untouched text: no renderer runs on it, and no <a> was built from it
        assert "[click me](http://evil.example/x)" in h
        assert "".join(parse(h).text).count("<img src=x onerror=") >= 1  # what the reader sees
    # document text (the viewer, titles) is also made inert (core/untrusted.py): same length, no markup
    for h in (render.source_html(hostile_doc, render.highlight_for(a, "cite", 1)), render.document_html(hostile_doc)):
        assert_safe(h)
        assert "<script" not in h and "<img" not in h and "&lt;script" not in h
        assert "‹script›alert(1)‹/script›" in h and "\uff3bclick me\uff3d(http://evil.example/x)" in h
        assert "".join(parse(h).text).count("‹img src=x onerror=") >= 1
    # without sentences the text itself is rendered: still escaped, and an unknown marker stays plain text
    raw = render.answer_html(make_answer(text=HOSTILE + " [1] [7]", sentences=[], citations=[cit]), 0)
    assert_safe(raw)
    assert "&lt;script&gt;" in raw and "[7]" in raw and "ref-cite ref-t0 ref-n1" in raw


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_renders_back_to_itself(s):
    h = render.user_html(s)
    assert_safe(h)
    assert "".join(parse(h).text) == s


def test_source_view_highlights_chunk_and_quote_with_scroll_target():
    a = make_answer()
    h = render.source_html(D, render.highlight_for(a, "cite", 1))
    assert_safe(h)
    marks = re.findall(r'<mark class="(cite-\w+)"( id="cite-target")?>(.*?)</mark>', h, re.S)
    assert [m[0] for m in marks] == ["cite-chunk", "cite-quote", "cite-chunk"]
    assert "".join(m[2] for m in marks) == TEXT[C_START:C_END]
    quote = next(m for m in marks if m[0] == "cite-quote")
    assert quote[1] and quote[2] == TEXT[Q_START:Q_END], "the scroll target is the best sentence"
    assert h.count('id="cite-target"') == 1
    # the whole document is there, in order, around the highlight
    assert "".join(parse(h).text).endswith(TEXT)


def test_source_view_for_retrieved_passage_and_without_quote():
    a = make_answer()
    h = render.source_html(D, render.highlight_for(a, "passage", 1))
    marks = re.findall(r'<mark class="(cite-\w+)"( id="cite-target")?>(.*?)</mark>', h, re.S)
    assert marks == [("cite-chunk", ' id="cite-target"', "A later paragraph about trade.")]
    assert "retrieved passage #2" in h


def test_source_view_relocates_passage_when_document_shifted_and_says_when_gone():
    a = make_answer()
    shifted = doc("New preface paragraph.\n\n" + TEXT)
    h = render.source_html(shifted, render.highlight_for(a, "cite", 1))
    quote = re.search(r'<mark class="cite-quote" id="cite-target">(.*?)</mark>', h, re.S)
    assert quote and quote.group(1) == TEXT[Q_START:Q_END]
    gone = render.source_html(doc("Completely different text now."), render.highlight_for(a, "cite", 1))
    assert "<mark" not in gone and "changed since the answer" in gone


def test_highlight_for_unknown_marker_or_passage_is_none():
    a = make_answer()
    assert render.highlight_for(a, "cite", 9) is None
    assert render.highlight_for(a, "passage", 5) is None
    assert render.highlight_for(a, "bogus", 0) is None


def test_answer_without_sentences_falls_back_to_text_markers():
    a = make_answer(text="Plain text with a marker [1] and a bogus one [4].", sentences=[])
    h = render.answer_html(a, 0)
    assert re.search(r"Plain text with a marker <button[^>]*ref-n1[^>]*>1</button> and a bogus one \[4\]\.", h)


# ------------------------------------------------------------ one quote per claim (issue 29, item 2)
S0_START, S0_END = C_START, TEXT.index("2024.") + len("2024.")


def shared_marker_answer() -> Answer:
    """Two sentences cite [1]; each is supported by its own sentence of the one passage."""
    ch = chunk_of(D, C_START, C_END)
    cit = Citation(1, ch.chunk_id, D.doc_id, D.title, C_START, C_END, ch.text, Q_START, Q_END,
                   claims=(Claim(0, S0_START, S0_END), Claim(1, Q_START, Q_END)))
    return make_answer(text="The treaty was signed in June 2024 [1]. It binds both sides to mutual defence [1].",
                       sentences=[Sentence("The treaty was signed in June 2024.", (1,), True, 0.9),
                                  Sentence("It binds both sides to mutual defence.", (1,), True, 0.9)],
                       citations=[cit])


def _quote_of(h: str) -> str:
    m = re.search(r'<mark class="cite-quote" id="cite-target">(.*?)</mark>', h, re.S)
    assert m, h
    return m.group(1)


def test_a_marker_shared_by_two_sentences_opens_each_sentences_own_quote():
    a = shared_marker_answer()
    h = render.answer_html(a, turn=0)
    classes = [a_["class"].split() for t, a_ in parse(h).tags if t == "button" and "cite-marker" in a_["class"]]
    assert [c[-1] for c in classes] == ["ref-s0", "ref-s1"], "each marker names the claim it sits on"
    first = render.source_html(D, render.highlight_for(a, "cite", 1, 0))
    second = render.source_html(D, render.highlight_for(a, "cite", 1, 1))
    assert _quote_of(first) == "The treaty was signed in June 2024."
    assert _quote_of(second) == "It binds both sides to mutual defence."
    # the source card (no sentence) and an unknown sentence fall back to the citation's best quote
    assert _quote_of(render.source_html(D, render.highlight_for(a, "cite", 1))) == TEXT[Q_START:Q_END]
    assert _quote_of(render.source_html(D, render.highlight_for(a, "cite", 1, 7))) == TEXT[Q_START:Q_END]


def test_api_records_carry_one_quote_per_claim():
    from ui.export import citation_records

    (rec,) = citation_records(shared_marker_answer())
    assert rec["quote"] == TEXT[Q_START:Q_END]
    assert [(k["sentence"], k["text"], k["quote"]) for k in rec["claims"]] == [
        (0, "The treaty was signed in June 2024.", "The treaty was signed in June 2024."),
        (1, "It binds both sides to mutual defence.", "It binds both sides to mutual defence.")]
    assert all(TEXT[k["quote_start"]:k["quote_end"]] == k["quote"] for k in rec["claims"])
