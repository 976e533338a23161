"""The Gradio app: chat with checkable citations, documents, evaluation. An adapter over the Assistant.

Retrieval, citation checks and abstention all happen in rag/; this file only wires events to the
assistant and shows what it returns (through ui.render, which escapes everything untrusted).
Per-browser-session state lives in a gr.State (Session), so two visitors never share turns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import ConfigError, RagError
from rag.settings import BUNDLED_CORPUS, Settings
from rag.types import Answer, Final, TextDelta, Turn
from ui import evaluation, render
from ui.uploads import accept_uploads, human_bytes, upload_path

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLES = (
    "How many shipping containers has Russia received from North Korea?",
    "What did Japan voice about Putin's openness to military cooperation with Pyongyang?",
    "Who said that any such meeting will also include discussion of China?",
    "What is the capital of France?",
)
WELCOME = (
    "<div style='text-align:center'><h3>Ask about the documents</h3>"
    "<p>Every claim in an answer carries a numbered marker. Click one to read the passage, highlighted "
    "in its source. Add your own files in the <b>Documents</b> tab.</p></div>"
)
VIEWER_HINT = "Click a numbered marker or a source card in an answer to see the passage in its document."
DOC_COLUMNS = ["Title", "Chunks", "Type", "ID"]


@dataclass
class Session:
    """One browser session's conversation (and its upload count, for the per-session limit)."""

    questions: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    uploads: int = 0

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


def chat_concurrency(settings: Settings, generator_name: str) -> int:
    """0 means: one at a time for an in-process LLM (it uses every core), a few for the extractive one."""
    if settings.concurrency > 0:
        return settings.concurrency
    return 1 if generator_name.startswith("local") else 4


