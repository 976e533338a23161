"""What the page's events do: chat, documents and evaluation handlers, each a small method.

The handlers hold the assistant (answers) and the library (documents); they never build parts and never
reach through one into another. Everything shown goes through ui.render, which escapes untrusted text.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import RagError
from core.settings import DEFAULT_COLLECTION, Settings, collection_names
from core.types import Answer, Final, TextDelta, Turn
from index.pipeline import Indexer
from rag.compose import Assistant
from ui import evaluation, render
from ui.export import conversation_markdown
from ui.limits import UploadQuota
from ui.page_files import Downloads
from ui.paths import REFUSED, ClientFiles, upload_root
from ui.uploads import accept_uploads, upload_path

log = logging.getLogger(__name__)
VIEWER_HINT = "Click a numbered marker or a source card in an answer to see the passage in its document."
READER_HINT = "Pick a document to read it in full."


@dataclass
class Session:
    """One browser session's conversation."""

    questions: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    # reader feedback (ui.feedback): this conversation's id, the source last opened in the viewer, and the
    # passage the reader pointed at for "the documents do answer this"
    conversation: str = field(default_factory=lambda: secrets.token_hex(6))
    viewed: tuple[int, str, int] | None = None
    pointer: Any = None
    feedback_sent: bool = False  # the last Send was recorded: the form is emptied (no duplicate by accident)

    def history(self) -> list[Turn]:
        turns: list[Turn] = []
        for q, a in zip(self.questions, self.answers, strict=True):
            turns += [Turn("user", q), Turn("assistant", a.text)]
        return turns

    def messages(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for i, (q, a) in enumerate(zip(self.questions, self.answers, strict=True)):
            out += [{"role": "user", "content": render.user_html(q)},
                    {"role": "assistant", "content": render.answer_html(a, i)}]
        return out


def status_html(lines: list[str]) -> str:
    items = "".join(f"<li>{render.escape(line)}</li>" for line in lines)
    return f'<ul class="upload-report">{items}</ul>'


def _count(n: int) -> str:
    return f"{n} document{'s' if n != 1 else ''}"


def _naming(lines: list[str], collection: str) -> list[str]:
    """Every upload status line names the collection it is about (issue 29, item 4)."""
    return [line if f"“{collection}”" in line else f"{line} (collection “{collection}”)" for line in lines]


def _assistant_says(shown: list[dict[str, str]], html: str) -> list[dict[str, str]]:
    return [*shown, {"role": "assistant", "content": html}]


def _default_downloads() -> Downloads:
    return Downloads(Path(tempfile.gettempdir()) / "cited-answers-downloads")


class ChatHandlers:
    def __init__(self, assistant: Assistant, library: Indexer, downloads: Downloads | None = None) -> None:
        self.assistant = assistant
        self.library = library
        self.downloads = downloads or _default_downloads()  # managed and cleaned (finding 15)

    def ask_in_page(self, question: str, session: Session, collections: list[str] | str | None = None
                    ) -> Iterator[tuple]:
        """The page's Send: as `ask`, but the finished answer leaves the box alone: it may already hold the
        next question, typed while this one was answered (issue 29, item 8)."""
        yield from self.ask(question, session, collections, final_box=gr.skip())

    def ask(self, question: str, session: Session, collections: list[str] | str | None = None,
            final_box: Any = "") -> Iterator[tuple]:
        """Stream the answer into the chat: (messages, question box, session, answer JSON). `collections`:
        the chat's selector (none chosen: the server's default, RAG_COLLECTION). The API endpoint; the box
        ends as `final_box`."""
        question = (question or "").strip()
        if not question:
            yield session.messages(), "", session, gr.skip()
            return
        turn = len(session.answers)
        shown = [*session.messages(), {"role": "user", "content": render.user_html(question)}]
        # the box is emptied once, as the question is taken; later updates leave it alone, so a next question
        # typed while this answer streams is never erased (issue 29, item 8)
        yield _assistant_says(shown, render.streaming_html("")), "", session, gr.skip()
        partial, answer, error = "", None, ""
        try:
            for event in self.assistant.stream(question, session.history(), collections=collections or None):
                if isinstance(event, TextDelta):
                    partial += event.text
                    yield _assistant_says(shown, render.streaming_html(partial)), gr.skip(), session, gr.skip()
                elif isinstance(event, Final):
                    answer = event.answer
        except RagError as e:
            error = str(e)
        except Exception:
            log.exception("answering failed")
            error = "Something went wrong while answering; the server log has the details."
        if error or answer is None:
            # the refused question goes back into the box, to be shortened or sent again
            yield _assistant_says(shown, render.error_html(error or "No answer was produced.")), question, session, None
            return
        session.questions.append(question)
        session.answers.append(answer)
        yield session.messages(), final_box, session, answer.to_dict() | {"turn": turn}

    def export(self, session: Session) -> Any:
        """The conversation as a Markdown file for the download button (disabled while the chat is empty)."""
        if not session.answers:
            return gr.DownloadButton(value=None, interactive=False)
        text = conversation_markdown(list(zip(session.questions, session.answers, strict=True)))
        path = self.downloads.write("conversation.md", text)
        return gr.DownloadButton(value=str(path), interactive=True)

    @staticmethod
    def viewer_hint() -> str:
        return render.placeholder_html(VIEWER_HINT)

    def new_chat(self, session: Session) -> tuple:
        return [], "", Session(), None, render.placeholder_html(VIEWER_HINT)

    def show_source(self, session: Session, evt: gr.EventData) -> str:
        data = getattr(evt, "_data", None) or {}
        try:
            kind, turn, n = str(data.get("kind")), int(data.get("turn")), int(data.get("n"))
            answer = session.answers[turn]
        except (TypeError, ValueError, IndexError):
            return render.placeholder_html("That answer is no longer in this chat.")
        sentence = data.get("sentence")
        h = render.highlight_for(answer, kind, n, int(sentence) if str(sentence).isdigit() else None)
        if h is None:
            return render.placeholder_html("That source is not part of the answer.")
        session.viewed = (turn, kind, n)  # "use the passage shown in the viewer" (ui.feedback)
        try:
            doc = self.library.document(h.doc_id)
        except KeyError:
            return render.placeholder_html("That document has been removed from the index since this answer.")
        return render.source_html(doc, h)


class DocumentHandlers:
    def __init__(self, library: Indexer, settings: Settings, generator_name: str,
                 files: ClientFiles | None = None) -> None:
        self.library = library
        self.settings = settings
        self.generator_name = generator_name
        self.quota = UploadQuota(settings.max_uploads_per_session, window_s=3600)
        self.files = files or ClientFiles()  # the one gate for client-named paths (ui.paths)

    def views(self, collection: str | None = None) -> tuple:
        """(table rows, picker update, status line) for the documents of `collection` (None: all)."""
        every = self.library.documents()
        docs = sorted((d for d in every if collection in (None, d.collection)), key=lambda d: (not d.bundled, d.title.lower()))
        rows = [[" · ⚠ ".join(filter(None, (d.title, render.quarantine_badge(d.quarantined)))), d.n_chunks, d.kind,
                 d.doc_id] for d in docs]
        choices = [(f"{d.title} ({d.doc_id})", d.doc_id) for d in docs]
        chunks = sum(d.n_chunks for d in every)
        where = f"collection “{collection}”: {_count(len(docs))}" if collection else "all collections"
        status = (f"Ready · generator **{self.generator_name}** · {where} · {_count(len(every))}, {chunks} chunks "
                  "in all")
        value = choices[0][1] if choices else None
        return rows, gr.update(choices=choices, value=value), status

    def uploads_dir(self, collection: str) -> Path:
        """Where a collection's uploads are kept: the same file name may be in two collections."""
        root = self.settings.uploads_dir
        return root if collection == DEFAULT_COLLECTION else root / collection

    def add(self, files: list[str] | None, session: Session, progress: Any = None, client: str = "",
            collection: str | None = None) -> tuple:
        """Accept and index uploads into `collection` (a new name creates it). The cap counts per login or
        client address over a window, so neither a page reload nor a fresh API session resets it."""
        try:
            (collection,) = collection_names(collection or DEFAULT_COLLECTION)
        except (RagError, ValueError):
            problem = f"✗ {collection!r} is not a collection name: use letters, digits, '-' or '_' (one name)"
            return (status_html([problem]), *self.views(), session, None)
        checked, refused = self.files.check_all(files or [])
        paths = [str(p) for p in checked]
        lines = [] if files else ["Choose one or more files first."]
        if refused:
            lines.append(f"✗ {refused} file reference(s) refused: {REFUSED}")
        acc = accept_uploads(paths, self.uploads_dir(collection), max_bytes=self.settings.max_upload_bytes,
                             already=self.quota.used(client), max_files=self.quota.max_files)
        self.quota.record(client, len(acc.stored))
        lines += [f"✗ {name}: {why}" for name, why in acc.refused]
        if acc.stored:
            lines += self._ingest(acc.stored, progress, collection)
        return (status_html(_naming(lines, collection)), *self.views(collection), session, None)

    def _ingest(self, stored: dict[str, str], progress: Any, collection: str = DEFAULT_COLLECTION) -> list[str]:
        def report(stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress((done, max(total, 1)), desc=f"{stage} {done}/{total}")

        if progress is not None:
            progress(0, desc="reading files")
        try:
            rep = self.library.add(list(stored), progress=report, names=stored, collection=collection)
        except RagError as e:
            return [f"✗ indexing failed, the index is unchanged: {self._shown(str(e), collection)}"]
        lines = [f"✓ {d}: added to collection “{collection}”" for d in rep.added]
        lines += [f"✓ {d}: replaced the earlier version in collection “{collection}”" for d in rep.replaced]
        lines += [f"• {d}: already in collection “{collection}”, unchanged" for d in rep.skipped]
        kept = {d.source for d in self.library.documents() if d.collection == collection}
        for err in rep.errors:
            lines.append(f"✗ {self._shown(str(err), collection)}")
            bad = upload_path(self.uploads_dir(collection), Path(err.path).name)
            if bad is not None and bad.name not in kept:
                bad.unlink(missing_ok=True)
        return [*lines, f"Collection “{collection}”: {rep.summary()}"]

    def _shown(self, message: str, collection: str) -> str:
        """A message about a stored upload names the file, not where the server keeps it."""
        folder = self.uploads_dir(collection)
        for prefix in {str(folder.resolve()), str(folder)}:
            message = message.replace(prefix + "/", "")
        return message

    def read(self, doc_id: str | None) -> str:
        if not doc_id:
            return render.placeholder_html(READER_HINT)
        try:
            return render.document_html(self.library.document(doc_id))
        except KeyError:
            return render.placeholder_html(f"{doc_id} is not in the index.")

    def collection_choices(self, chat: list[str] | None, shown: str | None) -> tuple:
        """Updates for the chat's and the documents tab's collection selectors (the chat keeps its choice)."""
        names = self.library.collections()
        kept = [c for c in (chat or []) if c in names] or [DEFAULT_COLLECTION]
        return (gr.update(choices=names, value=kept),
                gr.update(choices=sorted({*names, shown or DEFAULT_COLLECTION}), value=shown or DEFAULT_COLLECTION))

    def ask_remove(self, doc_id: str | None) -> tuple:
        """The first click on "Remove": (confirmation visible?, its question, status): nothing is removed yet."""
        info = next((d for d in self.library.documents() if d.doc_id == doc_id), None) if doc_id else None
        problem = ("Pick a document to remove." if not doc_id else f"✗ {doc_id} is not in the index." if info is None
                   else f"✗ {info.title} is a bundled document; it stays so there is always something to ask about."
                   if info.bundled else "")
        if problem or info is None:
            return gr.update(visible=False), "", status_html([problem])
        question = (f"Remove **{render.escape(info.title)}** ({render.escape(info.doc_id)}) from collection "
                    f"“{render.escape(info.collection)}”? Its passages leave the index and earlier answers can no "
                    "longer open it. This cannot be undone; add the file again to bring it back.")
        return gr.update(visible=True), question, gr.skip()

    def collection_choices_after_add(self, chat: list[str] | None, shown: str | None) -> tuple:
        """After an upload: as collection_choices, and the chat now also asks the collection files went into."""
        names = self.library.collections()
        return self.collection_choices([*(chat or []), *([shown] if shown in names else [])], shown)

    def remove(self, doc_id: str | None) -> tuple:
        info = next((d for d in self.library.documents() if d.doc_id == doc_id), None) if doc_id else None
        problem = ("Pick a document to remove." if not doc_id else f"✗ {doc_id} is not in the index." if info is None
                   else f"✗ {info.title} is a bundled document; it stays so there is always something to ask about."
                   if info.bundled else "")
        if not problem:
            try:
                self.library.remove(str(doc_id))
            except (RagError, KeyError) as e:
                problem = f"✗ could not remove {doc_id}: {e}"
        if problem:
            return (status_html([problem]), *self.views(info.collection if info else None), gr.skip())
        assert info is not None
        stored = upload_path(self.uploads_dir(info.collection), info.source)
        if stored is not None:
            stored.unlink(missing_ok=True)
        return (status_html([f"✓ removed {info.title} ({doc_id}) from collection “{info.collection}”"]),
                *self.views(info.collection),
                render.placeholder_html(READER_HINT))


class EvaluationHandlers:
    def __init__(self, assistant: Assistant, library: Indexer, runs_dir: Path, *, feedback: Any = None,
                 files: ClientFiles | None = None, downloads: Downloads | None = None) -> None:
        self.assistant = assistant
        self.library = library
        self.runs_dir = runs_dir
        self.downloads = downloads or _default_downloads()  # runs stay private; copies are handed out
        self.files = files or ClientFiles()  # the one gate for client-named paths (ui.paths)
        self.feedback = feedback  # rag.feedback.store.FeedbackStore: the "feedback" suite and its origins

    def run(self, choice: str | None, uploaded: str | None, progress: Any = None, viewer: str | None = None) -> tuple:
        """Run a bundled, uploaded or feedback suite. `viewer`: the login, who alone sees their comments."""
        def show(done: int, total: int, case: str) -> None:
            if progress is not None:
                progress((done, total), desc=f"case {case}")

        shown = {str(self.runs_dir): "eval-runs", str(upload_root()): "(uploads)"}
        try:
            if uploaded:
                real = self.files.check(uploaded)
                uploaded = str(real)
                shown |= {uploaded: real.name, str(real.parent): "(uploads)"}
            path = evaluation.resolve_suite(choice, uploaded, feedback=self.feedback, out_dir=self.runs_dir)
            if progress is not None:
                progress(0, desc="loading models and the suite")
            result = evaluation.run(self.assistant, path, self.runs_dir, show, store=self.library.store,
                                    feedback=self.feedback)
        except RagError as e:
            raise gr.Error(_without_paths(str(e), shown)) from e
        origins = evaluation.feedback_origins_html(result, self.feedback, viewer)
        files = self.downloads.publish([Path(p) for p in evaluation.downloads(result)])
        return (evaluation.charts_html(result) + origins, evaluation.metric_rows(result.summary),
                evaluation.case_rows(result), files, evaluation.report_iframe(result))


def _without_paths(message: str, shown: dict[str, str]) -> str:
    """An error about an uploaded file names it by its file name, never by where the server keeps it."""
    for path, name in sorted(shown.items(), key=lambda kv: -len(kv[0])):
        message = message.replace(path, name)
    return message
