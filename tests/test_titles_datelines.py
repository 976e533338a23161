"""Titles and datelines are fields of a document, never part of an answer sentence (issue 29, item 3).

"When did the Kessick Narrows Bridge open?" used to answer with the headline glued to "PORT ALDER - After
three years ...", and the citation quoted the headline. The title is the source card's, the dateline is cut
off the sentence it opens, and the quote's span starts after it, so highlighting lands on the sentence.
"""

from __future__ import annotations

import pytest

from core.settings import BUNDLED_CORPUS
from index.sentences import DATELINE, body_sentences, dateline_end, is_title, split_sentences

BRIDGE_TITLE = "Kessick Narrows Bridge Opens, and the Last Ferry Era Begins to Wind Down"
OPENING = "After three years of construction and two delays, the Kessick Narrows Bridge opened"


def _bridge_text() -> str:
    return (BUNDLED_CORPUS / "kessick-narrows-bridge.txt").read_text(encoding="utf-8")


def test_body_sentences_leave_out_the_title_and_cut_the_dateline() -> None:
    text = _bridge_text()
    spans = body_sentences(text, BRIDGE_TITLE)
    first = text[spans[0][0]:spans[0][1]]
    assert first.startswith(OPENING)
    assert all(BRIDGE_TITLE not in text[s:e] and "PORT ALDER -" not in text[s:e] for s, e in spans)
    # every other sentence is split_sentences' own span, untouched
    assert spans[1:] == split_sentences(text)[2:]


@pytest.mark.parametrize("line, body", [
    ("PORT ALDER - After three years, it opened.", "After three years, it opened."),
    ("SEOUL, June 20 (Reuters) - South Korea said it would respond.", "South Korea said it would respond."),
    ("WASHINGTON — The Senate voted on Tuesday.", "The Senate voted on Tuesday."),
    ("NEW YORK (AP) — A storm hit the city.", "A storm hit the city."),
    ("NEW DELHI, March 4 — Police said nothing.", "Police said nothing."),
    # not datelines: an ordinary sentence stays whole
    ("US-China talks resumed on Monday.", "US-China talks resumed on Monday."),
    ("NATO said the talks would resume.", "NATO said the talks would resume."),
    ("I - Introduction to the report.", "I - Introduction to the report."),
])
def test_dateline_forms(line: str, body: str) -> None:
    text = f"A Title Line\n\n{line}"
    s, e = body_sentences(text, "A Title Line")[0]
    assert text[s:e] == body


def test_a_dateline_only_opens_a_line() -> None:
    text = "It rained. WASHINGTON — The Senate voted."
    spans = split_sentences(text)
    assert [dateline_end(text, s, e) for s, e in spans] == [s for s, _ in spans]
    assert DATELINE.match("PORT ALDER - After") and dateline_end("PORT ALDER - ", 0, 13) == 0  # nothing after it


def test_is_title_compares_the_whole_line() -> None:
    assert is_title("Kessick Narrows Bridge Opens, and the Last Ferry Era Begins to Wind Down", BRIDGE_TITLE)
    assert is_title("# Kessick  Narrows Bridge Opens, and the Last Ferry Era Begins to Wind Down", BRIDGE_TITLE)
    assert not is_title("The Kessick Narrows Bridge opened on Saturday.", BRIDGE_TITLE)
    assert not is_title("Anything at all.", "")


def test_the_bridge_answer_has_no_headline_or_dateline_and_quotes_the_body(article_assistant, article_library) -> None:
    answer = article_assistant.ask("When did the Kessick Narrows Bridge open?")
    assert not answer.abstained and "Saturday" in answer.text
    assert BRIDGE_TITLE not in answer.text and "PORT ALDER" not in answer.text
    assert answer.text.startswith(OPENING)
    for c in answer.citations:
        doc = article_library.document(c.doc_id).text
        quote = doc[c.quote_start:c.quote_end]
        assert quote != BRIDGE_TITLE and BRIDGE_TITLE not in quote and not quote.startswith("PORT ALDER")
    first = answer.citations[0]
    assert article_library.document(first.doc_id).text[first.quote_start:first.quote_end].startswith(OPENING)


def test_every_extractive_quote_of_the_bridge_report_skips_the_title(article_assistant, article_library) -> None:
    for q in ("What replaced the ferry service?", "How long was the bridge under construction?",
              "Kessick Narrows Bridge last ferry era"):
        answer = article_assistant.ask(q)
        for c in answer.citations:
            quote = article_library.document(c.doc_id).text[c.quote_start:c.quote_end]
            assert quote.strip() != BRIDGE_TITLE, (q, answer.text)


def test_a_title_question_still_quotes_the_title(article_assistant, article_library) -> None:
    answer = article_assistant.ask("What is the title of the bridge report?")
    assert answer.plan == "library" and BRIDGE_TITLE in answer.text
    c = answer.citations[0]
    assert article_library.document(c.doc_id).text[c.quote_start:c.quote_end] == BRIDGE_TITLE


def test_a_draft_that_copies_the_headline_is_not_quoted_by_it(article_assistant, article_library) -> None:
    """Whatever wrote the answer (an LLM may copy the headline), the verifier never quotes the title line."""
    from core.types import Passage

    chunk = next(c for c in article_library.store.chunks_of("kessick-narrows-bridge.txt") if c.start == 0)
    verified = article_assistant.verifier.verify(f"{BRIDGE_TITLE} [1]. The bridge opened on Saturday [1].",
                                                 [Passage(chunk=chunk, score=1.0, rank=1)])
    doc = article_library.document(chunk.doc_id).text
    assert verified.citations
    for c in verified.citations:
        assert BRIDGE_TITLE not in doc[c.quote_start:c.quote_end]
