"""Pure rendering: answers, passages and documents to HTML that is safe to show.

Everything that comes from a document, a model or a user is untrusted and leaves here escaped: the chat
is shown with markdown rendering off, so `[x](http://...)`, `![img](...)`, `<script>` and
`<img onerror=...>` reach the reader as the characters they are. Only the markup built in this module
(marker buttons, source cards, <mark>) is HTML. Document text (titles, quotes, snippets, the viewer) also
goes through core.untrusted.inert, so a "[1]" or "Sources:" inside a document never passes for ours.

Clickable things carry the classes `ref ref-{kind} ref-t{turn} ref-n{n}` (kind "cite" or "passage"); the
page's script turns a click on one into a request for the source viewer (ui/assets/viewer.js). Classes,
not data- attributes, because the chat's HTML sanitizer drops data- attributes.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from pathlib import Path

from core.language.markers import TRAILING_STOP, VERIFIED_MARKER
from core.types import Answer, Citation, Document, Passage
from core.untrusted import inert
from index.pages import page_label
from rag.pipeline import STAGES

_STAGE_ORDER = (*STAGES, "total")
SNIPPET_CHARS = 160
# shown only when the viewer opens as a sheet over the chat on a phone (ui/assets/viewer.js, app.css)
SHEET_CLOSE = '<button type="button" class="sheet-close" aria-label="Close the source">Close ✕</button>'
# the small label a plan's answer carries (a fact needs none)
PLAN_LABELS = {"overview": "summary", "list": "list", "comparison": "comparison", "explanation": "explanation",
               "library": "your library"}


def escape(text: object) -> str:
    """HTML-escape text (quotes too), so it can sit in element content or an attribute value."""
    return html.escape("" if text is None else str(text), quote=True)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = inert(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def ref_classes(kind: str, turn: int, n: int, sentence: int | None = None) -> str:
    """The classes that tell the page's script what a clicked marker or card refers to; a marker also names
    the answer sentence it sits on (ref-s<i>), so it opens the quote supporting that claim."""
    claim = f" ref-s{int(sentence)}" if sentence is not None else ""
    return f"ref ref-{kind} ref-t{int(turn)} ref-n{int(n)}{claim}"


def _marker_button(turn: int, n: int, title: str, sentence: int | None = None) -> str:
    return (f'<button type="button" class="cite-marker {ref_classes("cite", turn, n, sentence)}" '
            f'title="Show source: {escape(inert(title))}" aria-label="Source {n}: {escape(inert(title))}">'
            f'{n}</button>')


def _text_with_markers(text: str, turn: int, titles: dict[int, str]) -> str:
    """Escape text, turning [n] markers of known citations into buttons; unknown markers stay plain text."""
    out, pos = [], 0
    for m in VERIFIED_MARKER.finditer(text):
        n = int(m.group(1))
        if n not in titles:
            continue
        out.append(escape(text[pos:m.start()]))
        out.append(_marker_button(turn, n, titles[n]))
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def user_html(question: str) -> str:
    return f'<div class="user-msg">{escape(question)}</div>'


def streaming_html(partial: str) -> str:
    """The answer while it streams: plain escaped text; markers become clickable only once verified."""
    return f'<div class="answer streaming">{escape(partial)}<span class="cursor" aria-hidden="true">▍</span></div>'


def _sentence_html(text: str, markers: tuple[int, ...], turn: int, titles: dict[int, str], index: int) -> str:
    """One sentence (answer sentence `index`) with its marker buttons, placed before the final stop as the
    answer text has them."""
    buttons = "".join(_marker_button(turn, n, titles[n], index) for n in markers if n in titles)
    if not buttons:
        return escape(text)
    stop = TRAILING_STOP.search(text)
    if stop:
        return f"{escape(text[:stop.start()].rstrip())} {buttons}{escape(stop.group(0))}"
    return f"{escape(text)} {buttons}"


def _body_html(answer: Answer, turn: int) -> str:
    """The answer text with its markers, each unsupported sentence visibly marked."""
    titles = {c.marker: c.title for c in answer.citations}
    if answer.plan != "fact" and "\n- " in f"\n{answer.text}":
        return _bullets_html(answer.text, turn, titles)
    if not answer.sentences:
        return _text_with_markers(answer.text, turn, titles)
    out = []
    for i, s in enumerate(answer.sentences):
        inner = _sentence_html(s.text, s.markers, turn, titles, i)
        if s.supported:
            out.append(f'<span class="sent">{inner}</span>')
        else:
            out.append(f'<span class="sent unsupported" title="No indexed passage supports this sentence">'
                       f'{inner}<span class="badge warn">unsupported</span></span>')
    return " ".join(out)


def _bullets_html(text: str, turn: int, titles: dict[int, str]) -> str:
    """A plan's answer (summary, list, comparison): lead lines, **group** headings and one bullet per claim,
    each with its own clickable marker."""
    out, items = [], []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(f"<li>{_text_with_markers(line[2:], turn, titles)}</li>")
            continue
        if items:
            out.append(f'<ul class="plan-list">{"".join(items)}</ul>')
            items = []
        heading = line.startswith("**") and line.endswith("**") and len(line) > 4
        body = escape(line[2:-2]) if heading else _text_with_markers(line, turn, titles)
        out.append(f'<div class="{"plan-group" if heading else "plan-lead"}">{body}</div>')
    if items:
        out.append(f'<ul class="plan-list">{"".join(items)}</ul>')
    return "".join(out)


def _page_span(label: str) -> str:
    return f'<span class="card-page">{escape(label)}</span>' if label else ""


def _passage_card(p: Passage, turn: int, i: int, show_scores: bool) -> str:
    c = p.chunk
    page = page_label(c.page, c.page_at(c.end - 1))
    scores = ""
    if show_scores:
        parts = [f"rank {p.rank}", f"fused {p.score:.4f}"]
        if p.dense is not None:
            parts.append(f"dense {p.dense:.3f}")
        if p.lexical is not None:
            parts.append(f"bm25 {p.lexical:.2f}")
        scores = f'<span class="scores">{escape(" · ".join(parts))}</span>'
    return (f'<button type="button" class="source-card passage {ref_classes("passage", turn, i)}">'
            f'<span class="card-title">{escape(inert(c.title))}</span>{_page_span(page)}{scores}'
            f'<span class="card-snippet">{escape(_snippet(c.text))}</span></button>')


def _citation_card(c: Citation, turn: int) -> str:
    quote = c.text
    if c.quote_start is not None and c.quote_end is not None and c.start <= c.quote_start < c.quote_end <= c.end:
        quote = c.text[c.quote_start - c.start: c.quote_end - c.start]
    return (f'<button type="button" class="source-card {ref_classes("cite", turn, c.marker)}">'
            f'<span class="card-marker">{c.marker}</span><span class="card-title">{escape(inert(c.title))}</span>'
            f'{_page_span(page_label(c.page, c.page_end))}'
            f'<span class="card-snippet">{escape(_snippet(quote))}</span></button>')


NO_ANSWER_WORDS = "No sentence in your documents answers this."


def meta_html(answer: Answer) -> str:
    """Which generator answered and how long it took, in one muted line; the per-stage timings (developer
    words: first_token, first_shown, ...) and an abstention's reason, with its numbers, behind "Details"."""
    stages = sorted(answer.timings.items(),
                    key=lambda kv: (_STAGE_ORDER.index(kv[0]) if kv[0] in _STAGE_ORDER else 99, kv[0]))
    times = " · ".join(f"{escape(k)} {v:.0f} ms" for k, v in stages)
    gen = f'<span class="gen">{escape(answer.generator)}</span>'
    plan = f'<span class="plan-label">{escape(PLAN_LABELS.get(answer.plan, answer.plan))}</span> · ' \
        if answer.plan != "fact" else ""
    total = answer.timings.get("total")
    took = f" · answered in {total / 1000:.1f} s" if total is not None else ""
    why = f'<div class="detail-reason">why: {escape(answer.abstain_reason)}</div>' if answer.abstain_reason else ""
    details = (f'<details class="details"><summary>Details</summary>{why}'
               f'<div class="detail-times">{times}</div></details>') if times or why else ""
    return f'<div class="meta">{plan}{gen}{took}{details}</div>'


