"""Start-up time (launch to a page that answers) and peak RSS while serving, per generator.

`python -m ui --port P --data-dir D --generator G` is started on a free loopback port, on an index that
already exists (so index building is not counted). "Ready" is the first HTTP 200 from the page: the app
loads its models before it binds the port, so a page that answers is a page that can answer questions.
Then a few questions go through the real `/ask` endpoint with gradio_client while a sampler reads the
RSS of the server's whole process tree every 50 ms; the peak of those samples is reported.
The server is stopped by its own PID.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from core.settings import PROJECT_ROOT

QUESTIONS = (
    "How many shipping containers has Russia received from North Korea?",
    "Who is Yun Sun?",
    "What is the capital of France?",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler(threading.Thread):
    """Peak resident memory of a process and its children, sampled until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=2)
        return self.peak / 2**20


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def run_startup(generator: str, data_dir: Path, questions: int = 3, timeout: float = 600, log_dir: Path | None = None
                ) -> dict:
    if not (PROJECT_ROOT / "ui" / "__main__.py").is_file():
        return {"generator": generator, "skipped": "ui/ does not exist yet"}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    log_path = (log_dir or data_dir) / f"ui-{generator}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
             "--generator", generator],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            ready = None
            while time.perf_counter() - t0 < timeout:
                if proc.poll() is not None:
                    break
                if _answers(url):
                    ready = time.perf_counter() - t0
                    break
                time.sleep(0.1)
            if ready is None:
                sampler.stop()
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                return {"generator": generator, "error": f"not ready after {time.perf_counter() - t0:.0f} s: {tail[0]}"}
            rss_ready = sampler.peak / 2**20
            latencies = _ask(url, questions)
            return {"generator": generator, "ready_s": ready, "peak_rss_ready_mb": rss_ready,
                    "peak_rss_serving_mb": sampler.stop(), "ui_answer_ms": latencies, "log": str(log_path)}
        finally:
            sampler.stop()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ask(url: str, n: int) -> list[float]:
    """End-to-end answer times through the page's own /ask endpoint (a real browser session's path)."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    out = []
    for q in (QUESTIONS * (1 + n // len(QUESTIONS)))[:n]:
        client.predict(api_name="/new_chat")
        t = time.perf_counter()
        client.predict(q, api_name="/ask")
        out.append((time.perf_counter() - t) * 1e3)
    return out
