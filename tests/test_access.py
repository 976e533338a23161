"""Access (issue 8): login on every route, files that stay inside the data directory, and limits.

tests/test_ui_api.py checks a handful of named routes behind RAG_UI_AUTH. Here every route the running
Gradio app really registers is enumerated and requested without a login, so a route added by a future
Gradio version is covered too. Then, logged in, file routes and uploads are attacked with `../`,
absolute paths and forged file references; nothing outside the data directory may be read or written.
Last, each configurable limit is hit at the layer that enforces it and must say which limit and how to
raise it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from core.errors import LimitError
from core.settings import load_settings
from rag import Assistant
from tests.app_parts import AppParts
from tests.chroma_server import free_port

USER, PASSWORD = "alice", "s3cret-pass"
SECRET = "CANARY-OUTSIDE-DATA-DIR-7f3a"
# Routes that must answer without a login: the login page ("/" and its twin /gradio_api/runs), its assets,
# and the framework routes the login page itself polls, which carry no app data (measured: app_id is a
# random number, user/token are null, startup-events is `false`, heartbeat is a keep-alive stream,
# /openapi.json is FastAPI's schema of Gradio's generic routes). Even these must not leak document data.
PUBLIC = re.compile(r"^/(login/?|logout|(static|assets|svelte)/.*|favicon\.ico|robots\.txt|theme\.css|"
                    r"gradio_api/theme\.css|manifest\.json|pwa_icon(/.*)?|gradio_api/custom_component/.*|"
                    r"gradio_api/(login_check|app_id|user|token|runs)/?|gradio_api/startup-events|"
                    r"gradio_api/heartbeat/.*|openapi\.json|)$")
LEAKS = ("shipping containers", "elephant-in-the-room", "Yun Sun", SECRET)  # document data and the secret


@pytest.fixture(scope="module")
def guarded(article_index: Path, tmp_path_factory):
    from ui.app import build_app, launch

    root = tmp_path_factory.mktemp("access")
    data = root / "data"
    shutil.copytree(article_index, data)
    (root / "outside-secret.txt").write_text(f"The vault code is {SECRET}.", "utf-8")
    s = load_settings({"data_dir": data, "generator": "extractive", "port": free_port(),
                       "ui_auth": f"{USER}:{PASSWORD}"}, env={})
    parts = AppParts(s)
    parts.warm_up()
    app = build_app(parts.assistant, parts.indexer, s)
    fastapi_app, _, _ = launch(app, s, prevent_thread_lock=True, quiet=True)
    (s.data_dir / "eval-runs").mkdir(exist_ok=True)
    (s.data_dir / "eval-runs" / "run.txt").write_text(f"eval output {SECRET}", "utf-8")
    (s.downloads_dir / "tok").mkdir(parents=True, exist_ok=True)  # the one folder served (issue 24)
    (s.downloads_dir / "tok" / "run.txt").write_text(f"eval output {SECRET}", "utf-8")
    yield f"http://127.0.0.1:{s.port}", s, fastapi_app, root
    app.close()


def _routes(app) -> list[tuple[str, str]]:
    """(method, path) for every route, including those of included routers."""
    out: list[tuple[str, str]] = []

    def walk(routes, prefix: str = "") -> None:
        for r in routes:
            path = getattr(r, "path", None)
            if path is None:
                inner = getattr(r, "original_router", None) or getattr(r, "router", None)
                pre = getattr(getattr(r, "include_context", None), "prefix", "") or getattr(r, "prefix", "")
                if inner is not None:
                    walk(inner.routes, prefix + pre)
                continue
            for m in sorted(getattr(r, "methods", None) or {"GET"}):
                out.append((m, prefix + path))

    walk(app.routes)
    return sorted(set(out))


def _fill(path: str, data_dir: Path) -> str:
    """Concrete values for path parameters: real API names, and a real file the app may serve."""
    served = quote(str(data_dir / "downloads" / "tok" / "run.txt"))
    path = re.sub(r"\{path_or_url:path\}", served, path)
    path = re.sub(r"\{api_name\}", "ask", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def test_no_route_answers_without_login(guarded) -> None:
    url, s, app, _ = guarded
    routes = _routes(app)
    assert len(routes) > 40, "the route walk found the Gradio API routers"
    open_routes, leaks = [], []
    with httpx.Client(timeout=10, follow_redirects=False) as c:
        for method, path in routes:
            if method == "HEAD":
                continue
            concrete = _fill(path, s.data_dir)
            body = {"data": ["How many shipping containers?"], "fn_index": 0, "session_hash": "x",
                    "event_data": None, "trigger_id": 0}
            # streamed: an event stream (queue data, heartbeat) would never end, so read only its start
            with c.stream(method, url + concrete, json=body if method == "POST" else None) as r:
                head = b""
                if r.status_code < 300:
                    for part in r.iter_bytes():
                        head += part
                        if len(head) > 65536 or "event-stream" in r.headers.get("content-type", ""):
                            break
            text = head.decode("utf-8", "replace")
            if any(x in text for x in LEAKS):
                leaks.append((method, path, r.status_code))
            if PUBLIC.match(path):
                continue
            if r.status_code < 300 or (300 <= r.status_code < 400 and "login" not in r.headers.get("location", "")):
                open_routes.append((method, path, r.status_code))
    assert leaks == [], f"routes leak data without a login: {leaks}"
    assert open_routes == [], f"routes answer without a login: {open_routes}"


@pytest.mark.xfail(strict=True, reason="Gradio 6.31 bug: the login page embeds window.gradio_api_info (every "
                   "endpoint, parameter and curl example) for visitors who are not logged in, although "
                   "/gradio_api/info itself answers 401; see the closing note for the mitigation")
def test_login_page_does_not_describe_the_api(guarded) -> None:
    url = guarded[0]
    for path in ("/", "/gradio_api/runs"):
        r = httpx.get(url + path, timeout=30)
        for name in ("add_documents", "remove_document", "run_evaluation", "/gradio_api/call/"):
            assert name not in r.text, (path, name)


def _login(url: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=30)
    r = c.post("/login", data={"username": USER, "password": PASSWORD})
    assert r.status_code in (200, 302, 303), r.text
    assert c.get("/config").status_code == 200, "logged in, the routes answer (so the 401s above are auth)"
    return c


def test_file_routes_cannot_read_outside_allowed_paths(guarded) -> None:
    url, s, _, root = guarded
    c = _login(url)
    ok = c.get(f"/gradio_api/file={s.downloads_dir / 'tok' / 'run.txt'}")
    assert ok.status_code == 200 and SECRET in ok.text, "the allowed folder is served (control)"
    manifest = s.data_dir / "index" / "manifest.json"
    targets = [
        str(s.data_dir / "eval-runs" / "run.txt"),  # run folders are private: only published copies are served
        "/etc/passwd",
        str(root / "outside-secret.txt"),
        str(manifest),
        f"{s.data_dir}/eval-runs/../index/manifest.json",
        f"{s.data_dir}/eval-runs/%2e%2e/index/manifest.json",
        f"{s.data_dir}/eval-runs/..%2findex%2fmanifest.json",
        "../" * 12 + "etc/passwd",
        str(s.data_dir / "index" / "chroma" / "chroma.sqlite3"),
    ]
    for t in targets:
        for route in ("/gradio_api/file=", "/gradio_api/file/"):
            r = c.get(route + t)
            assert r.status_code in (400, 403, 404, 405), (route + t, r.status_code)
            assert "root:" not in r.text and SECRET not in r.text and '"documents"' not in r.text


def _sse_result(c: httpx.Client, api: str, data: list) -> tuple[str, object]:
    r = c.post(f"/gradio_api/call/{api}", json={"data": data})
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]
    kind, payload = "", None
    with c.stream("GET", f"/gradio_api/call/{api}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                raw = line.split(":", 1)[1].strip()
                payload = json.loads(raw) if raw and raw != "null" else None
                break
    return kind, payload


def test_uploaded_names_cannot_escape_the_data_dir(guarded) -> None:
    url, s, _, root = guarded
    c = _login(url)
    hostile = [f"../../../../{root.name}/escaped.txt", str(root / "absolute.txt"), "..\\..\\win.txt"]
    before = {p for p in root.rglob("*")}
    for name in hostile:
        r = c.post("/gradio_api/upload", files=[("files", (name, b"The Harwick canal has 14 locks.", "text/plain"))])
        assert r.status_code == 200, r.text
        (stored,) = r.json()
        kind, out = _sse_result(c, "add_documents", [[{"path": stored, "orig_name": name,
                                                        "meta": {"_type": "gradio.FileData"}}], None, None])
        assert kind == "complete", out
        status = out[0]
        assert "added" in status or "replaced" in status or "unchanged" in status, status
    created = {p for p in root.rglob("*")} - before
    outside = [p for p in created if not p.resolve().is_relative_to(s.data_dir.resolve())]
    assert outside == [], f"files written outside the data dir: {outside}"
    assert not (root / "escaped.txt").exists() and not (root / "absolute.txt").exists()
    assert all(p.parent == s.uploads_dir for p in s.uploads_dir.iterdir())


def test_forged_file_reference_cannot_ingest_outside_files(guarded) -> None:
    """A client names a file on the server instead of uploading one: it must not be read or indexed."""
    url, s, _, root = guarded
    c = _login(url)
    secret = root / "outside-secret.txt"
    for path in (str(secret), f"{s.uploads_dir}/../../outside-secret.txt", str(s.data_dir / "index" / "manifest.json")):
        kind, out = _sse_result(c, "add_documents", [[{"path": path, "orig_name": "notes.txt",
                                                        "meta": {"_type": "gradio.FileData"}}], None, None])
        assert kind == "error" or (out and "added" not in str(out[0])), (path, kind, out)
    kind, out = _sse_result(c, "documents", [None])
    assert kind == "complete"
    assert "outside-secret" not in json.dumps(out) and "manifest" not in json.dumps(out)
    kind, out = _sse_result(c, "ask", ["What is the vault code?"])
    assert SECRET not in json.dumps(out)
    assert not any(SECRET in p.read_text("utf-8", "replace") for p in s.uploads_dir.glob("*") if p.is_file())


# ---------------------------------------------------------------- limits, each at its own layer
def test_question_limit_in_the_assistant(article_index: Path) -> None:
    a = Assistant.from_settings(load_settings({"data_dir": article_index, "generator": "extractive",
                                               "max_question_chars": 50}, env={}))
    with pytest.raises(LimitError) as err:
        a.ask("Why " * 20)
    assert "limit is 50" in str(err.value) and "RAG_MAX_QUESTION_CHARS" in str(err.value)


def test_upload_size_limit_in_the_indexer(tmp_path: Path) -> None:
    """The CLI and Python API have no Gradio in front: the indexer itself enforces max_upload_bytes."""
    from index.pipeline import Indexer

    s = load_settings({"data_dir": tmp_path / "data", "max_upload_bytes": 10_000}, env={})
    big = tmp_path / "big.txt"
    big.write_text("The Harwick canal has 14 locks. " * 1000, "utf-8")
    report = Indexer.from_settings(s).add([big])
    assert not report.added and len(report.errors) == 1
    msg = str(report.errors[0])
    assert "big.txt" in msg and "limit" in msg and "RAG_MAX_UPLOAD_BYTES" in msg, msg


@pytest.mark.slow
def test_answer_token_limit_is_enforced_and_said(article_index: Path, tmp_path: Path) -> None:
    """max_answer_tokens caps what the LLM may write; a cut answer must say it was cut, and by which limit."""
    from core.types import GenerationRequest, text_of

    data = tmp_path / "data"
    shutil.copytree(article_index, data)
    s = load_settings({"data_dir": data, "generator": "local", "local_model": "smollm2-135m",
                       "max_answer_tokens": 6}, env={})
    a = Assistant.from_settings(s)
    a.warm_up()
    q = "What did Japan voice about Putin's openness to military cooperation with Pyongyang?"
    passages = a.retriever.retrieve(q, s.k)
    raw = text_of(a.generator.generate(GenerationRequest(question=q, query=q, passages=passages, max_tokens=6)))
    tokens = a.generator.chat.llama.tokenize(raw.encode(), add_bos=False, special=False)
    assert 0 < len(tokens) <= 6 + 1, (len(tokens), raw)  # +1: the first piece may lose a leading space token
    answer = a.ask(q)
    assert answer.abstained or "max_answer_tokens" in answer.notice or "RAG_MAX_ANSWER_TOKENS" in answer.notice, \
        f"a cut answer gives no notice: {answer.text!r} / notice {answer.notice!r}"
