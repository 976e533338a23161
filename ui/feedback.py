"""Reader feedback in the chat: the form (layout), what its events do (handlers) and how they are wired.

Each answer carries real buttons (ui.render.feedback_bar_html): good / wrong, "does not support this" on
each cited source, "the documents do answer this" on an abstention. ui/assets/feedback.js forwards a click
on one to this module, which fills and opens the form below the chat; the form is also usable on its own
with the keyboard (answer number, verdict, marker, expected answer, evidence, comment, Send). Submitting is
the named API endpoint /feedback. Records go to rag.feedback.store; every text shown back is escaped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.errors import InputError, LimitError, RagError
from core.settings import Settings
from core.types import Answer
from index.pipeline import Indexer
from rag.feedback.record import KINDS, Pointer, Verdict, build_record, describe_index, settings_hash
from rag.feedback.store import FeedbackStore
from ui import render
from ui.handlers import Session
from ui.limits import WindowCounter, client_key

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
# in-chat button -> verdict kind (the button classes fb-up, fb-down, fb-reject, fb-docs)
ACTIONS = {"up": "thumbs_up", "down": "thumbs_down", "reject": "citation_rejected", "docs": "documents_answer"}
FORM_HINT = ("Use the 👍 / 👎 buttons under an answer, “does not support this” beside a source, or fill the "
             "form yourself: answer number, verdict, then Send.")
# Reads the reader's text selection inside the source viewer: it becomes the evidence phrase.
SELECTION_JS = """(current) => {
  const sel = window.getSelection();
  const viewer = document.querySelector('#source-viewer');
  const inside = sel && sel.rangeCount && viewer && viewer.contains(sel.anchorNode);
  const text = inside ? sel.toString().trim() : '';
  return text || current;
}"""
FOCUS_JS = "() => { document.querySelector('#fb-kind input:checked, #fb-kind input')?.focus(); }"


def store_for(settings: Settings) -> FeedbackStore:
    return FeedbackStore(settings.feedback_dir, max_bytes=settings.feedback_max_bytes, keep=settings.feedback_keep)


def status_html(message: str, ok: bool | None = True) -> str:
    cls = "note" if ok is None else "ok" if ok else "error"
    return f'<div class="fb-status {cls}" role="status">{render.escape(message)}</div>'


def _answer_at(session: Session, number: Any) -> tuple[int, Answer]:
    try:
        turn = int(number) - 1
        if turn < 0:
            raise IndexError
        return turn, session.answers[turn]
    except (TypeError, ValueError, IndexError):
        raise InputError(f"there is no answer #{number} in this chat: give the number of one of its "
                         f"{len(session.answers)} answer(s)") from None


def _chunk_pointer(chunk: Any) -> Pointer:
    return Pointer(chunk.chunk_id, chunk.doc_id, chunk.start, chunk.end, chunk.text)


class FeedbackHandlers:
    def __init__(self, store: FeedbackStore, library: Indexer, settings: Settings) -> None:
        self.store = store
        self.library = library
        self.settings_digest = settings_hash(settings.public_dict())
        # per user/address per hour: a flood would rotate other readers' verdicts out (finding 9)
        self.per_hour = settings.feedback_per_hour
        self.sent = WindowCounter(3600.0)

    def open_form(self, session: Session, evt: gr.EventData) -> tuple:
        """An in-chat feedback button was clicked: fill the form for that answer and verdict."""
        data = getattr(evt, "_data", None) or {}
        kind = ACTIONS.get(str(data.get("action")))
        try:
            turn, answer = _answer_at(session, int(data.get("turn")) + 1)
        except (TypeError, ValueError, InputError):
            return (gr.skip(),) * 8
        session.pointer = None
        marker = int(data["n"]) if kind == "citation_rejected" and str(data.get("n", "")).isdigit() else None
        about = render.feedback_target_html(answer, turn, marker)
        return (gr.update(open=True), turn + 1, kind, marker, "", "", about,
                status_html("Add what you know (all optional but the verdict), then Send.", ok=None))

    def use_viewed(self, session: Session, evidence: str) -> tuple:
        """Point at the passage open in the source viewer (and the text selected in it, if any)."""
        pointer = self._viewed_pointer(session, evidence)
        if pointer is None:
            return "", evidence, session
        session.pointer = pointer
        label = f"{pointer.doc_id}, characters {pointer.start}-{pointer.end}"
        return label, evidence, session

    def _viewed_pointer(self, session: Session, evidence: str) -> Pointer | None:
        if session.viewed is None:
            return None
        turn, kind, n = session.viewed
        h = render.highlight_for(session.answers[turn], kind, n) if turn < len(session.answers) else None
        if h is None:
            return None
        try:
            chunks = self.library.store.chunks_of(h.doc_id)
        except (KeyError, RagError):
            return None
        # the selected phrase's chunk when there is a selection, else the chunk the viewer highlights
        wanted = " ".join((evidence or "").split()).lower()
        chunks = sorted(chunks, key=lambda c: (c.start, c.end) != (h.start, h.end))  # the highlighted one first
        for c in chunks:
            if wanted and wanted in " ".join(c.text.split()).lower():
                return _chunk_pointer(c)
        return next((_chunk_pointer(c) for c in chunks if c.start == h.start and c.end == h.end), None)

    def submit(self, number: Any, kind: str | None, marker: Any, expected: str, evidence: str, comment: str,
               session: Session, request: gr.Request) -> tuple:
        """Store one verdict on answer #number of this chat: (status HTML, session)."""
        who = client_key(request)
        try:
            if self.sent.count(who) >= self.per_hour:
                raise LimitError(f"you have sent {self.per_hour} verdicts in the last hour, the limit: thank you; "
                                 "wait a while before sending more (the limit is RAG_FEEDBACK_PER_HOUR)")
            turn, answer = _answer_at(session, number)
            if not kind:
                raise InputError(f"choose a verdict: one of {', '.join(KINDS)}")
            pointer = session.pointer if kind == "documents_answer" else None
            if kind == "documents_answer" and pointer is None and evidence:
                pointer = next((_chunk_pointer(p.chunk) for p in answer.retrieved
                                if " ".join(evidence.split()).lower() in " ".join(p.chunk.text.split()).lower()), None)
            mark = int(marker) if marker not in (None, "") else None
            generation, docs_hash = describe_index(self.library)
            record = build_record(answer, session.history()[: 2 * turn], Verdict(kind, mark, expected, evidence, pointer),
                                  comment=comment, user=getattr(request, "username", None),
                                  conversation=session.conversation, turn=turn, index_generation=generation,
                                  documents_hash=docs_hash, settings_digest=self.settings_digest)
            self.store.append(record)
            self.sent.add(who)
        except RagError as e:
            return status_html(f"Not recorded: {e}", ok=False), session
        except Exception:
            log.exception("storing feedback failed")
            return status_html("Not recorded: something went wrong; the server log has the details.", ok=False), session
        session.pointer = None
        session.feedback_sent = True
        return status_html(f"Thank you: recorded as {record['id']} ({KINDS[kind]})."), session

    def clear_after_send(self, session: Session) -> tuple:
        """After a recorded Send the form empties (a second Send would be a duplicate); after a refused one
        it keeps what was typed, to be corrected."""
        if not session.feedback_sent:
            return (gr.skip(),) * 7
        session.feedback_sent = False
        return None, None, None, "", "", "", ""


