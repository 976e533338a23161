"""Retrieval latency: the hybrid retriever against a raw query embedding + raw Chroma query + raw bm25s.

Each corpus is measured in its own subprocess (`python -m bench.retrieval --worker ...`), so the peak RSS
is that of one process serving that corpus and nothing else. In the worker:
1. open the index and warm the model the way the app does, then run warm-up queries;
2. record the RSS of that serving process (before any raw component is loaded);
3. load the raw parts: a bare SentenceTransformer, a bare Chroma collection on the same files, and a
   bare bm25s index + tokenizer from the same saved files;
4. per query, time ours and the raw parts back to back, alternating which goes first, so both see the
   same noise. Every query is distinct, so the retriever's query-embedding cache never hits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core.settings import PROJECT_ROOT


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples it stays an observed value)."""
    if not values:
        return float("nan")
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def summarize(ms: list[float]) -> dict:
    return {"p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "mean_ms": statistics.fmean(ms) if ms else float("nan"),
            "n": len(ms)}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: on Linux a child started by fork+exec inherits the
    parent's ru_maxrss, so a worker launched from a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RawParts:
    """The raw components on the same index files, with no code of ours in the query path."""

    def __init__(self, settings, n: int) -> None:
        import bm25s
        import chromadb
        import Stemmer
        from bm25s.tokenization import Tokenizer
        from chromadb.config import Settings as ChromaSettings

        from bench.indexing import raw_model

        self.n = n
        self.model = raw_model(settings)
        client = chromadb.PersistentClient(path=str(settings.index_dir / "chroma"),
                                           settings=ChromaSettings(anonymized_telemetry=False))
        self.collection = client.get_collection(settings.collection)
        bm25_dir = settings.index_dir / "bm25" / "bm25"
        self.bm25 = bm25s.BM25.load(str(bm25_dir), show_progress=False, verbosity=0)
        self.tokenizer = Tokenizer(stopwords="english", stemmer=Stemmer.Stemmer("english").stemWord)
        self.tokenizer.load_vocab(str(bm25_dir))
        self.k_bm25 = min(n, int(self.bm25.scores["num_docs"]))

    def query(self, q: str) -> dict:
        t0 = time.perf_counter()
        vec = self.model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        t1 = time.perf_counter()
        self.collection.query(query_embeddings=vec, n_results=self.n, include=["distances"])
        t2 = time.perf_counter()
        ids = self.tokenizer.tokenize([q], update_vocab=False, return_as="ids", show_progress=False)
        self.bm25.retrieve(ids, k=self.k_bm25, show_progress=False, n_threads=0)
        t3 = time.perf_counter()
        return {"embed": (t1 - t0) * 1e3, "chroma": (t2 - t1) * 1e3, "bm25": (t3 - t2) * 1e3,
                "total": (t3 - t0) * 1e3}


def build_retriever(indexer, s):
    """The retriever exactly as the assistant builds it from settings."""
    from rag.retrieve.hybrid import HybridRetriever

    return HybridRetriever(indexer.store, indexer.embedder, candidates=s.candidates, dense_weight=s.dense_weight,
                           bm25_weight=s.bm25_weight, rrf_k=s.rrf_k, dedup_jaccard=s.dedup_jaccard)