def answer_html(answer: Answer, turn: int, closest: int = 3) -> str:
    """A finished answer: text with clickable markers, cited-source cards, retrieved passages behind a toggle,
    an abstention banner with the closest passages, any notice, and the generator/timings line."""
    parts = ['<div class="answer">']
    if answer.abstained:
        parts.append('<div class="abstain"><span class="badge">Not in the sources</span> '
                     f'{escape(answer.text)}</div>')
        parts.append(f'<div class="reason">{escape(NO_ANSWER_WORDS)}</div>')  # the numbers: under Details
        if answer.retrieved and closest > 0:
            parts.append('<div class="cards-label">Closest passages found (not enough to answer):</div>'
                         '<div class="cards">')
            parts.extend(_passage_card(p, turn, i, show_scores=False)
                         for i, p in enumerate(answer.retrieved[:closest]))
            parts.append("</div>")
    else:
        parts.append(f'<div class="answer-text">{_body_html(answer, turn)}</div>')
        unsupported = len(answer.unsupported_sentences)
        if unsupported:
            parts.append(f'<div class="warn-line">{unsupported} sentence{"s" if unsupported > 1 else ""} '
                         "could not be matched to a source: check before relying on it.</div>")
        if answer.citations:
            parts.append('<div class="cards-label">Sources</div><div class="cards">')
            parts.extend(f'<div class="cite-row">{_citation_card(c, turn)}{reject_button(turn, c.marker)}</div>'
                         for c in answer.citations)
            parts.append("</div>")
    if answer.notice:
        parts.append(f'<div class="notice">{escape(answer.notice)}</div>')
    if answer.retrieved:
        parts.append(f'<details class="retrieved"><summary>Retrieved passages ({len(answer.retrieved)}) '
                     'with scores</summary><div class="cards">')
        parts.extend(_passage_card(p, turn, i, show_scores=True) for i, p in enumerate(answer.retrieved))
        parts.append("</div></details>")
    parts.append(meta_html(answer))
    parts.append(feedback_bar_html(answer, turn))
    parts.append("</div>")
    return "".join(parts)