def build_feedback_panel(ui: SimpleNamespace) -> None:  # declarative layout: exempt from the 60-line rule
    """The feedback form, inside the current Blocks (under the chat)."""
    # outside the accordion: a closed accordion does not render its children, and this one's script must run
    ui.fb_about = gr.HTML(f'<div class="fb-hint">{render.escape(FORM_HINT)}</div>', elem_id="fb-about",
                          js_on_load=(ASSETS / "feedback.js").read_text("utf-8"))
    with gr.Accordion("Feedback on an answer", open=False, elem_id="feedback") as ui.fb_panel:
        with gr.Row(equal_height=True):
            ui.fb_turn = gr.Number(label="Answer number (1 = first answer)", precision=0, minimum=1,
                                   elem_id="fb-turn", min_width=120)
            ui.fb_marker = gr.Number(label="Citation number (for “does not support”)", precision=0, minimum=1,
                                     elem_id="fb-marker", min_width=120)
        ui.fb_kind = gr.Radio([(label, kind) for kind, label in KINDS.items()], label="Your verdict",
                              elem_id="fb-kind")
        ui.fb_expected = gr.Textbox(label="Expected short answer (optional; needed for “the documents do "
                                    "answer this”)", max_length=300, elem_id="fb-expected")
        with gr.Row(equal_height=True):
            ui.fb_evidence = gr.Textbox(label="Evidence: the phrase of the passage that answers (select it in "
                                        "the source viewer, then press the button)", max_length=500,
                                        elem_id="fb-evidence", scale=3, min_width=200)
            ui.fb_use_passage = gr.Button("Use the passage shown in the viewer", size="sm", scale=1,
                                          min_width=120, elem_id="fb-use-passage")
        ui.fb_pointer = gr.Textbox(label="Passage pointed at", interactive=False, elem_id="fb-pointer")
        ui.fb_comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=2000, elem_id="fb-comment")
        ui.fb_send = gr.Button("Send feedback", variant="primary", elem_id="fb-send")
        ui.fb_status = gr.HTML(elem_id="fb-status")


def wire_feedback(ui: SimpleNamespace, fb: FeedbackHandlers) -> None:
    form = [ui.fb_panel, ui.fb_turn, ui.fb_kind, ui.fb_marker, ui.fb_expected, ui.fb_evidence, ui.fb_about,
            ui.fb_status]
    ui.fb_about.click(fb.open_form, [ui.session], form, api_visibility="undocumented",
                      show_progress="hidden").then(None, js=FOCUS_JS)
    ui.fb_use_passage.click(None, [ui.fb_evidence], [ui.fb_evidence], js=SELECTION_JS, queue=False).then(
        fb.use_viewed, [ui.session, ui.fb_evidence], [ui.fb_pointer, ui.fb_evidence, ui.session],
        api_visibility="private")
    ui.fb_send.click(fb.submit, [ui.fb_turn, ui.fb_kind, ui.fb_marker, ui.fb_expected, ui.fb_evidence,
                                 ui.fb_comment, ui.session], [ui.fb_status, ui.session], api_name="feedback").then(
        fb.clear_after_send, [ui.session], [ui.fb_turn, ui.fb_kind, ui.fb_marker, ui.fb_expected, ui.fb_evidence,
                                            ui.fb_pointer, ui.fb_comment], api_visibility="private",
        show_progress="hidden")
