"""The real server as a client sees it (issue 28): ready time, the first `/v1` question, new questions, idle CPU.

Starts `python -m ui` (extractive generator, default settings otherwise) on the bench's new-questions data dir,
then, from this process over HTTP:
- ready: seconds from the process start to the page answering (what `make run` users wait for);
- the first question after ready, through `/v1/chat/completions` (the server has never seen a question);
- every article paraphrase of bench.new_questions once (new to this server): p50 / p95 per answer;
- idle: the server's CPU (process and children, psutil) over 30 s with nobody asking, as % of one core.
The load average is printed beside each figure.

    python -m bench.served [--data-dir D] [--idle-s 30] [--questions 29] [--out bench/results/served.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.new_questions import PARAPHRASES, ensure_index, load
from bench.retrieval import summarize
from bench.startup import free_port
from core.settings import PROJECT_ROOT

READY_LIMIT_S = 600


def start(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str, float]:
    """The server process, its URL, and the seconds until its page answered."""
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    port = free_port()
    t = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ui", "--data-dir", str(data_dir), "--port", str(port),
                                 "--generator", "extractive"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t < READY_LIMIT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"python -m ui exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/gradio_api/info", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - t
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"python -m ui was not ready after {READY_LIMIT_S} s: {log.read_text()[-2000:]}")


def ask(client, url: str, question: str) -> float:
    t = time.perf_counter()
    r = client.post(url + "/v1/chat/completions",
                    json={"model": "cited-answers", "messages": [{"role": "user", "content": question}]})
    r.raise_for_status()
    return (time.perf_counter() - t) * 1e3


def idle_cpu(pid: int, seconds: float) -> float:
    """% of one core the server and its children used over `seconds` with nobody asking."""
    import psutil

    proc = psutil.Process(pid)

    def used() -> float:
        procs = [proc, *proc.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())

    a = used()
    time.sleep(seconds)
    return 100.0 * (used() - a) / seconds


def run(data_dir: Path, idle_s: float, questions: int = len(PARAPHRASES) - 1) -> dict:
    import httpx

    ensure_index(data_dir, [])
    log = data_dir.parent / "served-server.log"
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": load()}
    proc, url, ready = start(data_dir, log)
    try:
        with httpx.Client(timeout=120) as client:
            res["ready_s"] = ready
            res["first_after_ready_ms"], res["load_first"] = ask(client, url, PARAPHRASES[0]), load()
            times = [ask(client, url, q) for q in PARAPHRASES[1:1 + questions]]
            res["new_questions"] = {**summarize(times), "load_after": load()}
        time.sleep(6)  # past the queue's 5 s busy window (ui/idle.py)
        res["idle"] = {"cpu_pct_of_core": idle_cpu(proc.pid, idle_s), "seconds": idle_s, "load": load()}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return res


def markdown(res: dict) -> str:
    n = res["new_questions"]
    return "\n".join([
        f"# The served app ({res['date']}, load {res['load_before']} before)", "",
        f"ready (process start to page): {res['ready_s']:.1f} s",
        f"first /v1 question after ready: {res['first_after_ready_ms']:.0f} ms (load {res['load_first']})",
        f"{n['n']} new questions through /v1: p50 {n['p50_ms']:.0f} ms, p95 {n['p95_ms']:.0f} ms (load {n['load_after']})",
        f"idle server: {res['idle']['cpu_pct_of_core']:.2f}% of a core over {res['idle']['seconds']:g} s "
        f"(load {res['idle']['load']})", ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.served", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "bench" / "results" / "cache" / "served")
    p.add_argument("--idle-s", type=float, default=30.0)
    p.add_argument("--questions", type=int, default=len(PARAPHRASES) - 1, help="new questions after the first")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "served.json")
    args = p.parse_args(argv)
    res = run(args.data_dir, args.idle_s, args.questions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1), "utf-8")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
