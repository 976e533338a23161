"""`python -m ui` as its own process on a free loopback port, over a private copy of an index.

The real serving command (page, /v1 and /mcp on one port), stopped with SIGINT like a user's Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from core.settings import PROJECT_ROOT
from tests.chroma_server import free_port


@contextlib.contextmanager
def serve_ui(index_dir: Path, work: Path, env: dict[str, str] | None = None,
             *args: str) -> Iterator[str]:
    """Yield the base URL once the page answers; the log is work/server.log."""
    data = work / "data"
    shutil.copytree(index_dir, data)
    port = free_port()
    log = work / "server.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    full_env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
                    PYTHONUNBUFFERED="1", **(env or {}))
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ui", "--data-dir", str(data), "--port", str(port),
                                 "--generator", "extractive", *args], cwd=PROJECT_ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"python -m ui exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/gradio_api/info", timeout=2).status_code in (200, 401):  # 401: login on
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"python -m ui did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C, as a person would stop `python -m ui`; killed if it has not exited after 20 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