def _fb_classes(action: str, turn: int, n: int | None = None) -> str:
    """Classes telling ui/assets/feedback.js which verdict a feedback button starts (see ui.feedback)."""
    return f"fb fb-{action} fb-t{int(turn)}" + (f" fb-n{int(n)}" if n is not None else "")


def reject_button(turn: int, marker: int) -> str:
    return (f'<button type="button" class="fb-reject-btn {_fb_classes("reject", turn, marker)}" '
            f'title="Source [{marker}] does not support the sentence that cites it">'
            f"[{marker}] does not support this</button>")


def feedback_bar_html(answer: Answer, turn: int) -> str:
    """Real buttons under an answer: good, wrong, and on an abstention "the documents do answer this"."""
    buttons = [f'<button type="button" class="{_fb_classes("up", turn)}" title="Good answer"><span aria-hidden="true">👍</span> Good</button>',
               f'<button type="button" class="{_fb_classes("down", turn)}" title="Wrong or unhelpful answer">'
               '<span aria-hidden="true">👎</span> Wrong</button>']
    if answer.abstained:
        buttons.append(f'<button type="button" class="{_fb_classes("docs", turn)}" title="Say what the documents '
                       'answer, and point at the passage">The documents do answer this</button>')
    return f'<div class="feedback-bar"><span class="fb-label">Answer {turn + 1}:</span>{"".join(buttons)}</div>'


def feedback_target_html(answer: Answer, turn: int, marker: int | None = None) -> str:
    """What the feedback form is about: the answer (and the rejected source), escaped."""
    cited = next((c for c in answer.citations if c.marker == marker), None) if marker is not None else None
    source = (f'<div class="fb-source">Source [{cited.marker}] {escape(inert(cited.title))}: '
              f"{escape(_snippet(cited.text))}</div>") if cited else ""
    return (f'<div class="fb-target"><b>Answer {turn + 1}</b> to “{escape(_snippet(answer.question, 120))}”: '
            f"{escape(_snippet(answer.text, 200))}{source}</div>")


def error_html(message: str) -> str:
    return f'<div class="answer error"><span class="badge warn">Error</span> {escape(message)}</div>'


@dataclass(frozen=True)
class Highlight:
    """What the source viewer should show: a document and the spans to highlight in it."""

    doc_id: str
    start: int
    end: int
    quote_start: int | None
    quote_end: int | None
    label: str
    expected: str  # the passage text the span should cover, to detect a document changed since
    page: str = ""  # "p. 3" where the highlighted passage lies in a paged document (PDF), else ""


def highlight_for(answer: Answer, kind: str, n: int, sentence: int | None = None) -> Highlight | None:
    """The span a clicked marker/card refers to: a citation by marker number, or a retrieved passage by position.
    A marker names its answer sentence: the quote is the one supporting that claim (the citation's best
    quote for a card, or when the citation holds no claim for that sentence)."""
    if kind == "cite":
        for c in answer.citations:
            if c.marker == n:
                claim = c.claim_for(sentence)
                qs, qe = (claim.quote_start, claim.quote_end) if claim else (c.quote_start, c.quote_end)
                return Highlight(c.doc_id, c.start, c.end, qs, qe, f"[{c.marker}] cited passage", c.text,
                                 page_label(c.page, c.page_end))
        return None
    if kind == "passage" and 0 <= n < len(answer.retrieved):
        p = answer.retrieved[n]
        return Highlight(p.chunk.doc_id, p.chunk.start, p.chunk.end, None, None,
                         f"retrieved passage #{p.rank}", p.chunk.text,
                         page_label(p.chunk.page, p.chunk.page_at(p.chunk.end - 1)))
    return None


