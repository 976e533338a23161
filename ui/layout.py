"""The page's components, declared top to bottom. Declarative layout: long by nature, no logic here.

`build_layout` returns the components that ui.app wires to handlers; it reads settings only for the
limits it shows.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from core.settings import Settings
from ui import evaluation, render
from ui.collection_picker import build_picker
from ui.feedback import build_feedback_panel
from ui.handlers import READER_HINT, VIEWER_HINT, Session
from ui.uploads import human_bytes

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
DOC_COLUMNS = ["Title", "Chunks", "Type", "ID"]


def build_layout(settings: Settings) -> SimpleNamespace:  # declarative layout: exempt from the 60-line rule
    """Create every component inside the current gr.Blocks; returns them by name."""
    ui = SimpleNamespace()
    ui.session = gr.State(Session())
    with gr.Column(elem_id="app-header"):
        gr.Markdown("# Cited answers\nAnswers from your documents, every claim linked to the passage "
                    "that supports it.")
        ui.status = gr.Markdown("Loading…", elem_id="app-status")
    with gr.Tabs():
        with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
            _chat_column(ui, settings)
            with gr.Column(scale=2, min_width=300):
                ui.viewer = gr.HTML(render.placeholder_html(VIEWER_HINT), label="Source", show_label=False,
                                    container=True, padding=True, elem_id="source-viewer",
                                    js_on_load=(ASSETS / "viewer.js").read_text("utf-8"))
                with gr.Accordion("Answer as JSON (for developers)", open=False):
                    ui.answer_json = gr.JSON(label="Last answer", elem_id="answer-json")
        with gr.Tab("Documents", id="documents"):
            _documents_tab(ui, settings)
        with gr.Tab("Evaluation", id="evaluation"):
            _evaluation_tab(ui)
    return ui


def _chat_column(ui: SimpleNamespace, settings: Settings) -> None:
    with gr.Column(scale=3, min_width=340):
        # choices are filled from the index on load (ui.app); answers come only from the chosen collections
        ui.chat_collections = gr.Dropdown(
            choices=list(settings.collection_names), value=list(settings.collection_names), multiselect=True,
            allow_custom_value=True,  # an API client may name a collection made after its page loaded
            label="Collections", info="Answers come only from the documents in these collections.",
            elem_id="chat-collections")
        ui.chatbot = gr.Chatbot(
            elem_id="chat", label="Conversation", show_label=False, height=560, render_markdown=False,
            sanitize_html=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
            buttons=["copy"], placeholder=WELCOME, examples=[{"text": q} for q in EXAMPLES],
            autoscroll=True, group_consecutive_messages=False,
        )
        with gr.Row(equal_height=True):
            ui.question = gr.Textbox(
                # no max_length: a browser cuts a longer paste silently; the handler refuses it with the limit
                elem_id="question", show_label=False, scale=5, min_width=200, lines=1, max_lines=6,
                autofocus=True, submit_btn=False,
                placeholder="Ask about the documents…",
            )
            ui.send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="send")
            ui.api_ask = gr.Button("Ask (API)", visible=False, elem_id="api-ask")  # the /ask endpoint (ui.app)
        with gr.Row():
            ui.new = gr.Button("New chat", size="sm", variant="secondary", elem_id="new-chat")
            ui.export = gr.DownloadButton("Download chat (Markdown)", size="sm", variant="secondary",
                                          interactive=False, elem_id="export-chat")
        build_feedback_panel(ui)


def _documents_tab(ui: SimpleNamespace, settings: Settings) -> None:
    gr.Markdown(f"Add `.txt`, `.md`, `.html`, `.pdf` or `.docx` files, up to "
                f"{human_bytes(settings.max_upload_bytes)} each and "
                f"{settings.max_uploads_per_session} an hour. Re-adding a file with the same "
                "name replaces its earlier version.")
    build_picker(ui)
    ui.files = gr.File(label="Add documents", file_count="multiple", elem_id="upload", height=140)
    ui.upload_status = gr.HTML(elem_id="upload-status")
    ui.docs_table = gr.Dataframe(headers=DOC_COLUMNS, label="Indexed documents", interactive=False,
                                 wrap=True, elem_id="doc-table", column_widths=["36%", "21%", "16%", "27%"])
    ui.doc_pick = gr.Dropdown(label="Document", choices=[], elem_id="doc-pick")
    with gr.Row():
        ui.read_btn = gr.Button("Read in full", size="md", min_width=100, elem_id="read-doc")
        ui.remove_btn = gr.Button("Remove from index…", size="md", variant="stop", min_width=100,
                                  elem_id="remove-doc")
    # removal is confirmed first: the document's title and collection are named, and nothing goes on one click
    with gr.Group(visible=False, elem_id="remove-confirm") as ui.remove_confirm:
        ui.remove_question = gr.Markdown(elem_id="remove-question")
        with gr.Row():
            ui.remove_yes = gr.Button("Yes, remove it", size="md", variant="stop", elem_id="remove-yes")
            ui.remove_no = gr.Button("Cancel", size="md", elem_id="remove-no")
    ui.reader = gr.HTML(render.placeholder_html(READER_HINT), elem_id="reader", js_on_load=None)


def _evaluation_tab(ui: SimpleNamespace) -> None:
    gr.Markdown("Run a question suite through the assistant and score retrieval, answers, citations "
                "and abstention. Suites use the YAML/JSONL format of `suites/`.")
    with gr.Row(equal_height=True):
        suites = [*evaluation.bundled_suites(), evaluation.FEEDBACK_SUITE]
        ui.suite_pick = gr.Dropdown(suites, value=suites[0] if suites else None, label="Bundled suite",
                                    min_width=200, elem_id="suite-pick")
        ui.suite_file = gr.File(label="…or upload a suite", file_types=list(evaluation.SUITE_TYPES),
                                type="filepath", min_width=200, elem_id="suite-upload")
    ui.run_btn = gr.Button("Run evaluation", variant="primary", elem_id="run-eval")
    ui.charts = gr.HTML(elem_id="eval-charts")
    # widths in pixels: a narrow screen scrolls the table sideways instead of squeezing a header to one
    # letter per line (issue 29, item 6)
    ui.metrics = gr.Dataframe(headers=["metric", "value", "better", "definition"], label="Summary",
                              interactive=False, wrap=True, elem_id="eval-metrics",
                              column_widths=["210px", "80px", "80px", "420px"])
    ui.cases = gr.Dataframe(headers=evaluation.CASE_COLUMNS, label="Cases (failures first)",
                            interactive=False, wrap=True, elem_id="eval-cases", max_height=600,
                            column_widths=["150px", "70px", "170px", "220px", "260px", "140px", "90px"])
    ui.results = gr.File(label="Download results", file_count="multiple", interactive=False,
                         elem_id="eval-files")
    with gr.Accordion("Full report", open=False):
        ui.report = gr.HTML(elem_id="eval-report", js_on_load=None)
