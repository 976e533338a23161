"""Ingestion with the product's default embedder (ONNX) against raw ONNX encode of the same texts (issue 28).

`python -m bench --only indexing` holds the pipeline to raw sentence-transformers (torch). This holds what a
user runs (`python -m index add`, default settings) to the embedding model's own pace on the same machine:
- pipeline: `Indexer.add` of the 1,000-chunk benchmark corpus into a fresh data dir, split into stages
  (chunks searchable after the commit; then the sentence and clause vectors questions read);
- raw: the same ONNX session's `embed_bulk` on the same chunk texts, and on the same sentence views.
Rounds alternate pipeline and raw so both see the same noise; the best of each is kept (noise only adds).

    python -m bench.ingest_default [--passages 1000] [--rounds 2] [--out bench/results/ingest-default.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.indexing import chunk_texts, timed_add, view_texts
from bench.ingest_shapes import product_settings
from core.settings import PROJECT_ROOT


def raw_bulk(embedder, texts: list[str]) -> float:
    t = time.perf_counter()
    embedder.embed_bulk(texts)
    return time.perf_counter() - t


def one_round(docs: Path, data: Path, embedder) -> tuple[dict, dict]:
    from index.pipeline import Indexer

    shutil.rmtree(data, ignore_errors=True)
    indexer = Indexer.from_settings(product_settings(data), embedder=embedder)
    load = os.getloadavg()[0]
    total, stages, report = timed_add(indexer, [docs])
    if report.errors:
        raise RuntimeError(f"indexing the benchmark corpus failed: {report.errors[0]}")
    texts = chunk_texts(indexer)
    views = view_texts(texts)
    pipe = {"total_s": total, **stages, "chunks": report.chunks, "views": len(views), "load": load}
    raw = {"chunks_s": raw_bulk(embedder, texts), "views_s": raw_bulk(embedder, views), "load": os.getloadavg()[0]}
    return pipe, raw


def run(passages: int, rounds: int, cache: Path) -> dict:
    from bench.corpus import CorpusSpec, Sources
    from bench.indexing import corpus_docs
    from index.embedding_onnx import embedder_from_settings

    work = Path(tempfile.mkdtemp(prefix="ingest-default-"))
    embedder = embedder_from_settings(product_settings(work / "warm"))
    embedder.embed_bulk(["warm up"])  # loading the model is start-up, not ingestion
    docs, _ = corpus_docs(CorpusSpec(passages), cache, Sources.load())
    best_pipe: dict | None = None
    best_raw: dict | None = None
    for r in range(rounds):
        pipe, raw = one_round(docs, work / f"round-{r}", embedder)
        print(f"round {r}: add {pipe['total_s']:.1f} s (searchable {pipe['searchable_s']:.1f} s, embed "
              f"{pipe['embed_s']:.1f} s, sentences {pipe['sentences_s']:.1f} s) | raw chunks {raw['chunks_s']:.1f} s, "
              f"views {raw['views_s']:.1f} s | load {pipe['load']:.1f}", flush=True)
        best_pipe = pipe if best_pipe is None or pipe["total_s"] < best_pipe["total_s"] else best_pipe
        best_raw = raw if best_raw is None or raw["chunks_s"] + raw["views_s"] < best_raw["chunks_s"] + best_raw["views_s"] else best_raw
    shutil.rmtree(work, ignore_errors=True)
    assert best_pipe is not None and best_raw is not None
    return {"backend": embedder.variant, "passages": passages, "rounds": rounds, "pipeline": best_pipe, "raw": best_raw,
            "ratio_embed_stage_vs_raw_chunks": best_raw["chunks_s"] / best_pipe["embed_s"],
            "ratio_searchable_vs_raw_chunks": best_raw["chunks_s"] / best_pipe["searchable_s"],
            "ratio_add_vs_raw_all": (best_raw["chunks_s"] + best_raw["views_s"]) / best_pipe["total_s"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_default", description=__doc__.split("\n")[0])
    p.add_argument("--passages", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--cache", type=Path, default=PROJECT_ROOT / "bench" / "results" / "cache")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "ingest-default.json")
    args = p.parse_args(argv)
    res = run(args.passages, args.rounds, args.cache)
    print(f"{res['backend']}: searchable/raw chunk encode {res['ratio_searchable_vs_raw_chunks']:.2f}, embed stage/raw "
          f"{res['ratio_embed_stage_vs_raw_chunks']:.2f}, whole add/raw chunks+views {res['ratio_add_vs_raw_all']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
