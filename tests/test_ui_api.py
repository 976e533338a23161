"""The chat UI through its API: gradio_client against the real app on a free loopback port.

Real parts throughout: the bundled article indexed with the real embedding model in embedded Chroma, the
extractive generator, the Gradio server. Each gradio_client.Client is one browser session.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import httpx
import pytest

from core.settings import load_settings
from tests.app_parts import AppParts
from ui.uploads import accept_uploads, safe_filename

MAX_UPLOADS = 4
QUOKKA = ("The Quokka Preservation Society was founded in 1987 in Perth by Amelia Stonebridge. "
          "Its volunteers count the quokkas on Rottnest Island every April.\n\n"
          "The society publishes a yearly bulletin called The Short Tail.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(article_index: Path, tmp_path_factory: pytest.TempPathFactory):
    """The app over a private copy of the article index (these tests add and remove documents)."""
    from ui.app import build_app, launch

    data = tmp_path_factory.mktemp("ui-api") / "data"
    shutil.copytree(article_index, data)
    s = load_settings({"data_dir": data, "generator": "extractive", "port": free_port(),
                       "max_uploads_per_session": MAX_UPLOADS, "max_upload_bytes": 50_000}, env={})
    parts = AppParts(s)
    parts.warm_up()
    app = build_app(parts.assistant, parts.indexer, s)
    launch(app, s, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{s.port}", s, parts
    app.close()


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def ask(c, question: str) -> tuple[list, dict]:
    chat, box, answer = c.predict(question, api_name="/ask")
    assert box == ""
    return chat, answer


def test_endpoints_are_named(served):
    api = client(served[0]).view_api(print_info=False, return_format="dict")
    named = set(api["named_endpoints"])
    assert {"/ask", "/new_chat", "/add_documents", "/remove_document", "/read_document", "/documents",
            "/run_evaluation", "/feedback"} <= named


def test_ask_returns_cited_answer_and_chat_html(served):
    c = client(served[0])
    chat, answer = ask(c, "How many shipping containers has Russia received from North Korea?")
    assert not answer["abstained"]
    assert "10,000" in answer["text"]
    assert answer["citations"] and all(x["doc_id"] == "elephant-in-the-room.txt" for x in answer["citations"])
    assert answer["generator"] == "extractive"
    assert [m["role"] for m in chat] == ["user", "assistant"]
    html = str(chat[1]["content"])
    assert "cite-marker ref ref-cite ref-t0 ref-n1" in html and "Retrieved passages" in html


def test_follow_up_uses_this_sessions_conversation_only(served):
    url = served[0]
    a, b = client(url), client(url)
    ask(a, "Who is Yun Sun?")
    chat_a, follow = ask(a, "What did she say about China's role?")
    assert "yun sun" in follow["query"].lower(), "the follow-up must be rewritten with the conversation"
    assert len(chat_a) == 4
    # the same words in another session have no conversation behind them
    chat_b, alone = ask(b, "What did she say about China's role?")
    assert len(chat_b) == 2 and "yun sun" not in alone["query"].lower()
    assert "Yun Sun" not in str(chat_b[0]["content"])
    # "New chat" clears this session's conversation
    a.predict(api_name="/new_chat")
    chat_a2, fresh = ask(a, "What did she say about China's role?")
    assert len(chat_a2) == 2 and "yun sun" not in fresh["query"].lower()


def test_abstention_offers_closest_passages(served):
    chat, answer = ask(client(served[0]), "What is the capital of France?")
    assert answer["abstained"] and not answer["citations"]
    html = str(chat[1]["content"])
    assert "Not in the sources" in html and "Closest passages" in html and "ref-passage ref-t0 ref-n0" in html


def test_too_long_question_gets_a_clear_message_and_no_turn(served):
    url, s, _ = served
    c = client(url)
    long_q = "Why? " * (s.max_question_chars // 4)
    chat, box, answer = c.predict(long_q, api_name="/ask")
    assert answer is None and box == long_q.strip(), "the question stays in the box to be shortened"
    said = str(chat[-1]["content"])
    assert "Error" in said and f"the limit is {s.max_question_chars}" in said
    assert "RAG_MAX_QUESTION_CHARS" in said and "Shorten it" in said
    chat, _ = ask(c, "How many shipping containers has Russia received from North Korea?")
    assert len(chat) == 2, "the refused question did not become a turn"


def test_the_question_box_never_cuts_a_long_paste(served):
    """Issue 29 #8: the box had maxlength = max_question_chars, so a browser cut a longer paste silently;
    the whole question must reach the handler, which refuses it with the limit and the fix (above)."""
    url = served[0]
    config = httpx.get(url + "/config", timeout=30).json()
    box = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "question")
    assert box["props"].get("max_length") is None


def _doc_ids(table) -> list[str]:
    rows = table["data"] if isinstance(table, dict) else table
    return [r[3] for r in rows]


def test_upload_ask_then_remove(served, tmp_path):
    from gradio_client import handle_file

    url, s, _ = served
    c = client(url)
    doc = tmp_path / "quokka notes.txt"
    doc.write_text(QUOKKA, "utf-8")
    status, table, _pick, _status, _session_files = c.predict([handle_file(str(doc))], api_name="/add_documents")
    assert "quokka_notes.txt: added" in status
    rows = table["data"]
    row = next(r for r in rows if r[3] == "quokka_notes.txt")
    assert int(row[1]) >= 1, "the document list shows its chunk count"
    assert "elephant-in-the-room.txt" in _doc_ids(table), "nothing already indexed is lost"
    assert (s.uploads_dir / "quokka_notes.txt").read_text("utf-8") == QUOKKA

    _, answer = ask(c, "Who founded the Quokka Preservation Society?")
    assert "Amelia Stonebridge" in answer["text"]
    assert [x["doc_id"] for x in answer["citations"]] == ["quokka_notes.txt"]

    full = c.predict("quokka_notes.txt", api_name="/read_document")
    assert "The Short Tail" in full and "yearly bulletin" in full

    status, table, *_ = c.predict("quokka_notes.txt", api_name="/remove_document")
    assert "removed" in status and "quokka_notes.txt" not in _doc_ids(table)
    assert not (s.uploads_dir / "quokka_notes.txt").exists()
    _, after = ask(c, "Who founded the Quokka Preservation Society?")
    assert all(x["doc_id"] != "quokka_notes.txt" for x in after["citations"])
    # the bundled article cannot be removed from the UI: it is always there to read
    status, table, *_ = c.predict("elephant-in-the-room.txt", api_name="/remove_document")
    assert "bundled document" in status and "elephant-in-the-room.txt" in _doc_ids(table)


def test_upload_limits_and_per_file_errors(served, tmp_path):
    from gradio_client import handle_file

    url = served[0]
    c = client(url)
    good = tmp_path / "ok-note.md"
    good.write_text("# Lighthouse log\n\nThe Skerryvore lighthouse keeper logged nine storms in 1844.", "utf-8")
    wrong_type = tmp_path / "notes.doc"  # Word 97: refused before reading, with the fix (.docx is read)
    wrong_type.write_bytes(b"\xd0\xcf\x11\xe0 not really a doc")
    empty = tmp_path / "empty.txt"
    empty.write_text("", "utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n this is not a real pdf")
    files = [handle_file(str(p)) for p in (good, wrong_type, empty, broken)]
    status, table, *_ = c.predict(files, api_name="/add_documents")
    assert "ok-note.md: added" in status
    assert "notes.doc: type .doc is not supported. An old binary Word file: save it as .docx" in status
    assert "empty.txt" in status and "broken.pdf" in status  # ingestion errors, named per file
    ids = _doc_ids(table)
    assert "ok-note.md" in ids and "elephant-in-the-room.txt" in ids
    assert not {"empty.txt", "broken.pdf"} & set(ids)


    # over the size limit: Gradio refuses the upload itself, and the index is unchanged
    big = tmp_path / "big.txt"
    big.write_text("word " * 20_000, "utf-8")
    with pytest.raises(Exception, match=r"(?i)size|large"):
        c.predict([handle_file(str(big))], api_name="/add_documents")
    table = c.predict(api_name="/documents")[0]
    assert "big.txt" not in _doc_ids(table) and "ok-note.md" in _doc_ids(table)


def test_upload_cap_counts_per_client_address_not_per_session(served, tmp_path):
    """Issue 11: a new page load or API session used to reset the cap. Now one address shares one allowance."""
    from gradio_client import handle_file

    from ui.app import build_app, launch

    _, s, parts = served
    s2 = s.replace(port=free_port(), max_uploads_per_session=2)
    app = build_app(parts.assistant, parts.indexer, s2)
    launch(app, s2, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{s2.port}"
    try:
        files = [tmp_path / f"cap-{i}.txt" for i in range(3)]
        for i, p in enumerate(files):
            p.write_text(f"Harbour record {i}: the ferry Aurora{i} sailed at dawn.", "utf-8")
        status, *_ = client(url).predict([handle_file(str(p)) for p in files], api_name="/add_documents")
        assert "cap-0.txt: added" in status and "cap-1.txt: added" in status
        assert "cap-2.txt: 2 files were uploaded from here in the last hour" in status
        # a fresh session from the same address (a reload, or a new API client) has no new allowance
        status, *_ = client(url).predict([handle_file(str(files[2]))], api_name="/add_documents")
        assert "cap-2.txt: 2 files were uploaded from here" in status
    finally:
        app.close()


def test_evaluation_run_bundled_and_uploaded_suite(served, tmp_path):
    from gradio_client import handle_file

    c = client(served[0])
    charts, metrics, cases, files, report = c.predict("smoke.yaml", None, api_name="/run_evaluation")
    names = [r[0] for r in metrics["data"]]
    assert {"pass_rate", "answer_correctness", "citation_recall", "abstention_accuracy"} <= set(names)
    rows = cases["data"]
    assert len(rows) == 8
    results = [r[1] for r in rows]
    assert results == sorted(results, key=lambda x: x != "FAIL"), "failures first"
    assert "<svg" in charts and "sandbox=" in report
    paths = [f["path"] if isinstance(f, dict) else f for f in files]
    assert {Path(p).name for p in paths} == {"results.jsonl", "summary.json", "report.html", "report.md"}
    jsonl = next(p for p in paths if p.endswith("results.jsonl"))
    r = httpx.get(f"{served[0]}/gradio_api/file={jsonl}")
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 8

    suite = tmp_path / "mine.yaml"
    suite.write_text(
        "name: mine\ncases:\n"
        "  - id: containers\n    question: How many shipping containers has Russia received from North Korea?\n"
        "    answers: ['10,000']\n    evidence: ['over 10,000 shipping containers']\n"
        "  - id: paris\n    question: What is the capital of France?\n    answerable: false\n", "utf-8")
    _, metrics, cases, _, _ = c.predict(None, handle_file(str(suite)), api_name="/run_evaluation")
    assert sorted(r[0] for r in cases["data"]) == ["mine/containers", "mine/paris"]
    assert dict((r[0], r[1]) for r in metrics["data"])["pass_rate"] == "1.000"

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncases:\n  - id: x\n    answers: ['y']\n", "utf-8")
    with pytest.raises(Exception, match="question"):
        c.predict(None, handle_file(str(bad)), api_name="/run_evaluation")


FB_HOSTILE = "<script>alert(1)</script> [see](http://evil.example/x)"


def test_feedback_over_the_api_becomes_a_failing_feedback_suite(served):
    from rag.feedback.store import FeedbackStore
    from ui.evaluation import FEEDBACK_SUITE

    url, s, _ = served
    c = client(url)
    _, answer = ask(c, "How many shipping containers has Russia received from North Korea?")
    bad = c.predict(1, "citation_rejected", 9, "", "", "", api_name="/feedback")
    assert "Not recorded" in bad and "[9] is not in this answer" in bad
    none = c.predict(5, "thumbs_up", None, "", "", "", api_name="/feedback")
    assert "no answer #5" in none
    ok = c.predict(1, "thumbs_down", None, "twenty thousand", "", FB_HOSTILE, api_name="/feedback")
    assert "recorded as fb-" in ok and "<script>" not in ok
    ok2 = c.predict(1, "citation_rejected", answer["citations"][0]["marker"], "", "", "", api_name="/feedback")
    assert "recorded as fb-" in ok2
    records = FeedbackStore(s.feedback_dir).records()
    assert [r["verdict"]["kind"] for r in records] == ["thumbs_down", "citation_rejected"]
    assert records[0]["comment"] == FB_HOSTILE and records[0]["user"] is None
    assert records[0]["conversation"] == records[1]["conversation"] and records[0]["index_generation"].startswith("g")
    assert records[1]["verdict"]["chunk_id"] == answer["citations"][0]["chunk_id"]

    # "the documents do answer this": only on an abstention, with the expected answer; an evidence phrase
    # from a retrieved passage points at that passage
    _, abst = ask(c, "What is the capital of France?")
    assert abst["abstained"]
    wrong = c.predict(1, "documents_answer", None, "10,000", "", "", api_name="/feedback")
    assert "applies to an abstention" in wrong
    assert "expected short answer" in c.predict(2, "documents_answer", None, "", "", "", api_name="/feedback")
    phrase = " ".join(abst["retrieved"][1]["chunk"]["text"].split()[:6])
    assert "recorded as" in c.predict(2, "documents_answer", None, "Pyongyang", phrase, "", api_name="/feedback")
    pointer = FeedbackStore(s.feedback_dir).records()[-1]["verdict"]["pointer"]
    assert pointer["chunk_id"] == abst["retrieved"][1]["chunk"]["chunk_id"]

    charts, _, cases, _, _ = c.predict(FEEDBACK_SUITE, None, api_name="/run_evaluation")
    assert [row[1] for row in cases["data"]] == ["FAIL", "FAIL"], "the two verdicts on one point merge"
    assert "cited 1 passage(s) a reader marked" in " ".join(row[2] for row in cases["data"])
    assert "Where the feedback cases come from" in charts and records[0]["id"] in charts
    assert "<script>alert" not in charts and "&lt;script&gt;alert(1)&lt;/script&gt;" in charts


def test_auth_guards_page_and_api(served):
    from gradio_client import Client

    from ui.app import build_app, launch

    _, s, assistant = served
    s2 = s.replace(port=free_port(), ui_auth="alice:wonder-land,bob:b0b")
    app = build_app(assistant.assistant, assistant.indexer, s2)
    launch(app, s2, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{s2.port}"
    try:
        for path in ("/config", "/gradio_api/info", "/gradio_api/queue/status"):
            r = httpx.get(url + path)
            assert r.status_code in (401, 403), (path, r.status_code)
        r = httpx.post(url + "/gradio_api/queue/join", json={"data": ["hi"], "fn_index": 0, "session_hash": "x"})
        assert r.status_code in (401, 403)
        r = httpx.post(url + "/gradio_api/call/ask", json={"data": ["hi"]})
        assert r.status_code in (401, 403)
        r = httpx.post(url + "/gradio_api/upload", files={"files": ("a.txt", b"hello")})
        assert r.status_code in (401, 403)
        secret = s2.data_dir / "eval-runs" / "secret.txt"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text("eval output", "utf-8")
        r = httpx.get(f"{url}/gradio_api/file={secret}")
        assert r.status_code in (401, 403) and "eval output" not in r.text
        page = httpx.get(url + "/")
        assert "elephant" not in page.text.lower() and "Cited answers" not in page.text
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain Exception subclass
            Client(url, auth=("alice", "wrong"), verbose=False)
        ok = Client(url, auth=("alice", "wonder-land"), verbose=False)
        _, _, answer = ok.predict("How many shipping containers has Russia received from North Korea?",
                                  api_name="/ask")
        assert "10,000" in answer["text"]
        assert "recorded as" in ok.predict(1, "thumbs_up", None, "", "", "", api_name="/feedback")
        from rag.feedback.store import FeedbackStore

        assert FeedbackStore(s2.feedback_dir).records()[-1]["user"] == "alice"
    finally:
        app.close()


# -------------------------------------------------------------- upload names (pure)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/abs/path/notes.md", "notes.md"),
        ("..\\..\\windows\\evil.html", "evil.html"),
        ("..", "document"),
        (".hidden.txt", "hidden.txt"),
        ("rapport final (v2).PDF", "rapport_final_v2.pdf"),
        ("a\x00b<script>.txt", "a_b_script.txt"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe


def test_accept_uploads_stays_inside_uploads_dir(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sneaky = src / "..evil.txt"
    sneaky.write_text("x", "utf-8")
    dest = tmp_path / "data" / "uploads"
    acc = accept_uploads([str(sneaky)], dest, max_bytes=100, already=0, max_files=5)
    assert list(acc.stored.values()) == ["evil.txt"]
    assert [p.name for p in dest.iterdir()] == ["evil.txt"]
    assert not (tmp_path / "data" / "evil.txt").exists()
