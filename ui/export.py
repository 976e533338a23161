"""An answer's citations as plain data and text: the OpenAI API's `citations`, its sources footnote, MCP's
structured content, and the Markdown export of a conversation all come from here, so they agree.

An abstention says "The closest passages are listed below." and the page shows them as cards; a client
without the page gets them here, as a "Closest passages" block after the text and as records."""

from __future__ import annotations

from collections.abc import Sequence

from core.types import Answer, Chunk, Citation, Passage
from core.untrusted import inert
from index.pages import page_label


def quote_text(c: Citation) -> str:
    """The best-supporting sentence when the verifier found one inside the chunk, else the whole chunk."""
    if c.quote_start is not None and c.quote_end is not None and c.start <= c.quote_start < c.quote_end <= c.end:
        return c.text[c.quote_start - c.start: c.quote_end - c.start]
    return c.text


def claim_records(answer: Answer, c: Citation) -> list[dict]:
    """One quote per claim: each answer sentence citing `c` and the document sentence that supports it."""
    out = []
    for k in c.claims:
        if not (0 <= k.sentence < len(answer.sentences) and c.start <= k.quote_start < k.quote_end <= c.end):
            continue
        out.append({"sentence": k.sentence, "text": answer.sentences[k.sentence].text,
                    "quote": c.text[k.quote_start - c.start: k.quote_end - c.start],
                    "quote_start": k.quote_start, "quote_end": k.quote_end})
    return out


def citation_records(answer: Answer) -> list[dict]:
    """One JSON-ready record per [n] marker: where the cited text lives and what it says; `claims` holds one
    quote per answer sentence that cites it (`quote` is the best of them)."""
    return [{"index": c.marker, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": c.title,
             "start": c.start, "end": c.end, "page": c.page, "page_end": c.page_end,
             "quote": quote_text(c), "quote_start": c.quote_start, "quote_end": c.quote_end,
             "claims": claim_records(answer, c)}
            for c in answer.citations]


SOURCES_HEAD = "Sources:"
CLOSEST_HEAD = "Closest passages (not enough to answer):"
CLOSEST = 3  # the closest passages offered with an abstention, as many as the page shows
_SNIPPET = 240


def closest_passages(answer: Answer, n: int = CLOSEST) -> list[Passage]:
    """The passages an abstention offers (the best retrieved ones); none for an answer."""
    return list(answer.retrieved[:n]) if answer.abstained else []


def closest_records(answer: Answer) -> list[dict]:
    """The closest passages of an abstention as JSON-ready records; document text made inert (same length,
    so start/end still slice the document)."""
    return [{"rank": p.rank, "chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "title": inert(p.chunk.title),
             "start": p.chunk.start, "end": p.chunk.end, "page": p.chunk.page, "text": inert(p.chunk.text)}
            for p in closest_passages(answer)]


def _snippet(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1].rstrip() + "…"


def closest_block(answer: Answer) -> str:
    """The closest passages listed under an abstention, one line each, or "" when there are none."""
    lines = [f'- {_one_line(p.chunk.title)} ({p.chunk.doc_id}, {_page(p.chunk)}characters {p.chunk.start}-'
             f'{p.chunk.end}): "{_snippet(p.chunk.text)}"' for p in closest_passages(answer)]
    return f"{CLOSEST_HEAD}\n" + "\n".join(lines) if lines else ""


def _page(c: Citation | Chunk) -> str:
    last = c.page_end if isinstance(c, Citation) else c.page_at(c.end - 1)
    label = page_label(c.page, last)
    return f"{label}, " if label else ""


def _one_line(text: str) -> str:
    return inert(" ".join(text.split()))  # titles, quotes, questions: never markup or markers


def sources_footnote(answer: Answer) -> str:
    """'Sources:' and one line per marker, or "" when nothing is cited."""
    if not answer.citations:
        return ""
    lines = [f'[{c.marker}] {_one_line(c.title)} ({c.doc_id}, {_page(c)}characters {c.start}-{c.end}): '
             f'"{_one_line(quote_text(c))}"' for c in answer.citations]
    return f"{SOURCES_HEAD}\n" + "\n".join(lines)


def answer_content(answer: Answer) -> str:
    """What a chat client shows: the verified text with its [n] markers, a notice if any, then the sources
    (an abstention: the closest passages)."""
    parts = [answer.text]
    if answer.notice:
        parts.append(f"Note: {answer.notice}")
    footnote = sources_footnote(answer) or closest_block(answer)
    if footnote:
        parts.append(footnote)
    return "\n\n".join(parts)


def conversation_markdown(turns: Sequence[tuple[str, Answer]], title: str = "Conversation") -> str:
    """A conversation as Markdown: each question, its answer with [n] markers, and the quoted passages."""
    out = [f"# {title}", ""]
    for i, (question, answer) in enumerate(turns, 1):
        out += [f"## {i}. {_one_line(question)}", "", answer.text, ""]
        if answer.abstained:
            out += ["_The assistant abstained: the sources do not cover this question._", ""]
            if closest := closest_block(answer):
                out += [closest, ""]
        if answer.notice:
            out += [f"_Note: {answer.notice}_", ""]
        for c in answer.citations:
            out += [f"[{c.marker}] **{_one_line(c.title)}** ({c.doc_id}, {_page(c)}characters {c.start}-{c.end})", "",
                    f"> {_one_line(quote_text(c))}", ""]
    return "\n".join(out).rstrip() + "\n"
