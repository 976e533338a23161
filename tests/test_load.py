"""Load (OWASP LLM10): 20 concurrent gradio_client users for a bounded 60 s against the real app.

The app runs as its own process (`python -m ui`, extractive generator, the bundled article plus the probe
documents) on a free loopback port. Every user is one gradio_client session that repeats: new chat, a
first question, a follow-up. Checked:

- no errors: every request returns an answer;
- no cross-talk: a first question in a fresh chat must get exactly the answer a lone user got for it,
  every answer names the question it answers, and each session's chat holds only that session's turns;
- a bounded queue: the queue size sampled during the run never exceeds the number of users (nor the
  configured maximum), and a second app with a tiny queue refuses the overflow with a clear message
  instead of queueing without bound.

Throughput and p95 latency are printed (run with -s), not asserted: benchmarks hold speed targets.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from core.settings import PROJECT_ROOT
from tests.chroma_server import free_port
from training.probes import PROBES_DIR

USERS = 20
DURATION = 60.0
FIRST = [
    "How many shipping containers has Russia received from North Korea?",
    "Who is Yun Sun?",
    "What did Japan voice about Putin's openness to military cooperation with Pyongyang?",
    "How long is Brennet Bridge?",
    "How high is Marrow Creek Dam?",
    "How many stalls does the Pell Harbour fish market have?",
    "When was the 1.2-metre telescope at Lake Orrin Observatory installed?",
    "What is the capital of France?",
    "How many stops does the Quillon tramway have?",
    "How many tonnes of cheese does the Tessaly cooperative produce each year?",
]
FOLLOW = ["What else did she say?", "When did that happen?", "Who built it?", "Why does it matter?"]


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


class App:
    def __init__(self, data: Path, log: Path, port: int | None = None, **flags: object) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "ui", "--data-dir", str(data), "--port", str(self.port),
               "--generator", "extractive"]
        for k, v in flags.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "HF_HUB_OFFLINE": "1", "RAG_UI_AUTH": ""})
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"python -m ui exited {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/gradio_api/info", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app was not ready after 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)


@pytest.fixture(scope="module")
def load_data(article_index: Path, tmp_path_factory) -> Path:
    from core.settings import load_settings
    from index.pipeline import Indexer

    data = tmp_path_factory.mktemp("load") / "data"
    shutil.copytree(article_index, data)
    report = Indexer.from_settings(load_settings({"data_dir": data}, env={})).add(
        sorted(p for p in PROBES_DIR.iterdir() if p.suffix != ".yaml"))
    assert not report.errors
    return data


@pytest.fixture(scope="module")
def app(load_data: Path, tmp_path_factory) -> Iterator[App]:
    a = App(load_data, tmp_path_factory.mktemp("load-log") / "ui.log", max_queue=64)
    yield a
    a.stop()


def _ask(c, question: str) -> tuple[list, dict | None]:
    chat, _box, answer = c.predict(question, api_name="/ask")
    return chat, answer


def _user_turns(chat: list) -> list[str]:
    return [str(m["content"]) for m in chat if m["role"] == "user"]


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


@pytest.mark.slow
def test_twenty_users_for_sixty_seconds(app: App) -> None:
    # what a lone user gets for each first question: the reference for cross-talk
    solo = _client(app.url)
    reference = {}
    for q in FIRST:
        solo.predict(api_name="/new_chat")
        _, answer = _ask(solo, q)
        assert answer is not None, q
        reference[q] = answer["text"]

    errors: list[str] = []
    latencies: list[float] = []
    queue_sizes: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    t_end = time.monotonic() + DURATION

    def sample_queue() -> None:
        while not stop.is_set():
            try:
                r = httpx.get(app.url + "/gradio_api/queue/status", timeout=5)
                with lock:
                    queue_sizes.append(int(r.json().get("queue_size", 0)))
            except (httpx.HTTPError, ValueError) as e:
                with lock:
                    errors.append(f"queue status: {e!r}")
            stop.wait(1.0)

    def user(i: int) -> int:
        c = _client(app.url)
        n = 0
        while time.monotonic() < t_end:
            first = FIRST[(i + n) % len(FIRST)]
            follow = FOLLOW[(i * 3 + n) % len(FOLLOW)]
            try:
                c.predict(api_name="/new_chat")
                t0 = time.monotonic()
                chat, answer = _ask(c, first)
                t1 = time.monotonic()
                chat2, answer2 = _ask(c, follow)
                t2 = time.monotonic()
            except Exception as e:  # any failure is an error of the run
                with lock:
                    errors.append(f"user {i}: {type(e).__name__}: {e}")
                return n
            problems = []
            if answer is None or answer2 is None:
                problems.append("no answer (an error was shown)")
            else:
                if answer["question"] != first or answer2["question"] != follow:
                    problems.append(f"answered {answer['question']!r}/{answer2['question']!r}")
                if answer["text"] != reference[first]:
                    problems.append(f"{first!r} got {answer['text'][:80]!r}, alone it got {reference[first][:80]!r}")
            turns = _user_turns(chat)
            if len(turns) != 1 or html.escape(first, quote=True) not in turns[0]:
                problems.append(f"fresh chat holds other turns: {turns}")
            turns2 = _user_turns(chat2)
            if len(turns2) != 2 or html.escape(follow, quote=True) not in turns2[1]:
                problems.append(f"follow-up chat holds {len(turns2)} user turns")
            with lock:
                if problems:
                    errors.extend(f"user {i} round {n}: {p}" for p in problems)
                latencies.extend([t1 - t0, t2 - t1])
            n += 1
        return n

    sampler = threading.Thread(target=sample_queue, daemon=True)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(USERS) as pool:
        rounds = list(pool.map(user, range(USERS)))
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join(10)

    answers = len(latencies)
    print(f"\nLOAD: {USERS} users, {elapsed:.0f} s, {answers} answers, {answers / elapsed:.2f} answers/s, "
          f"p50 {_p(latencies, 0.5):.2f} s, p95 {_p(latencies, 0.95):.2f} s, max {max(latencies):.2f} s, "
          f"errors {len(errors)}, max queue {max(queue_sizes, default=0)}, rounds/user {min(rounds)}-{max(rounds)}")
    assert errors == [], errors[:10]
    assert min(rounds) >= 1, "every user got at least one full round"
    assert queue_sizes and max(queue_sizes) <= USERS


@pytest.mark.slow
def test_queue_is_bounded_and_overflow_is_refused_clearly(load_data: Path, tmp_path: Path) -> None:
    """With room for 2 waiting requests and one answer at a time, a burst of 12 gets clear refusals."""
    small = App(load_data, tmp_path / "ui.log", max_queue=2, concurrency=1)
    try:
        def one(i: int) -> str:
            try:
                _, answer = _ask(_client(small.url), FIRST[i % len(FIRST)])
                return "answered" if answer is not None else "error shown"
            except Exception as e:
                return f"refused: {e}"

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(one, range(12)))
        refused = [o for o in outcomes if o.startswith("refused")]
        print("\nburst of 12 with max_queue=2:", sorted(o[:60] for o in outcomes))
        assert refused, "a full queue must refuse, not grow"
        assert all("queue" in o.lower() and "full" in o.lower() for o in refused), refused
        assert "answered" in outcomes
        # and the app is fine afterwards
        _, answer = _ask(_client(small.url), FIRST[0])
        assert answer is not None and "10,000" in answer["text"]
    finally:
        small.stop()
