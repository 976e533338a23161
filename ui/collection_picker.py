"""The Documents tab's collection picker: choose an existing collection from a list, or make a new one with
an explicit "New collection" action whose name is checked as it is typed (issue 29, item 4).

The list never takes typed text (a click and a keystroke gave "defaulttowns"); the name box is not touched
by the page's load (Enter just after load snapped a typed name back to "default"). A new collection exists
in the index once its first file is added; until then it lives in this page's list only, and says so.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.settings import COLLECTION_NAME, DEFAULT_COLLECTION
from index.pipeline import Indexer
from ui import render

RULE = "1–64 letters, digits, '-' or '_', starting with a letter or digit (e.g. towns, hr-policies)"


def name_problem(raw: str | None, existing: list[str]) -> str:
    """Why `raw` cannot name a new collection ("" when it can), in words a reader can act on."""
    name = (raw or "").strip()
    if not name:
        return f"Type a name: {RULE}."
    if not COLLECTION_NAME.fullmatch(name):
        bad = sorted({ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "-_"))})
        why = f"“{''.join(bad)}” is not allowed" if bad else "start with a letter or digit, 64 characters at most"
        return f"{why}: {RULE}."
    if name in existing:
        return f"“{name}” already exists: pick it in the list above."
    return ""


def hint_html(message: str, ok: bool) -> str:
    cls = "ok" if ok else "error"
    return f'<div class="coll-hint {cls}" role="status" aria-live="polite">{render.escape(message)}</div>'


class CollectionHandlers:
    def __init__(self, library: Indexer) -> None:
        self.library = library

    def _known(self, shown: list[str] | None) -> list[str]:
        return sorted({*self.library.collections(), *(shown or [])})

    def check(self, raw: str | None, choices: list[str] | None = None) -> tuple:
        """As the name is typed: (hint, the create button enabled only for a valid new name)."""
        problem = name_problem(raw, self._known(choices))
        message = problem or f"“{(raw or '').strip()}” is free: press “Create collection”."
        return hint_html(message, not problem), gr.update(interactive=not problem)

    def create(self, raw: str | None, choices: list[str] | None = None) -> tuple:
        """(collection list update, name box, hint, create button, choices state): the new name chosen."""
        known = self._known(choices)
        problem = name_problem(raw, known)
        if problem:
            return gr.skip(), gr.skip(), hint_html(problem, False), gr.update(interactive=False), gr.skip()
        name = (raw or "").strip()
        shown = sorted({*known, name})
        note = f"Collection “{name}” is chosen: files you add now go into it (it is saved with its first file)."
        return (gr.update(choices=shown, value=name), "", hint_html(note, True), gr.update(interactive=False),
                [*(choices or []), name])


def build_picker(ui: SimpleNamespace) -> None:  # declarative layout
    """The list of collections, and the "New collection" action under it, inside the current Blocks."""
    ui.doc_collection = gr.Dropdown(
        choices=[DEFAULT_COLLECTION], value=DEFAULT_COLLECTION, allow_custom_value=False, label="Collection",
        info="Uploads go into this collection, and the list below shows its documents.", elem_id="doc-collection")
    ui.new_collections = gr.State([])  # names made in this page and not yet holding a file
    # what uploads go into: the list's choice, copied here; the API's /add_documents takes any name (checked
    # on the server), which the list itself would refuse
    ui.upload_into = gr.Textbox(DEFAULT_COLLECTION, visible=False, elem_id="upload-into")
    with gr.Accordion("New collection", open=False, elem_id="new-collection"):
        with gr.Row(equal_height=True):
            ui.new_name = gr.Textbox(label="Name of the new collection", info=RULE, max_length=64, scale=3,
                                     min_width=180, elem_id="new-collection-name", submit_btn=False)
            ui.create_btn = gr.Button("Create collection", interactive=False, scale=1, min_width=120,
                                      elem_id="create-collection")
        ui.new_hint = gr.HTML(hint_html(f"Type a name: {RULE}.", False), elem_id="new-collection-hint")


def wire_picker(ui: SimpleNamespace, handlers: CollectionHandlers) -> None:
    """Check the name on every keystroke; create on the button or Enter (the list's change event then shows
    the new, empty collection)."""
    private: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    ui.new_name.input(handlers.check, [ui.new_name, ui.new_collections], [ui.new_hint, ui.create_btn],
                      queue=False, trigger_mode="always_last", **private)
    ui.doc_collection.change(None, ui.doc_collection, ui.upload_into, js="(name) => name", queue=False, **private)
    made = [ui.doc_collection, ui.new_name, ui.new_hint, ui.create_btn, ui.new_collections]
    for event in (ui.create_btn.click, ui.new_name.submit):
        event(handlers.create, [ui.new_name, ui.new_collections], made, **private)
