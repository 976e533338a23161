"""Ask latency while others upload (issue 24, Done-when): `python -m bench.load_ingest`.

Starts the real server (`python -m ui`, extractive generator) on a free loopback port, then runs two
phases with 10 users, each a gradio_client session asking through the page's own `/ask`:
  idle: the 10 users ask, nobody uploads;
  load: the same 10 users ask while 2 more users each upload a 2 MiB text file (about 3,200 distinct
        chunks each) through `/add_documents`. The phase lasts until both uploads have answered or
        `--max-load-s` has passed, so the askers see the whole upload: reading, embedding and commit.
Every question is new (suite questions under a few phrasings, then again with a round number), so no
figure comes from the answer cache; each user pauses about `--think-s` between questions, as a reader does. Reported: p50/p95 of an ask per phase, the ratio load/idle (target: p95 < 3x), how the uploads
ended, and the machine's load average and CPU count beside each phase. A benchmark, not a test: the
numbers are recorded in docs/security.md ("Ingestion").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from core.settings import BUNDLED_CORPUS, PROJECT_ROOT

SUITES = ("article.yaml", "kessick-bridge.yaml", "article-hard.yaml", "near-miss.yaml")
PHRASINGS = ("{q}", "Quick question: {q}", "{q} Please keep it short.", "I was wondering, {q}")


def questions(seed: int = 7) -> list[str]:
    """Distinct questions over the bundled documents: suite questions under a few phrasings, shuffled."""
    base: list[str] = []
    for name in SUITES:
        data = yaml.safe_load((PROJECT_ROOT / "suites" / name).read_text("utf-8"))
        base += [c["question"] for c in data.get("cases", []) if isinstance(c.get("question"), str)]
    out = list(dict.fromkeys(p.format(q=q) for p in PHRASINGS for q in base))
    random.Random(seed).shuffle(out)
    return out


def upload_text(path: Path, size: int, seed: int) -> Path:
    """About `size` bytes of prose from the bundled documents' sentences, shuffled and numbered, so that
    its chunks are all distinct (repeated chunks are embedded once: that would make the load too light)."""
    sents = [s.strip() + "." for f in sorted(BUNDLED_CORPUS.glob("*.txt"))
             for s in f.read_text("utf-8").replace("\n", " ").split(". ") if len(s.strip()) > 30]
    rng, parts, total, n = random.Random(seed), [f"Load test upload {seed}\n"], 0, 0
    while total < size:
        n += 1
        para = f"Record {seed}-{n}. " + " ".join(rng.sample(sents, 5))
        parts.append(para)
        total += len(para) + 2
    path.write_text("\n\n".join(parts), "utf-8")
    return path


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/gradio_api/info", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


class Askers:
    """n users, each asking its share of the questions in turn until stopped or out of questions."""

    def __init__(self, url: str, qs: list[str], users: int, think_s: float) -> None:
        from gradio_client import Client

        self.clients = [Client(url, verbose=False, download_files=False) for _ in range(users)]
        self.base, self.qs, self.lock, self.think_s = list(qs), list(qs), threading.Lock(), think_s
        self.errors, self.round = 0, 1

    def _next(self) -> str:
        with self.lock:
            if not self.qs:  # every question asked once: again, made new by a visible round number
                self.round += 1
                self.qs = [f"{q} (round {self.round})" for q in self.base]
            return self.qs.pop()

    def run(self, stop: threading.Event, per_user: int | None) -> list[float]:
        times: list[float] = []

        def user(c) -> None:
            asked = 0
            while not stop.is_set() and (per_user is None or asked < per_user):
                stop.wait(random.uniform(0.5, 1.5) * self.think_s)  # a person reads the answer first
                q = self._next()
                t = time.perf_counter()
                try:
                    c.predict(q, api_name="/ask")
                    times.append(time.perf_counter() - t)
                except Exception:  # a failed ask is counted, not timed
                    self.errors += 1
                asked += 1

        threads = [threading.Thread(target=user, args=(c,), daemon=True) for c in self.clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return times


def _upload(url: str, path: Path, out: dict) -> None:
    from gradio_client import Client, handle_file

    t = time.perf_counter()
    try:
        status = Client(url, verbose=False, download_files=False).predict([handle_file(str(path))],
                                                                            api_name="/add_documents")[0]
        out[path.name] = {"seconds": round(time.perf_counter() - t, 1), "status": _plain(status)}
    except Exception as e:
        out[path.name] = {"seconds": round(time.perf_counter() - t, 1), "status": f"error: {e}"[:300]}


def _plain(html: str) -> str:
    import re

    return " | ".join(x.strip() for x in re.sub(r"<[^>]{0,200}>", "\n", html).splitlines() if x.strip())[:400]


def _stats(times: list[float]) -> dict:
    if not times:
        return {"asks": 0}
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"asks": len(times), "p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3)}


def run(args: argparse.Namespace) -> dict:
    work = Path(args.work or tempfile.mkdtemp(prefix="load-ingest-"))
    data = work / "data"
    if args.seed_models and not (data / "models").exists():  # a cached ONNX graph: no export at start
        shutil.copytree(args.seed_models, data / "models")
    from bench.startup import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               RAG_MAX_UPLOADS_PER_SESSION="100")
    if args.embed_timeout_s:
        env["RAG_INGEST_EMBED_TIMEOUT_S"] = str(args.embed_timeout_s)
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "ui", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                             str(data), "--generator", "extractive"], cwd=PROJECT_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, proc, args.start_timeout)
        return _phases(url, work, args, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class CpuSampler(threading.Thread):
    """CPU seconds of the server and of the embedding worker (index.worker), sampled every second, so a
    worker killed at its time budget still counts with what it had used."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.seen, self.halt = pid, {}, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.halt.wait(1.0):
            try:
                root = psutil.Process(self.pid)
                for p in [root, *root.children(recursive=True)]:
                    t = p.cpu_times()
                    role = "worker" if "index.worker" in " ".join(p.cmdline()) else "server"
                    self.seen[p.pid] = (role, t.user + t.system)
            except psutil.Error:
                continue

    def totals(self) -> dict[str, float]:
        out = {"server": 0.0, "worker": 0.0}
        for role, used in list(self.seen.values()):
            out[role] += used
        return out