def parse_auth(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ConfigError("RAG_UI_AUTH must look like user:password[,user2:password2]; fix the setting")
        pairs.append((user, password))
    return pairs


def _is_bundled(source: str) -> bool:
    try:
        return Path(source).resolve().is_relative_to(BUNDLED_CORPUS.resolve())
    except (OSError, ValueError):
        return False


def build_app(assistant: Any, settings: Settings) -> gr.Blocks:
    """The whole page. `assistant` needs stream(), indexer and generator_name (rag.assistant.Assistant)."""
    indexer = assistant.indexer
    uploads_dir = settings.uploads_dir
    runs_dir = settings.data_dir / "eval-runs"
    limit = chat_concurrency(settings, str(assistant.generator_name))

    # ------------------------------------------------------------------ handlers: chat
    def ask(question: str, session: Session):
        question = (question or "").strip()
        if not question:
            yield session.messages(), "", session, gr.skip()
            return
        turn = len(session.answers)
        shown = [*session.messages(), {"role": "user", "content": render.user_html(question)}]
        yield [*shown, {"role": "assistant", "content": render.streaming_html("")}], "", session, gr.skip()
        partial, answer = "", None
        try:
            for event in assistant.stream(question, session.history()):
                if isinstance(event, TextDelta):
                    partial += event.text
                    yield [*shown, {"role": "assistant", "content": render.streaming_html(partial)}], "", session, \
                        gr.skip()
                elif isinstance(event, Final):
                    answer = event.answer
        except RagError as e:
            yield [*shown, {"role": "assistant", "content": render.error_html(str(e))}], question, session, None
            return
        except Exception:
            log.exception("answering failed")
            msg = "Something went wrong while answering; the server log has the details."
            yield [*shown, {"role": "assistant", "content": render.error_html(msg)}], question, session, None
            return
        if answer is None:
            yield [*shown, {"role": "assistant", "content": render.error_html("No answer was produced.")}], \
                question, session, None
            return
        session.questions.append(question)
        session.answers.append(answer)
        yield session.messages(), "", session, answer.to_dict() | {"turn": turn}

    def new_chat(session: Session):
        return [], "", Session(uploads=session.uploads), None, render.placeholder_html(VIEWER_HINT)

    def show_source(session: Session, evt: gr.EventData) -> str:
        data = getattr(evt, "_data", None) or {}
        try:
            kind, turn, n = str(data.get("kind")), int(data.get("turn")), int(data.get("n"))
            answer = session.answers[turn]
        except (TypeError, ValueError, IndexError):
            return render.placeholder_html("That answer is no longer in this chat.")
        h = render.highlight_for(answer, kind, n)
        if h is None:
            return render.placeholder_html("That source is not part of the answer.")
        try:
            doc = indexer.store.document(h.doc_id)
        except KeyError:
            return render.placeholder_html("That document has been removed from the index since this answer.")
        return render.source_html(doc, h)

    # ------------------------------------------------------------------ handlers: documents
    def doc_views():
        docs = sorted(indexer.documents(), key=lambda d: (not _is_bundled(d.source), d.title.lower()))
        rows = [[d.title, d.n_chunks, d.kind, d.doc_id] for d in docs]
        choices = [(f"{d.title} ({d.doc_id})", d.doc_id) for d in docs]
        chunks = sum(d.n_chunks for d in docs)
        status = (f"Ready · generator **{assistant.generator_name}** · {len(docs)} document"
                  f"{'s' if len(docs) != 1 else ''}, {chunks} chunks")
        value = choices[0][1] if choices else None
        return rows, gr.update(choices=choices, value=value), status

    def add_documents(files: list[str] | None, session: Session, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        lines: list[str] = []
        if not paths:
            lines.append("Choose one or more files first.")
        acc = accept_uploads(paths, uploads_dir, max_bytes=settings.max_upload_bytes, already=session.uploads,
                             max_files=settings.max_uploads_per_session)
        session.uploads += len(acc.stored)
        for name, why in acc.refused:
            lines.append(f"✗ {name}: {why}")
        if acc.stored:
            def report(stage: str, done: int, total: int) -> None:
                progress((done, max(total, 1)), desc=f"{stage} {done}/{total}")

            progress(0, desc="reading files")
            try:
                rep = indexer.add(list(acc.stored), progress=report, names=acc.stored)
            except RagError as e:
                lines.append(f"✗ indexing failed, the index is unchanged: {e}")
            else:
                for doc_id in rep.added:
                    lines.append(f"✓ {doc_id}: added")
                for doc_id in rep.replaced:
                    lines.append(f"✓ {doc_id}: replaced the earlier version")
                for doc_id in rep.skipped:
                    lines.append(f"• {doc_id}: already indexed, unchanged")
                for err in rep.errors:
                    lines.append(f"✗ {err}")
                    bad = upload_path(uploads_dir, Path(err.path).name)
                    if bad is not None and bad.name not in {d.source for d in indexer.documents()}:
                        bad.unlink(missing_ok=True)
                lines.append(rep.summary())
        rows, choices, status = doc_views()
        return _status_html(lines), rows, choices, status, session, None

    def read_document(doc_id: str | None) -> str:
        if not doc_id:
            return render.placeholder_html("Pick a document to read it in full.")
        try:
            return render.document_html(indexer.store.document(doc_id))
        except KeyError:
            return render.placeholder_html(f"{doc_id} is not in the index.")

    def remove_document(doc_id: str | None):
        rows, choices, status = doc_views()
        if not doc_id:
            return _status_html(["Pick a document to remove."]), rows, choices, status, gr.skip()
        info = next((d for d in indexer.documents() if d.doc_id == doc_id), None)
        if info is None:
            return _status_html([f"✗ {doc_id} is not in the index."]), rows, choices, status, gr.skip()
        if _is_bundled(info.source):
            return (_status_html([f"✗ {info.title} is the bundled article; it stays so there is always something "
                                  "to ask about."]), rows, choices, status, gr.skip())
        try:
            indexer.remove(doc_id)
        except (RagError, KeyError) as e:
            return _status_html([f"✗ could not remove {doc_id}: {e}"]), rows, choices, status, gr.skip()
        stored = upload_path(uploads_dir, info.source)
        if stored is not None:
            stored.unlink(missing_ok=True)
        rows, choices, status = doc_views()
        return (_status_html([f"✓ removed {info.title} ({doc_id})"]), rows, choices, status,
                render.placeholder_html("Pick a document to read it in full."))

    # ------------------------------------------------------------------ handlers: evaluation
    def run_evaluation(choice: str | None, uploaded: str | None, progress=gr.Progress()):  # noqa: B008
        try:
            path = evaluation.resolve_suite(choice, uploaded)
            progress(0, desc="loading models and the suite")
            result = evaluation.run(assistant, path, runs_dir,
                                    lambda done, total, case: progress((done, total), desc=f"case {case}"))
        except RagError as e:
            raise gr.Error(str(e)) from e
        return (evaluation.charts_html(result), evaluation.metric_rows(result.summary),
                evaluation.case_rows(result), evaluation.downloads(result), evaluation.report_iframe(result))

    # ------------------------------------------------------------------ layout
    with gr.Blocks(title="Cited answers", analytics_enabled=False) as app:
        session = gr.State(Session())
        with gr.Column(elem_id="app-header"):
            gr.Markdown("# Cited answers\nAnswers from your documents, every claim linked to the passage "
                        "that supports it.")
            status = gr.Markdown("Loading…", elem_id="app-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=340):
                    chatbot = gr.Chatbot(
                        elem_id="chat", label="Conversation", show_label=False, height=560, render_markdown=False,
                        sanitize_html=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
                        buttons=["copy"], placeholder=WELCOME, examples=[{"text": q} for q in EXAMPLES],
                        autoscroll=True, group_consecutive_messages=False,
                    )
                    with gr.Row(equal_height=True):
                        question = gr.Textbox(
                            elem_id="question", show_label=False, scale=5, min_width=200, lines=1, max_lines=6,
                            max_length=settings.max_question_chars, autofocus=True, submit_btn=False,
                            placeholder="Ask about the documents…",
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="send")
                    with gr.Row():
                        new = gr.Button("New chat", size="sm", variant="secondary", elem_id="new-chat")
                with gr.Column(scale=2, min_width=300):
                    viewer = gr.HTML(render.placeholder_html(VIEWER_HINT), label="Source", show_label=False,
                                     container=True, padding=True, elem_id="source-viewer",
                                     js_on_load=(ASSETS / "viewer.js").read_text("utf-8"))
                    with gr.Accordion("Answer as JSON (for developers)", open=False):
                        answer_json = gr.JSON(label="Last answer", elem_id="answer-json")
            with gr.Tab("Documents", id="documents"):
                gr.Markdown(f"Add `.txt`, `.md`, `.html` or `.pdf` files, up to "
                            f"{human_bytes(settings.max_upload_bytes)} each and "
                            f"{settings.max_uploads_per_session} per session. Re-adding a file with the same "
                            "name replaces its earlier version.")
                files = gr.File(label="Add documents", file_count="multiple", elem_id="upload", height=140)
                upload_status = gr.HTML(elem_id="upload-status")
                docs_table = gr.Dataframe(headers=DOC_COLUMNS, label="Indexed documents", interactive=False,
                                          wrap=True, elem_id="doc-table")
                doc_pick = gr.Dropdown(label="Document", choices=[], elem_id="doc-pick")
                with gr.Row():
                    read_btn = gr.Button("Read in full", size="md", min_width=100, elem_id="read-doc")
                    remove_btn = gr.Button("Remove from index", size="md", variant="stop", min_width=100,
                                           elem_id="remove-doc")
                reader = gr.HTML(render.placeholder_html("Pick a document to read it in full."), elem_id="reader",
                                 js_on_load=None)
            with gr.Tab("Evaluation", id="evaluation"):
                gr.Markdown("Run a question suite through the assistant and score retrieval, answers, citations "
                            "and abstention. Suites use the YAML/JSONL format of `suites/`.")
                with gr.Row(equal_height=True):
                    suites = evaluation.bundled_suites()
                    suite_pick = gr.Dropdown(suites, value=suites[0] if suites else None, label="Bundled suite",
                                             min_width=200, elem_id="suite-pick")
                    suite_file = gr.File(label="…or upload a suite", file_types=list(evaluation.SUITE_TYPES),
                                         type="filepath", min_width=200, elem_id="suite-upload")
                run_btn = gr.Button("Run evaluation", variant="primary", elem_id="run-eval")
                charts = gr.HTML(elem_id="eval-charts")
                metrics = gr.Dataframe(headers=["metric", "value", "better", "definition"], label="Summary",
                                       interactive=False, wrap=True, elem_id="eval-metrics")
                cases = gr.Dataframe(headers=evaluation.CASE_COLUMNS, label="Cases (failures first)",
                                     interactive=False, wrap=True, elem_id="eval-cases", max_height=600,
                                     column_widths=["14%", "7%", "15%", "22%", "24%", "12%", "6%"])
                results = gr.File(label="Download results", file_count="multiple", interactive=False,
                                  elem_id="eval-files")
                with gr.Accordion("Full report", open=False):
                    report = gr.HTML(elem_id="eval-report", js_on_load=None)

        # -------------------------------------------------------------- events
        chat_out = [chatbot, question, session, answer_json]
        ask_opts = dict(concurrency_limit=limit, concurrency_id="chat", show_progress="hidden")
        send.click(ask, [question, session], chat_out, api_name="ask", **ask_opts)
        question.submit(ask, [question, session], chat_out, api_visibility="private", **ask_opts)
        chatbot.example_select(_example_text, None, question, api_visibility="private", queue=False).then(
            ask, [question, session], chat_out, api_visibility="private", **ask_opts)
        new.click(new_chat, [session], [chatbot, question, session, answer_json, viewer], api_name="new_chat")
        chatbot.clear(new_chat, [session], [chatbot, question, session, answer_json, viewer], api_visibility="private")
        viewer.click(show_source, [session], viewer, api_visibility="undocumented", show_progress="hidden")

        doc_out = [docs_table, doc_pick, status]
        write = dict(concurrency_limit=1, concurrency_id="index-write")
        files.upload(add_documents, [files, session], [upload_status, *doc_out, session, files],
                     api_name="add_documents", **write)
        read_btn.click(read_document, doc_pick, reader, api_name="read_document")
        doc_pick.input(read_document, doc_pick, reader, api_visibility="private")
        remove_btn.click(remove_document, doc_pick, [upload_status, *doc_out, reader], api_name="remove_document",
                         **write)
        app.load(doc_views, None, doc_out, api_name="documents").then(
            read_document, doc_pick, reader, api_visibility="private")
        run_btn.click(run_evaluation, [suite_pick, suite_file], [charts, metrics, cases, results, report],
                      api_name="run_evaluation", concurrency_limit=1, concurrency_id="eval")
    return app


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value if isinstance(evt.value, dict) else {}
    return str(value.get("text", ""))


def _status_html(lines: list[str]) -> str:
    items = "".join(f"<li>{render.escape(line)}</li>" for line in lines)
    return f'<ul class="upload-report">{items}</ul>'


def theme() -> gr.themes.Base:
    # system fonts: the default theme fonts come from Google Fonts, which an offline machine cannot reach
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def launch(app: gr.Blocks, settings: Settings, *, generator_name: str = "", prevent_thread_lock: bool = False,
           quiet: bool = False) -> tuple[Any, str, str]:
    """Queue limits, auth, theme and CSS (Gradio 6 takes them at launch), then serve."""
    app.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    runs = settings.data_dir / "eval-runs"
    runs.mkdir(parents=True, exist_ok=True)
    return app.launch(
        server_name=settings.host, server_port=settings.port, auth=parse_auth(settings.ui_auth) or None,
        auth_message="Sign in to ask about the documents.", theme=theme(), css_paths=[ASSETS / "app.css"],
        max_file_size=settings.max_upload_bytes, allowed_paths=[str(runs)], ssr_mode=False, show_error=False,
        footer_links=["api"], prevent_thread_lock=prevent_thread_lock, quiet=quiet, inbrowser=False, share=False,
    )
