"""Each regex blow-up found in the security read (issue 11), reproduced as a growth check.

Before the fixes these grew exponentially (MARKER), cubically (Markdown title) or quadratically
(_END, strip_boilerplate); every test here failed then. A growth ratio, not a wall-clock limit: see
tests/complexity.py.
"""

from __future__ import annotations

from index import cleaning, loading, sentences
from rag.verify import citations
from tests.complexity import assert_linear


def test_marker_on_unclosed_list_is_not_exponential() -> None:
    # "[1, 1, 1, ..." never closed: every separator could be split two ways, 2^n tries
    assert_linear(citations.parse_markers, lambda n: "See [1" + ", 1" * n + " end.", 10, 20,
                  what="parse_markers")


def test_marker_variants_stay_linear() -> None:
    for make in (lambda n: "[" + "1 and " * n, lambda n: "[Source 1" + " - Source 1" * n,
                 lambda n: "[ 1 " + "; 1 " * n + "x]"):
        assert_linear(citations.parse_markers, make, 200, 3200, what="parse_markers")


def test_sentence_end_on_long_stop_run_is_not_quadratic() -> None:
    assert_linear(sentences.split_sentences, lambda n: "Intro" + "?" * n + "x", 500, 4000,
                  what="split_sentences")


def test_sentence_split_with_stops_and_quotes_stays_linear() -> None:
    assert_linear(sentences.split_sentences, lambda n: "Intro" + "?\"" * n + "x", 500, 4000,
                  what="split_sentences")


def test_markdown_title_is_not_cubic() -> None:
    assert_linear(loading._markdown, lambda n: "# x" + " " * n + "y\n\nBody text.", 100, 800,
                  what="markdown title")


def test_markdown_title_with_hashes_stays_linear() -> None:
    assert_linear(loading._markdown, lambda n: "# x" + " #" * n + " y\n\nBody.", 100, 800,
                  what="markdown title")


def test_strip_boilerplate_is_not_quadratic_in_paragraphs() -> None:
    # furniture headings everywhere, but a real sentence last: nothing may be cut, and each
    # heading used to rescan everything after it
    def make(n: int) -> str:
        return "Real text.\n\n" + "Comments\n\n" * n + "This is prose. It has sentences. Many of them."

    assert_linear(cleaning.strip_boilerplate, make, 200, 1600, what="strip_boilerplate")


def test_autolink_on_repeated_openers_is_not_quadratic() -> None:
    # issue 24: "<http:a" again and again; the URL run crossed every later "<" and rescanned the tail
    assert_linear(citations.neutralise, lambda n: "<http:a" * n, 200, 3200, what="neutralise autolink")


def test_api_footnote_strip_is_not_quadratic() -> None:
    # issue 24 #3: the /v1 history's footnote strip was a lazy DOTALL regex rescanned from every "\n\n"
    from ui.openai_api import strip_footnote

    assert_linear(strip_footnote, lambda n: "\n\nNote: a" * n, 200, 3200,
                  what="strip_footnote")


def test_fixed_patterns_keep_their_meaning() -> None:
    assert citations.parse_markers("Paris is big [1, 2]. Rome [Source 3] [4-5].") == ("Paris is big. Rome.",
                                                                                      [1, 2, 3, 4, 5])
    assert citations.parse_markers("Odd [1, 1, 1, 1") == ("Odd [1, 1, 1, 1", [])
    text = 'He said "Stop!" Then left?! Fine... ok. Mr. Smith came.'
    assert [text[s:e] for s, e in sentences.split_sentences(text)] == [
        'He said "Stop!"', "Then left?!", "Fine...", "ok.", "Mr. Smith came."]
    assert loading._markdown("# Title here ##\n\nBody.")[1] == "Title here"
    assert loading._markdown("  # Spaced   title  \n\nBody.")[1] == "Spaced   title"
    doc = "Intro para.\n\nMore prose here. Yes.\n\nBody again.\n\nComments\n\nGreat post\n\nNice"
    assert cleaning.strip_boilerplate(doc) == "Intro para.\n\nMore prose here. Yes.\n\nBody again."
    kept = "Intro para.\n\nMore.\n\nComments\n\nThis is a sentence. And another one here."
    assert cleaning.strip_boilerplate(kept) == kept
    assert citations.neutralise("see <https://example.org/a> now") == "see https://example.org/a now"
