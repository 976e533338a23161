"""Issue 24, the page and its uploads: each finding reproduced against the real server (`python -m ui`, the
page mounted beside /v1 and /mcp), or against the one object that enforces it. Each test failed before
its fix.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from core.errors import ConfigError, InputError
from core.settings import load_settings
from tests.ui_process import serve_ui

KEY = "sk-sec-ui-test"
USERS = {"alice": "alice-pass-1", "bob": "bob-pass-2", "carol": "carol-pass-3"}
CANARY = "CANARY-OUTSIDE-UPLOADS-51c9"
UPLOAD_CAP = 300_000  # RAG_UPLOAD_BYTES_PER_HOUR for the served app


@pytest.fixture(scope="module")
def served(article_index: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sec-ui")
    # left by an earlier process: a Gradio temp file (kill -9 mid-upload) and a stored upload never indexed
    orphan_dir = work / "seed" / "page-files" / "0ddba11"
    orphan_dir.mkdir(parents=True)
    (orphan_dir / "half-written.txt").write_text("partial", "utf-8")
    env = {"RAG_API_KEYS": KEY, "RAG_UI_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
           "RAG_UPLOAD_BYTES_PER_HOUR": str(UPLOAD_CAP), "RAG_MAX_QUEUED_PER_USER": "2",
           "RAG_FEEDBACK_PER_HOUR": "3"}
    data_seed = work / "index-copy"
    import shutil

    shutil.copytree(article_index, data_seed)
    shutil.copytree(work / "seed" / "page-files", data_seed / "page-files")
    (data_seed / "uploads").mkdir(exist_ok=True)
    stale = data_seed / "uploads" / "interrupted.txt"
    stale.write_text("copied, then kill -9 before the index commit", "utf-8")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    (work / "outside.txt").write_text(f"The vault code is {CANARY}.", "utf-8")
    (work / "outside.yaml").write_text(f"name: x\ncases: {CANARY}\n", "utf-8")
    with serve_ui(data_seed, work / "run", env) as url:
        yield url, work, work / "run" / "data"


def login(url: str, user: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=60)
    r = c.post("/login", data={"username": user, "password": USERS[user]})
    assert r.status_code == 200, r.text
    return c


def call(c: httpx.Client, api: str, data: list) -> tuple[str, object]:
    r = c.post(f"/gradio_api/call/{api}", json={"data": data})
    if r.status_code != 200:
        return f"http {r.status_code}", r.text
    kind, payload = "", None
    with c.stream("GET", f"/gradio_api/call/{api}/{r.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                raw = line.split(":", 1)[1].strip()
                payload = json.loads(raw) if raw and raw != "null" else None
                break
    return kind, payload


def file_data(path: str, name: str = "notes.txt") -> dict:
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


# ------------------------------------------------------------------ finding 1 (critical)
def test_forged_file_paths_are_refused_and_nothing_is_indexed(served) -> None:
    url, work, data = served
    c = login(url, "alice")
    page_files = data / "page-files"
    (page_files / "planted").mkdir(parents=True, exist_ok=True)
    link = page_files / "planted" / "link.txt"
    link.symlink_to(work / "outside.txt")
    forged = ["/etc/passwd", str(work / "outside.txt"), f"{page_files}/../../outside.txt", str(link),
              str(data / "index" / "manifest.json")]
    for path in forged:
        kind, out = call(c, "add_documents", [[file_data(path)], None, None])
        text = json.dumps(out)
        # refused by Gradio's own check (now on: an error without details) or by ui.paths (a status line)
        assert kind == "error" or (kind == "complete" and "refused" in str(out[0])), (path, kind, out)
        assert str(work) not in text and "page-files" not in text, f"an error names a server path: {text}"
    r = c.post("/gradio_api/upload", files=[("files", ("empty.txt", b"", "text/plain"))])
    kind, out = call(c, "add_documents", [[file_data(r.json()[0], "empty.txt")], None, None])
    assert kind == "complete" and "empty.txt" in str(out[0]), out  # a real upload is read (control)
    assert str(data) not in json.dumps(out) and "page-files" not in json.dumps(out), "an error names a server path"
    kind, out = call(c, "documents", [None])
    listed = json.dumps(out)
    assert kind == "complete" and "outside" not in listed and "passwd" not in listed and "link" not in listed
    r = httpx.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                   json={"model": "cited-answers", "messages": [{"role": "user", "content": "What is the vault code?"}]})
    assert r.status_code == 200 and CANARY not in r.text


def test_forged_suite_path_is_refused_without_naming_a_copy(served) -> None:
    url, work, data = served
    c = login(url, "alice")
    kind, out = call(c, "run_evaluation", [None, file_data(str(work / "outside.yaml"), "outside.yaml")])
    text = json.dumps(out)
    assert kind == "error" and CANARY not in text and str(work) not in text and "page-files" not in text, out
    assert not any(CANARY in p.read_text("utf-8", "replace") for p in (data / "page-files").rglob("*.yaml")), \
        "the outside file was copied into the page's cache"
    # a real upload that fails to parse: the error names the file, never where the server keeps it
    r = c.post("/gradio_api/upload", files=[("files", ("broken.yaml", b"name: b\ncases: 3\n", "text/yaml"))])
    (stored,) = r.json()
    kind, out = call(c, "run_evaluation", [None, file_data(stored, "broken.yaml")])
    assert kind == "error" and "broken.yaml" in json.dumps(out), out
    assert str(Path(stored).parent) not in json.dumps(out) and "page-files" not in json.dumps(out)


def test_file_route_does_not_serve_data_outside_the_page(served) -> None:
    url, work, data = served
    c = login(url, "alice")
    for path in (work / "outside.txt", data / "index" / "manifest.json"):
        r = c.get(f"/gradio_api/file={path}")
        assert r.status_code in (403, 404) and CANARY not in r.text


def test_handlers_refuse_forged_paths_whatever_gradio_checks(article_index: Path, tmp_path: Path) -> None:
    """The handlers themselves are the boundary: called with no Gradio in front, they still refuse."""
    import shutil

    from tests.app_parts import app_for
    from ui.handlers import DocumentHandlers, EvaluationHandlers, Session

    data = tmp_path / "data"
    shutil.copytree(article_index, data)
    parts = app_for(data)
    secret = tmp_path / "outside.txt"
    secret.write_text(f"The vault code is {CANARY}.", "utf-8")
    docs = DocumentHandlers(parts.indexer, load_settings({"data_dir": data}, env={}), "extractive")
    before = {d.doc_id for d in parts.indexer.documents()}
    status, *_ = docs.add([str(secret), {"path": str(secret)}], Session(), client="addr:x")
    assert "2 file reference(s) refused" in status and str(tmp_path) not in status
    assert {d.doc_id for d in parts.indexer.documents()} == before
    suite = tmp_path / "outside.yaml"
    suite.write_text(f"name: x\ncases: {CANARY}\n", "utf-8")
    evals = EvaluationHandlers(parts.assistant, parts.indexer, data / "eval-runs")
    with pytest.raises(Exception) as err:  # gr.Error
        evals.run(None, str(suite))
    assert CANARY not in str(err.value) and str(tmp_path) not in str(err.value)


def test_client_path_unit_rules(tmp_path: Path) -> None:
    from ui.paths import client_path

    root = tmp_path / "uploads"
    (root / "h").mkdir(parents=True)
    good = root / "h" / "a.txt"
    good.write_text("x", "utf-8")
    (tmp_path / "out.txt").write_text("secret", "utf-8")
    (root / "h" / "ln.txt").symlink_to(tmp_path / "out.txt")
    assert client_path(str(good), [root]) == good
    assert client_path({"path": str(good)}, [root], known={str(good)}) == good
    for bad in (str(tmp_path / "out.txt"), str(root / "h" / "ln.txt"), f"{root}/h/../../out.txt", str(root / "h"),
                "h/a.txt", str(root), f"{good}\x00", ""):
        with pytest.raises(InputError) as err:
            client_path(bad, [root])
        assert str(tmp_path) not in str(err.value)
    with pytest.raises(InputError):
        client_path(str(good), [root], known=set())  # not returned by this app's upload route


# ------------------------------------------------------------------ finding 2
@pytest.mark.parametrize(("host", "auth", "keys", "ok"), [
    ("127.0.0.1", "", "", True), ("0.0.0.0", "", "k1", False), ("0.0.0.0", "a:b", "", False),
    ("192.168.1.5", "a:b", "k1", True)])
def test_network_host_needs_login_and_keys(host: str, auth: str, keys: str, ok: bool) -> None:
    from ui.server import check_exposure

    s = load_settings({"host": host, "ui_auth": auth, "api_keys": keys}, env={})
    if ok:
        check_exposure(s)
        return
    with pytest.raises(ConfigError) as err:
        check_exposure(s)
    named = str(err.value).split(":")[0]  # "... without <what is missing>: set ..."
    assert ("RAG_UI_AUTH" in named) == (not auth) and ("RAG_API_KEYS" in named) == (not keys), str(err.value)
    assert "127.0.0.1" in str(err.value)


# ------------------------------------------------------------------ finding 5
class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_login_guard_is_bounded_and_locks_per_address() -> None:
    from ui.limits import LoginGuard

    guard = LoginGuard([("alice", "pw")], window_s=60, clock=Clock(), max_keys=1000)
    for i in range(5000):
        assert not guard.locked(f"name{i}", "10.0.0.9")
    assert guard.keys() == 0, "checking a lock must not create keys"
    for i in range(5000):
        guard(f"spray{i}", "x", "10.0.0.66")  # one address, many names
    assert guard.keys() <= 3 * 1000 + 3, "the key cap holds for every counter"
    assert guard("alice", "pw", "10.0.0.7"), "a flood from one address locks nobody else"
    assert not guard("alice", "pw", "10.0.0.66"), "the flooding address is locked"
    for _ in range(5):
        guard("alice", "guess", "10.0.0.66")
    assert guard("alice", "pw", "10.0.0.8"), "failures from one address do not lock the name elsewhere"


# ------------------------------------------------------------------ finding 11
def test_queue_admits_a_few_jobs_per_user() -> None:
    from ui.limits import fair_queue

    def event(user: str | None, host: str, session: str = "s") -> SimpleNamespace:
        return SimpleNamespace(username=user, request=SimpleNamespace(client=SimpleNamespace(host=host)),
                               session_hash=session)

    waiting: list = []
    queue = SimpleNamespace(event_queue_per_concurrency_id={"eval": SimpleNamespace(queue=waiting)})

    async def push(body, request, username):
        waiting.append(event(username, request.client.host, getattr(body, "session_hash", "s")))
        return True, "id", "success"

    queue.push = push
    fair_queue(SimpleNamespace(_queue=queue), 3)
    flood = [asyncio.run(queue.push(body=None, request=SimpleNamespace(client=SimpleNamespace(host="1.1.1.1")),
                                    username="mallory")) for _ in range(70)]
    assert sum(ok for ok, _, _ in flood) == 3
    assert "RAG_MAX_QUEUED_PER_USER" in flood[-1][1] and flood[-1][2] == "error"
    ok, _, _ = asyncio.run(queue.push(body=None, request=SimpleNamespace(client=SimpleNamespace(host="1.1.1.1")),
                                      username="bob"))
    assert ok, "another user is still admitted"
    # no login: a network address is one user; on loopback (every local client) each session is one
    remote = [asyncio.run(queue.push(body=SimpleNamespace(session_hash=f"s{i}"), username=None,
                                     request=SimpleNamespace(client=SimpleNamespace(host="10.1.1.1"))))
              for i in range(10)]
    assert sum(ok for ok, _, _ in remote) == 3
    local = [asyncio.run(queue.push(body=SimpleNamespace(session_hash=f"s{i}"), username=None,
                                    request=SimpleNamespace(client=SimpleNamespace(host="127.0.0.1"))))
             for i in range(10)]
    assert all(ok for ok, _, _ in local)


def test_served_queue_refuses_a_users_extra_jobs_not_anothers(served) -> None:
    url = served[0]
    alice, bob = login(url, "alice"), login(url, "bob")
    codes = [alice.post("/gradio_api/call/run_evaluation", json={"data": ["smoke.yaml", None]}).status_code
             for _ in range(6)]
    assert codes.count(200) <= 3 and 400 in codes, codes  # one running + RAG_MAX_QUEUED_PER_USER=2 waiting
    kind, out = call(bob, "ask", ["How many shipping containers has Russia received from North Korea?", ["default"]])
    assert kind == "complete" and "10,000" in json.dumps(out), (kind, out)


# ------------------------------------------------------------------ findings 13 and 19
def test_upload_route_has_a_per_user_byte_quota(served) -> None:
    url = served[0]
    alice, bob = login(url, "alice"), login(url, "bob")
    part = b"a" * (UPLOAD_CAP // 2 + 1000)
    stranger = httpx.post(f"{url}/gradio_api/upload", files=[("files", ("x.txt", part, "text/plain"))], timeout=60)
    assert stranger.status_code == 401, "not logged in: refused by the login, before any quota"
    assert alice.post("/gradio_api/upload", files=[("files", ("one.txt", part, "text/plain"))]).status_code == 200
    r = alice.post("/gradio_api/upload", files=[("files", ("two.txt", part, "text/plain"))])
    assert r.status_code == 413 and "RAG_UPLOAD_BYTES_PER_HOUR" in r.text
    assert bob.post("/gradio_api/upload", files=[("files", ("b.txt", part, "text/plain"))]).status_code == 200


def test_start_up_removes_orphans_and_keeps_indexed_uploads(served) -> None:
    data = served[2]
    assert not (data / "page-files" / "0ddba11").exists(), "a temp file from an earlier process survived"
    assert not (data / "uploads" / "interrupted.txt").exists(), "an upload no document comes from survived"


def test_page_files_sweep_deletes_stale_files_and_forgets_them(tmp_path: Path) -> None:
    from ui.page_files import sweep

    old, new = tmp_path / "a" / "old.txt", tmp_path / "b" / "new.txt"
    for p in (old, new):
        p.parent.mkdir()
        p.write_text("x", "utf-8")
    os.utime(old, (1, 1))
    register = {str(old), str(new)}
    assert sweep(tmp_path, max_age_s=60, register=register) == 1
    assert not old.exists() and not old.parent.exists() and new.exists() and register == {str(new)}


# ------------------------------------------------------------------ findings 8, 9, 10
def test_feedback_export_skips_a_bad_case_instead_of_failing(tmp_path: Path) -> None:
    from rag.eval.suite import load_suite
    from rag.feedback.export import build_export, write_export
    from rag.feedback.record import Verdict
    from tests.test_feedback import rec

    flood = [rec("What is big?", Verdict("thumbs_down", expected=f"Lyon {'x' * i}")) for i in range(51)]
    other = rec("Which city has silk?", Verdict("citation_rejected", marker=1))
    ex = build_export([*flood, other])
    ex.cases.append({"id": "broken", "question": ""})  # a case the loader refuses, however it came about
    out = tmp_path / "feedback.yaml"
    write_export(ex, out)
    suite = load_suite(out)
    assert {c.question for c in suite.cases} == {"What is big?", "Which city has silk?"}
    assert any(rid == "broken" and "refuses" in why for rid, why in ex.skipped)


def test_feedback_is_rate_limited_per_user(served) -> None:
    from gradio_client import Client

    url = served[0]  # (alice may still have evaluations queued by the queue test: bob and carol here)
    bob = Client(url, auth=("bob", USERS["bob"]), verbose=False)
    bob.predict("How many shipping containers has Russia received from North Korea?", ["default"], api_name="/ask")
    said = [bob.predict(1, "thumbs_up", None, "", "", "", api_name="/feedback") for _ in range(4)]
    assert all("recorded as" in x for x in said[:3]), said
    assert "Not recorded" in said[3] and "RAG_FEEDBACK_PER_HOUR" in said[3]
    carol = Client(url, auth=("carol", USERS["carol"]), verbose=False)
    carol.predict("How many shipping containers has Russia received from North Korea?", ["default"], api_name="/ask")
    assert "recorded as" in carol.predict(1, "thumbs_up", None, "", "", "", api_name="/feedback")


def test_feedback_comments_are_not_shown_to_other_users(tmp_path: Path) -> None:
    from rag.feedback.record import Verdict
    from rag.feedback.store import FeedbackStore
    from tests.test_feedback import rec
    from ui.evaluation import feedback_origins_html

    store = FeedbackStore(tmp_path / "fb")
    mine = store.append(rec("What is big?", Verdict("thumbs_down", expected="Lyon"), user="alice",
                            comment="PRIVATE-NOTE-alice"))
    score = SimpleNamespace(passed=False)
    result = SimpleNamespace(records=[{"id": mine["id"], "suite": "feedback", "feedback_ids": [mine["id"]]}],
                             scores={f"feedback/{mine['id']}": score})
    for viewer in ("bob", None):
        shown = feedback_origins_html(result, store, viewer)
        assert "PRIVATE-NOTE-alice" not in shown and "alice" not in shown and "What is big?" in shown
    assert "PRIVATE-NOTE-alice" in feedback_origins_html(result, store, "alice")


def test_run_folders_are_not_served_only_published_copies(served) -> None:
    url, _, data = served
    c = login(url, "alice")
    runs = data / "eval-runs"
    runs.mkdir(exist_ok=True)
    (runs / "feedback.contradictions.json").write_text('{"comment": "PRIVATE"}', "utf-8")
    r = c.get(f"/gradio_api/file={runs / 'feedback.contradictions.json'}")
    assert r.status_code in (403, 404) and "PRIVATE" not in r.text


# ------------------------------------------------------------------ finding 15
def test_chat_exports_live_in_a_managed_folder_and_are_cleaned(tmp_path: Path) -> None:
    from ui.page_files import Downloads

    root = tmp_path / "downloads"
    d = Downloads(root, max_age_s=60, keep=3)
    made = [d.write("conversation.md", f"chat {i}") for i in range(5)]
    assert all(f.parent.parent == root and len(f.parent.name) >= 16 for f in made)
    assert len(list(root.rglob("*.md"))) == 3, "older exports beyond the count were deleted"
    assert made[-1].read_text("utf-8") == "chat 4"
    for p in root.rglob("*.md"):
        os.utime(p, (1, 1))
    d.write("conversation.md", "new")
    assert len(list(root.rglob("*.md"))) == 1, "exports past their age were deleted"


def test_login_address_reaches_the_guard() -> None:
    """ui.server.LoginAddress hands the client address to the auth callable, which Gradio calls with only
    the name and password."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.limits import LOGIN_ADDRESS
    from ui.server import LoginAddress

    app = FastAPI()
    app.add_api_route("/login", lambda: {"address": LOGIN_ADDRESS.get()}, methods=["POST"])
    app.add_api_route("/other", lambda: {"address": LOGIN_ADDRESS.get()}, methods=["POST"])
    app.add_middleware(LoginAddress)
    with TestClient(app) as c:
        assert c.post("/login").json() == {"address": "testclient"}
        assert c.post("/other").json() == {"address": None}


def test_upload_limit_needs_a_size_and_caps_the_folder(tmp_path: Path) -> None:
    from ui.page_files import UploadLimit

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "old.bin").write_bytes(b"0" * 900)
    limit = UploadLimit(None, folder=tmp_path, per_user_bytes=10_000, total_bytes=1000, ttl_s=3600,
                        key_of=lambda scope: "user:a")

    def scope(length: str | None) -> dict:
        headers = [(b"content-length", length.encode())] if length is not None else []
        return {"type": "http", "method": "POST", "path": "/gradio_api/upload", "headers": headers}

    assert limit.admit(scope(None))[0] == 411, "a chunked body of unknown size is refused"
    status, message = limit.admit(scope("200"))
    assert status == 507 and "RAG_PAGE_FILES_MAX_BYTES" in message and str(tmp_path) not in message
    assert limit.admit(scope("50")) is None