def worker(data_dir: Path, queries: list[str], warmup: int, profile: Path | None = None, repeat: int = 3) -> dict:
    t_start = time.perf_counter()
    from bench.indexing import bench_settings
    from index.pipeline import Indexer

    s = bench_settings(data_dir)
    indexer = Indexer.from_settings(s)
    t = time.perf_counter()
    indexer.embedder.warm_up()
    model_s = time.perf_counter() - t
    t = time.perf_counter()
    indexer.open()
    open_s = time.perf_counter() - t
    retriever = build_retriever(indexer, s)
    passages = indexer.store.count()
    k = s.k
    warm, measured = queries[:warmup], queries[warmup:]
    for q in warm:
        retriever.search(q, k)
    ready_s = time.perf_counter() - t_start
    rss_serving = rss_mb()
    peak_serving = peak_rss_mb()

    raw = RawParts(s, max(s.candidates, k))
    for q in warm:
        raw.query(q)
    ours_ms, raw_rows = _interleaved(retriever, raw, measured, k, profile)
    raw_total = [r["total"] for r in raw_rows]
    out = {
        "passages": passages,
        "k": k,
        "candidates": s.candidates,
        "ours": summarize(ours_ms),
        "raw": {**summarize(raw_total), **{f"{part}_p50_ms": pct([r[part] for r in raw_rows], 50)
                                           for part in ("embed", "chroma", "bm25")}},
        "open_s": open_s,
        "model_load_s": model_s,
        "ready_s": ready_s,
        "rss_serving_mb": rss_serving,
        "peak_rss_serving_mb": peak_serving,
        "peak_rss_with_raw_mb": peak_rss_mb(),
    }
    best_ours, best_raw = _best_of(indexer, s, raw, measured, k, ours_ms, raw_total, repeat)
    per_query = [o / r for o, r in zip(ours_ms, raw_total, strict=True) if r > 0]
    out["ratio_p50"] = out["ours"]["p50_ms"] / out["raw"]["p50_ms"]
    out["ratio_p95"] = out["ours"]["p95_ms"] / out["raw"]["p95_ms"]
    out["ratio_per_query_median"] = statistics.median(per_query) if per_query else float("nan")
    out["best_of"] = repeat
    out["ours_best"] = summarize(best_ours)
    out["raw_best"] = summarize(best_raw)
    out["ratio_best_p50"] = out["ours_best"]["p50_ms"] / out["raw_best"]["p50_ms"]
    out["ratio_best_p95"] = out["ours_best"]["p95_ms"] / out["raw_best"]["p95_ms"]
    return out


def _interleaved(retriever, raw, measured: list[str], k: int, profile: Path | None) -> tuple[list[float], list[dict]]:
    """Ours and the raw parts on the same queries, alternating which goes first (the cache favours neither)."""
    ours_ms: list[float] = []
    raw_rows: list[dict] = []
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    for i, q in enumerate(measured):
        def ours(q: str = q) -> float:
            if profiler:
                profiler.start()
            t0 = time.perf_counter()
            retriever.search(q, k)
            dt = (time.perf_counter() - t0) * 1e3
            if profiler:
                profiler.stop()
            return dt

        if i % 2 == 0:
            ours_ms.append(ours())
            raw_rows.append(raw.query(q))
        else:
            raw_rows.append(raw.query(q))
            ours_ms.append(ours())
    if profiler and profile:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return ours_ms, raw_rows


def _best_of(indexer, s, raw, measured: list[str], k: int, ours_ms: list[float], raw_total: list[float],
             repeat: int) -> tuple[list[float], list[float]]:
    """Noise filter: each query again `repeat` times (fresh retrievers, so the query cache stays cold), best
    time per query kept. On a shared machine this estimates what the code costs without the neighbours."""
    best_ours, best_raw = list(ours_ms), list(raw_total)
    for _ in range(max(0, repeat - 1)):
        fresh = build_retriever(indexer, s)
        for i, q in enumerate(measured):
            t0 = time.perf_counter()
            fresh.search(q, k)
            best_ours[i] = min(best_ours[i], (time.perf_counter() - t0) * 1e3)
            best_raw[i] = min(best_raw[i], raw.query(q)["total"])
    return best_ours, best_raw


def run_worker(data_dir: Path, queries: list[str], warmup: int, profile: Path | None = None,
               timeout: float = 1800) -> dict:
    """Run one corpus's measurement in a fresh process; returns its JSON (or {"error": ...})."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "bench.retrieval", "--worker", str(data_dir), "--warmup", str(warmup)]
    if profile:
        cmd += ["--profile", str(profile)]
    proc = subprocess.run(cmd, input=json.dumps(queries), cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": f"retrieval worker failed: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="retrieval benchmark worker (used by `python -m bench`)")
    ap.add_argument("--worker", type=Path, required=True, help="data dir of a built index")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args(argv)
    queries = json.loads(sys.stdin.read())
    print(json.dumps(worker(args.worker, queries, args.warmup, args.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
