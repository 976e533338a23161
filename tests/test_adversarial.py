"""The adversarial corpus (tests/adversarial.py) through ingest, ask and evaluate, with a chat user
asking all along (issue 11).

Real parts: the real embedding model, embedded Chroma, the extractive Assistant, the upload worker
process. Asserted: every file indexes or fails with a one-line error within its budget; nothing already
indexed is lost; no hidden payload reaches the index or an answer; hostile suites are refused or stay
inside the runs folder; and answers keep arriving for a concurrent chat user while the corpus is ingested
(no timing assertion: latency under load is measured by the benchmark, not here).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from core.settings import load_settings
from tests.adversarial import ALIAS_BOMB, SECRET, TAGS, TRAVERSAL_SUITE, write_corpus

BUDGET_S = 8


@pytest.fixture(scope="module")
def hostile(article_index: Path, tmp_path_factory: pytest.TempPathFactory):
    """Ingest the corpus as uploads into a copy of the article index while a chat user keeps asking."""
    from tests.app_parts import AppParts

    data = tmp_path_factory.mktemp("adversarial") / "data"
    shutil.copytree(article_index, data)
    s = load_settings({"data_dir": data, "generator": "extractive", "ingest_timeout_s": BUDGET_S}, env={})
    assistant = AppParts(s)
    assistant.warm_up()
    before = {d.doc_id: d.content_hash for d in assistant.indexer.documents()}
    files = write_corpus(tmp_path_factory.mktemp("hostile-files"))
    answers, failures, done = [], [], threading.Event()

    def chat() -> None:
        while not done.is_set():
            try:
                answers.append(assistant.ask("Who said China was the elephant in the room?"))
            except Exception as e:  # recorded, asserted on below
                failures.append(repr(e))

    user = threading.Thread(target=chat, daemon=True)
    user.start()
    try:
        report = assistant.indexer.add(list(files), names={str(p): h.name for p, h in files.items()})
    finally:
        done.set()
        user.join(120)
    return assistant, files, report, before, answers, failures, data


def test_every_file_indexes_or_fails_with_one_line(hostile) -> None:
    _, files, report, _, _, _, _ = hostile
    failed = {Path(e.path).name: str(e) for e in report.errors}
    for h in files.values():
        if h.must_index:
            assert h.name in report.added, (h.name, h.why, failed.get(h.name))
        else:
            assert h.name in failed or h.name in report.added, (h.name, h.why)
    for msg in failed.values():
        assert "\n" not in msg and len(msg) < 300, msg
    assert "budget" in failed["deep.html"]
    assert "same name as the bundled document" in failed["elephant-in-the-room.txt"]


def test_nothing_already_indexed_is_lost(hostile) -> None:
    assistant, _, _, before, _, _, _ = hostile
    after = {d.doc_id: d for d in assistant.indexer.documents()}
    for doc_id, h in before.items():
        assert after[doc_id].content_hash == h
        assert after[doc_id].bundled


def test_no_hidden_payload_reaches_the_index(hostile) -> None:
    assistant, _, report, _, _, _, _ = hostile
    store = assistant.indexer.store
    for doc_id in report.added:
        doc = store.document(doc_id)
        assert SECRET not in doc.text and SECRET not in doc.title, doc_id
        assert not any(c in doc.text for c in TAGS), doc_id
    assert store.document("hidden.html").title == "Port report"
    assert store.document("tags.txt").meta["invisible_chars_removed"] == len(TAGS) + 2
    assert "40 metres" in store.document("invisible.pdf").text


def test_a_chat_user_kept_getting_answers_during_ingestion(hostile) -> None:
    _, _, _, _, answers, failures, _ = hostile
    assert not failures, failures[:3]
    assert len(answers) >= 2  # answers kept arriving while the corpus was ingested
    assert all(a.text or a.abstained for a in answers)


@pytest.mark.parametrize("question", [
    "What does the port report say?",
    "What is in the cargo notes [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1?",
    "When does grain from Tarsk arrive?" + TAGS,
    "How tall is the Velmora lighthouse?",
])
def test_hostile_documents_answer_without_payloads(hostile, question: str) -> None:
    assistant = hostile[0]
    answer = assistant.ask(question)
    assert SECRET not in answer.text
    assert all(SECRET not in c.text for c in answer.citations)


def test_hostile_suites_are_refused_or_stay_inside_the_runs_folder(hostile, tmp_path) -> None:
    from rag.eval.suite import SuiteError
    from ui import evaluation

    assistant, data = hostile[0], hostile[6]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB, "utf-8")
    runs = data / "eval-runs"
    with pytest.raises(SuiteError, match="anchor or alias"):
        evaluation.run(assistant, bomb, runs, lambda *a: None)
    suite = tmp_path / "pwn.yaml"
    suite.write_text(TRAVERSAL_SUITE, "utf-8")
    result = evaluation.run(assistant, suite, runs, lambda *a: None)
    assert Path(result.out_dir).parent == runs.resolve()
    assert (Path(result.out_dir) / "report.html").is_file()
    assert not (data.parent / "outside").exists() and not (data / "outside").exists()
    assert len(result.records) == 2
    assert all(SECRET not in r["answer"] for r in result.records)


def test_corpus_uploaded_through_the_ui_api_while_another_user_chats(article_index: Path, tmp_path) -> None:
    """The same corpus through the real app's HTTP API (/add_documents), with a second client asking."""
    from gradio_client import Client, handle_file

    from tests.app_parts import AppParts
    from tests.test_ui_api import free_port
    from ui.app import build_app, launch

    data = tmp_path / "data"
    shutil.copytree(article_index, data)
    s = load_settings({"data_dir": data, "generator": "extractive", "port": free_port(),
                       "ingest_timeout_s": BUDGET_S, "max_uploads_per_session": 50}, env={})
    assistant = AppParts(s)
    assistant.warm_up()
    app = build_app(assistant.assistant, assistant.indexer, s)
    launch(app, s, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{s.port}"
    try:
        files = write_corpus(tmp_path / "hostile")
        answers, done = [], threading.Event()

        def chat() -> None:
            c = Client(url, verbose=False, download_files=False)
            while not done.is_set():
                answers.append(c.predict("Who said China was the elephant in the room?", api_name="/ask")[2])

        user = threading.Thread(target=chat, daemon=True)
        user.start()
        try:
            uploader = Client(url, verbose=False, download_files=False)
            status, table, *_ = uploader.predict([handle_file(str(p)) for p in files], api_name="/add_documents")
        finally:
            done.set()
            user.join(120)
        ids = [r[3] for r in table["data"]]
        assert "elephant-in-the-room.txt" in ids
        for h in files.values():
            ok = f"{h.name}: added" in status
            assert ok or f"✗ {h.name}" in status, (h.name, status[:2000])
            assert ok or not h.must_index, (h.name, h.why)
        assert len(answers) >= 2 and all(a is not None for a in answers)
    finally:
        app.close()
