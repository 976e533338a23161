"""The Gradio app: chat with checkable citations, documents, evaluation. An adapter over the Assistant.

Retrieval, citation checks and abstention all happen in rag/; ui.handlers turns events into calls on
the assistant (answers) and the library (documents), ui.layout declares the page, and this module wires
one to the other and serves it. Per-browser-session state lives in a gr.State (Session).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from core.errors import ConfigError
from core.settings import Settings
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.collection_picker import CollectionHandlers, wire_picker
from ui.feedback import FeedbackHandlers, store_for, wire_feedback
from ui.handlers import ChatHandlers, DocumentHandlers, EvaluationHandlers, Session
from ui.layout import ASSETS, build_layout
from ui.limits import LoginGuard, client_key
from ui.page_files import Downloads
from ui.paths import ClientFiles

__all__ = ["Session", "build_app", "chat_concurrency", "launch", "page_options", "parse_auth"]


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


def build_app(assistant: Assistant, library: Indexer, settings: Settings) -> gr.Blocks:
    """The whole page: `assistant` answers, `library` adds, lists and removes documents."""
    files = ClientFiles()  # every client-named path goes through this one gate (ui.paths)
    downloads = Downloads(settings.downloads_dir, max_age_s=settings.export_ttl_s, keep=settings.export_keep)
    chat = ChatHandlers(assistant, library, downloads)
    docs = DocumentHandlers(library, settings, assistant.generator_name, files=files)
    feedback = FeedbackHandlers(store_for(settings), library, settings)
    evals = EvaluationHandlers(assistant, library, settings.data_dir / "eval-runs", feedback=feedback.store,
                               files=files, downloads=downloads)
    # Gradio's own periodic cleanup of what this page uploaded and cached, beside ui.page_files' sweep
    ttl = max(60, int(settings.page_files_ttl_s))
    with gr.Blocks(title="Cited answers", analytics_enabled=False, delete_cache=(max(60, ttl // 4), ttl)) as app:
        files.bind(app)
        ui = build_layout(settings)
        _wire_chat(ui, chat, chat_concurrency(settings, str(assistant.generator_name)))
        _wire_documents(ui, app, docs)
        wire_picker(ui, CollectionHandlers(library))
        wire_feedback(ui, feedback)
        ui.run_btn.click(_run_evaluation(evals), [ui.suite_pick, ui.suite_file],
                         [ui.charts, ui.metrics, ui.cases, ui.results, ui.report],
                         api_name="run_evaluation", concurrency_limit=1, concurrency_id="eval",
                         show_progress_on=[ui.charts])  # one progress bar, not one per output
    return app


def _wire_chat(ui: Any, chat: ChatHandlers, limit: int) -> None:
    chat_out = [ui.chatbot, ui.question, ui.session, ui.answer_json]
    # always_last: a question sent while the previous answer is still finishing waits for it, never dropped
    ask_opts = dict(concurrency_limit=limit, concurrency_id="chat", show_progress="hidden",
                    trigger_mode="always_last")
    ask_in = [ui.question, ui.session, ui.chat_collections]
    # the API's /ask (its answer empties the box) sits on a hidden button; the page's Send never empties a
    # box that may already hold the next question
    ui.api_ask.click(chat.ask, ask_in, chat_out, api_name="ask", **ask_opts)
    ui.send.click(chat.ask_in_page, ask_in, chat_out, api_visibility="private", **ask_opts)
    ui.question.submit(chat.ask_in_page, ask_in, chat_out, api_visibility="private", **ask_opts)
    ui.chatbot.example_select(_example_text, None, ui.question, api_visibility="private", queue=False).then(
        chat.ask_in_page, ask_in, chat_out, api_visibility="private", **ask_opts)
    # a new question empties the source viewer: it showed the previous answer's passage
    empty_viewer = dict(fn=chat.viewer_hint, inputs=None, outputs=ui.viewer, queue=False, api_visibility="private",
                        show_progress="hidden")
    for event in (ui.send.click, ui.question.submit, ui.chatbot.example_select):
        event(**empty_viewer)
    reset_out = [ui.chatbot, ui.question, ui.session, ui.answer_json, ui.viewer]
    ui.new.click(chat.new_chat, [ui.session], reset_out, api_name="new_chat")
    ui.chatbot.clear(chat.new_chat, [ui.session], reset_out, api_visibility="private")
    ui.viewer.click(chat.show_source, [ui.session], ui.viewer, api_visibility="undocumented",
                    show_progress="hidden")
    ui.answer_json.change(chat.export, [ui.session], ui.export, api_name="export_markdown", show_progress="hidden")


def _wire_documents(ui: Any, app: gr.Blocks, docs: DocumentHandlers) -> None:
    doc_out = [ui.docs_table, ui.doc_pick, ui.status]
    selectors = ([ui.chat_collections, ui.doc_collection], [ui.chat_collections, ui.doc_collection])
    write = dict(concurrency_limit=1, concurrency_id="index-write")
    # an upload embeds in index.worker and takes the store's lock only to commit: one upload no longer holds
    # every other upload and removal for its whole embedding (issue 24 #12)
    upload = dict(concurrency_limit=2, concurrency_id="index-upload")
    private = dict(api_visibility="private", show_progress="hidden")
    ui.files.upload(_add_documents(docs), [ui.files, ui.session, ui.upload_into],
                    [ui.upload_status, *doc_out, ui.session, ui.files], api_name="add_documents",
                    show_progress_on=[ui.upload_status], **upload).then(
        docs.collection_choices_after_add, *selectors, **private)
    ui.read_btn.click(docs.read, ui.doc_pick, ui.reader, api_name="read_document")
    ui.doc_pick.input(docs.read, ui.doc_pick, ui.reader, api_visibility="private")
    hidden = dict(fn=lambda: gr.update(visible=False), inputs=None, outputs=ui.remove_confirm, queue=False)
    ui.remove_btn.click(docs.ask_remove, ui.doc_pick, [ui.remove_confirm, ui.remove_question, ui.upload_status],
                        **private)
    ui.remove_no.click(**hidden, **private)
    ui.remove_yes.click(docs.remove, ui.doc_pick, [ui.upload_status, *doc_out, ui.reader],
                        api_name="remove_document", **write).then(**hidden, **private).then(
        docs.collection_choices, *selectors, **private)
    ui.doc_pick.change(**hidden, **private)  # a confirmation is for the document it named, never another
    ui.doc_collection.change(docs.views, ui.doc_collection, doc_out, **private).then(
        docs.read, ui.doc_pick, ui.reader, **private)
    app.load(docs.views, ui.doc_collection, doc_out, api_name="documents").then(
        docs.read, ui.doc_pick, ui.reader, api_visibility="private").then(
        docs.collection_choices, *selectors, **private)


# Gradio injects a progress tracker only into a function whose signature has a gr.Progress default, and
# names the API endpoint after the function: these wrappers keep the endpoint names and the tracker.
def _add_documents(docs: DocumentHandlers):
    def add_documents(files: list[str] | None, session: Session, collection: str | None, request: gr.Request,
                      progress=gr.Progress()):  # noqa: B008
        return docs.add(files, session, progress, client=client_key(request), collection=collection)

    return add_documents


def _run_evaluation(evals: EvaluationHandlers):
    def run_evaluation(choice: str | None, uploaded: str | None, request: gr.Request,
                       progress=gr.Progress()):  # noqa: B008
        return evals.run(choice, uploaded, progress, viewer=getattr(request, "username", None))

    return run_evaluation


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value if isinstance(evt.value, dict) else {}
    return str(value.get("text", ""))


def theme() -> gr.themes.Base:
    # system fonts: the default theme fonts come from Google Fonts, which an offline machine cannot reach
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def launch(app: gr.Blocks, settings: Settings, *, generator_name: str = "", prevent_thread_lock: bool = False,
           quiet: bool = False) -> tuple[Any, str, str]:
    """Queue limits, auth, theme and CSS (Gradio 6 takes them at launch), then serve."""
    app.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    return app.launch(
        server_name=settings.host, server_port=settings.port, **page_options(settings),
        prevent_thread_lock=prevent_thread_lock, quiet=quiet, inbrowser=False, share=False,
    )


def _private_folders(settings: Settings) -> list[str]:
    """Never served nor copied by Gradio, whatever else allows them (Gradio checks these first)."""
    return [str(p.resolve()) for p in (settings.index_dir, settings.uploads_dir, settings.feedback_dir,
                                        settings.models_dir, settings.data_dir / "eval-runs")]


def page_options(settings: Settings) -> dict[str, Any]:
    """What Gradio 6 takes at launch, and at mount time when ui.server serves the page beside the API."""
    # the only folder the file route serves directly: downloads, each in an unguessable folder. Runs, the
    # index, uploads and feedback (with readers' comments) stay private (issue 24, findings 1 and 10)
    settings.downloads_dir.mkdir(parents=True, exist_ok=True)
    auth = LoginGuard(parse_auth(settings.ui_auth)) if settings.ui_auth else None  # rate-limited logins
    return dict(auth=auth, auth_message="Sign in to ask about the documents.",
                theme=theme(), css_paths=[ASSETS / "app.css"], max_file_size=settings.max_upload_bytes,
                allowed_paths=[str(settings.downloads_dir)], blocked_paths=_private_folders(settings), ssr_mode=False, show_error=False, footer_links=["api"],
                run_history=False)