def _phase(times: list[float], cpu: CpuSampler, cpu0: dict, t0: float) -> dict:
    time.sleep(1.5)  # one more sample
    now, wall = cpu.totals(), time.monotonic() - t0
    used = {k: round((now[k] - cpu0.get(k, 0.0)) / wall, 2) for k in now}  # cores used on average
    return {**_stats(times), "seconds": round(wall), "cores_used": used, "machine": _load()}


def _idle(askers: Askers, args: argparse.Namespace, cpu: CpuSampler) -> dict:
    cpu0, t0 = cpu.totals(), time.monotonic()
    return _phase(askers.run(threading.Event(), args.per_user), cpu, cpu0, t0)


def _phases(url: str, work: Path, args: argparse.Namespace, pid: int) -> dict:
    cpu = CpuSampler(pid)
    cpu.start()
    qs = questions()
    askers = Askers(url, qs, args.users, args.think_s)
    askers.run(threading.Event(), 1)  # warm: every session and the models touched once (not counted)
    result: dict = {"machine_before": _load(), "users": args.users, "think_s": args.think_s,
                    "uploaders": args.uploaders, "upload_bytes": args.upload_bytes}
    result["idle"] = _idle(askers, args, cpu)
    cpu0, t0 = cpu.totals(), time.monotonic()
    files = [upload_text(work / f"upload-{i}.txt", args.upload_bytes, i) for i in range(args.uploaders)]
    uploads: dict = {}
    ups = [threading.Thread(target=_upload, args=(url, f, uploads), daemon=True) for f in files]
    stop = threading.Event()
    for t in ups:
        t.start()
    watcher = threading.Thread(target=lambda: ([t.join(args.max_load_s) for t in ups], stop.set()), daemon=True)
    watcher.start()
    loaded = askers.run(stop, None)
    stop.set()
    result["load"] = {**_phase(loaded, cpu, cpu0, t0),
                      "uploads": dict(uploads) or "still running at the phase's end"}
    # the machine is shared: asking alone again after the load shows how much of a change was the machine's
    result["idle_after"] = _idle(askers, args, cpu)
    result["ask_errors"] = askers.errors
    for base in ("idle", "idle_after"):
        if loaded and result[base].get("asks"):
            result[f"p95_ratio_vs_{base}"] = round(result["load"]["p95_s"] / result[base]["p95_s"], 2)
            result[f"p50_ratio_vs_{base}"] = round(result["load"]["p50_s"] / result[base]["p50_s"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load_ingest", description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--uploaders", type=int, default=2)
    p.add_argument("--upload-bytes", type=int, default=2 * 2**20)
    p.add_argument("--per-user", type=int, default=6, help="questions per user in the idle phase")
    p.add_argument("--max-load-s", type=float, default=900, help="the load phase ends here even if uploads run on")
    p.add_argument("--think-s", type=float, default=2.0, help="mean pause between one user's questions")
    p.add_argument("--start-timeout", type=float, default=900)
    p.add_argument("--embed-timeout-s", type=float, help="the server's budget per upload (default: its setting)")
    p.add_argument("--work", help="folder for the data dir, uploads and server log (default: a temp folder)")
    p.add_argument("--seed-models", help="a models/ folder to copy into the fresh data dir (skips the ONNX export)")
    args = p.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