def _relocate(text: str, h: Highlight) -> tuple[int, int, int | None, int | None, bool]:
    """Spans checked against the text; if the document changed since the answer, find the passage again."""
    if 0 <= h.start < h.end <= len(text) and (not h.expected or text[h.start:h.end] == h.expected):
        qs, qe = h.quote_start, h.quote_end
        if qs is None or qe is None or not (0 <= qs < qe <= len(text)):
            qs = qe = None
        return h.start, h.end, qs, qe, True
    i = text.find(h.expected) if h.expected else -1
    if i >= 0:
        shift = i - h.start
        qs = h.quote_start + shift if h.quote_start is not None else None
        qe = h.quote_end + shift if h.quote_end is not None else None
        if qs is None or qe is None or not (i <= qs < qe <= i + len(h.expected)):
            qs = qe = None
        return i, i + len(h.expected), qs, qe, True
    return 0, 0, None, None, False


def quarantine_badge(n: int) -> str:
    """The words of the badge on a document with sentences addressed to AI assistants ("" when none)."""
    return f"contains text addressed to AI assistants ({n} sentence{'s' if n != 1 else ''})" if n else ""


def _doc_header(doc: Document, label: str = "", page: str = "") -> str:
    lab = f'<span class="badge">{escape(label)}</span> ' if label else ""
    lab += f'<span class="badge page">{escape(page)}</span> ' if page else ""
    flagged = quarantine_badge(int(doc.meta.get("quarantined", 0) or 0))
    warn = (f' <span class="badge quarantine" title="These sentences are never quoted or shown to a model">'
            f"{escape(flagged)}</span>") if flagged else ""
    return (f'<div class="doc-head">{lab}<span class="doc-title">{escape(inert(doc.title))}</span>'
            f'<span class="doc-source">{escape(shown_source(doc.source))}</span>{warn}</div>')


def source_html(doc: Document, h: Highlight) -> str:
    """The full document with the cited chunk highlighted and its best sentence highlighted more strongly.

    The element to scroll to has id "cite-target" (the quote when there is one, else the chunk start).
    """
    text = doc.text
    start, end, qs, qe, found = _relocate(text, h)
    notice = "" if found else ('<div class="notice">This document changed since the answer was given: the cited '
                               "passage is no longer in it.</div>")
    pages = _page_marks(doc)
    cuts = sorted({0, len(text), start, end, *(x for x in (qs, qe) if x is not None), *pages})
    out, target_done = [], False
    for a, b in itertools.pairwise(cuts):
        if a >= b:
            continue
        out.append(pages.get(a, ""))
        seg = escape(inert(text[a:b]))  # same length: the cuts stay on the same characters
        in_chunk = found and start <= a and b <= end
        in_quote = in_chunk and qs is not None and qe is not None and qs <= a and b <= qe
        if not in_chunk:
            out.append(seg)
            continue
        wants_target = not target_done and (in_quote or qs is None)
        tid = ' id="cite-target"' if wants_target else ""
        target_done = target_done or wants_target
        cls = "cite-quote" if in_quote else "cite-chunk"
        out.append(f'<mark class="{cls}"{tid}>{seg}</mark>')
    return (f'<div class="source-view" role="dialog" aria-label="Source">{SHEET_CLOSE}'
            f'{_doc_header(doc, h.label, h.page)}{notice}<div class="doc-text">{"".join(out)}</div></div>')


def document_html(doc: Document) -> str:
    """A whole document to read, nothing highlighted."""
    pages = _page_marks(doc)
    cuts = sorted({0, len(doc.text), *pages})
    body = "".join(pages.get(a, "") + escape(inert(doc.text[a:b])) for a, b in itertools.pairwise(cuts))
    return (f'<div class="source-view">{_doc_header(doc)}'
            f'<div class="doc-text">{body}</div></div>')


def _page_marks(doc: Document) -> dict[int, str]:
    """Offset -> an empty element where a page (after the first) starts, for paged documents (PDF).

    Empty, its label drawn by CSS from the title (`.page-start::before`), so the document's text, its
    copy-paste and every highlight stay exactly the characters of the document."""
    starts = doc.meta.get("page_starts") or []
    marks: dict[int, str] = {}
    for n, offset in enumerate(starts, 1):
        if n > 1 and 0 < offset < len(doc.text):
            marks[offset] = f'<span class="page-start" title="{escape(page_label(n))}"></span>'
    return marks


def placeholder_html(message: str) -> str:
    return f'<div class="source-view empty">{SHEET_CLOSE}{escape(message)}</div>'


def shown_source(source: str) -> str:
    """A document's source as the viewer shows it: its file name only, never where the server keeps it
    (an absolute path, or a folder of the server's like data/corpus/)."""
    return Path(source.replace("\\", "/")).name or source
