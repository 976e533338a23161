"""Ingestion of hostile input shapes next to prose of the same size (issue 28: linear in the input).

Each shape is 80 KB written to a file and indexed into a fresh data dir, twice:
- in process, `Indexer.add` with the embedding model already loaded (what a running server pays);
- `python -m index add` as a new process (what a user at the command line waits for, start-up included).
Beside each: the chunks made, the distinct texts embedded, CPU seconds, and the machine's load.

    python -m bench.ingest_shapes [--size 80000] [--out bench/results/ingest-shapes.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.indexing import child_env, view_texts
from core.settings import PROJECT_ROOT, Settings, load_settings


def prose(size: int) -> str:
    """Real text of `size` characters: SQuAD dev paragraphs, one per line-separated paragraph."""
    from bench.corpus import squad_articles

    paras = (" ".join(p["context"].split()) for a in squad_articles() for p in a["paragraphs"])
    out, n = [], 0
    for para in paras:
        out.append(para)
        n += len(para) + 2
        if n >= size:
            break
    return "\n\n".join(out)[:size]


def shapes(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    head = prose(2_000)
    return {"prose (SQuAD paragraphs)": prose(size), "one char '.'": fill("."), "one char 'a'": fill("a"),
            "one phrase 'buy now '": fill("buy now "), "'?' run after prose": head + fill("?")[len(head):]}


def product_settings(data_dir: Path) -> Settings:
    # the product's defaults (ONNX embedder), without a developer's RAG_* variables
    return load_settings({"data_dir": data_dir}, env={})


def in_process(path: Path, data: Path, embedder) -> dict:
    # a new data dir each time: Chroma keeps a client per path in the process, so one deleted and reused
    # would be read-only
    from index.pipeline import Indexer

    indexer = Indexer.from_settings(product_settings(data), embedder=embedder)
    t, cpu = time.perf_counter(), time.process_time()
    report = indexer.add([path])
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    texts = [c.text for d in indexer.documents() for c in indexer.store.chunks_of(d.doc_id)]
    return {"wall_s": wall, "cpu_s": cpu, "chunks": report.chunks, "errors": [str(e) for e in report.errors],
            "distinct_chunks": len(set(texts)), "distinct_views": len(view_texts(texts))}


def cli(path: Path, data: Path) -> dict:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "index", "--data-dir", str(data), "add", str(path)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, env=child_env())
    before = os.times()
    return {"wall_s": time.perf_counter() - t, "rc": done.returncode,
            "child_cpu_s": before.children_user + before.children_system}


def run(size: int) -> dict:
    from index.embedding_onnx import embedder_from_settings

    work = Path(tempfile.mkdtemp(prefix="ingest-shapes-"))
    embedder = embedder_from_settings(product_settings(work / "warm"))
    embedder.embed(["warm up"])  # the model's load is a server's start-up, not an upload's cost
    out: dict = {"size_bytes": size, "shapes": {}}
    for i, (name, text) in enumerate(shapes(size).items()):
        path = work / f"shape-{i}.txt"
        path.write_text(text, "utf-8")
        cpu0 = os.times()
        row = {"load_before": os.getloadavg()[0], "api": in_process(path, work / f"api-{i}", embedder),
               "cli": cli(path, work / f"cli-{i}")}
        row["cli"]["child_cpu_s"] -= cpu0.children_user + cpu0.children_system
        out["shapes"][name] = row
        print(f"{name:24} api {row['api']['wall_s']:5.2f} s wall / {row['api']['cpu_s']:5.2f} s CPU, "
              f"{row['api']['chunks']:4} chunks ({row['api']['distinct_chunks']} distinct, "
              f"{row['api']['distinct_views']} views) | CLI {row['cli']['wall_s']:5.2f} s wall / "
              f"{row['cli']['child_cpu_s']:5.2f} s CPU | load {row['load_before']:.1f}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_shapes", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=80_000, help="bytes per shape (default 80,000)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "ingest-shapes.json")
    args = p.parse_args(argv)
    res = run(args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
