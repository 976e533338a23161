"""Embedding backends side by side (`python -m bench --only embedding`): torch against ONNX fp32 and int8.

One process, one run, so the ratios against torch share the machine's noise (the absolute figures on a
shared machine do not: the load average is recorded with them). Per backend:
- indexing: `Indexer.add` of the smallest benchmark corpus from scratch (chunks/s, and the embed stage alone);
- query embedding: one distinct question per call, idle, and with 20 threads (the load test's users)
  calling the same embedder at once; backends take turns per query so they see the same noise;
- retrieval: the hybrid retriever at the article, the smallest corpus (the backend's own indexes) and the
  big corpora. Those are built once (vectors from the fastest ONNX variant) and opened by every backend:
  latency only, since the HNSW and BM25 work does not depend on which model made the passage vectors;
- quality: hit@1, hit@5 and MRR@5 of the hybrid retriever (and of dense search alone) on the bundled suites
  and on held-out SQuAD articles (never used for calibration), each backend over its own index.
The default is the fastest backend (query embedding p50) whose hybrid hit@1/hit@5/MRR stay within 1 point
of torch on every suite.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from bench.corpus import CorpusSpec, Sources, squad_articles
from bench.indexing import bench_settings, corpus_docs, ensure_corpus_index, timed_add
from bench.retrieval import build_retriever, pct
from core.settings import PROJECT_ROOT

BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
USERS = 20  # as tests/test_load.py
SUITES = ("article.yaml", "smoke.yaml")
SQUAD_ARTICLES, SQUAD_QUESTIONS = 6, 300


def _ms(xs: list[float]) -> dict:
    return {"p50_ms": pct(xs, 50), "p95_ms": pct(xs, 95), "n": len(xs)}


def make_embedders(cache: Path, backends: list[str], log) -> tuple[dict, dict]:
    from index.embedding_onnx import embedder_for

    s = bench_settings(cache)
    out, load = {}, {}
    for b in backends:
        e = embedder_for(b, s.embed_model, s.models_dir, s.embed_batch_size)
        t = time.perf_counter()
        e.warm_up(progress=lambda m: log(f"  {m}"))
        load[b] = time.perf_counter() - t
        out[b] = e
    return out, load


def indexing(embedders: dict, docs: Path, work: Path) -> tuple[dict, dict]:
    """Index `docs` from scratch with each backend; returns (figures, indexer per backend)."""
    from index.pipeline import Indexer

    figs, indexers = {}, {}
    for b, e in embedders.items():
        data = work / b
        shutil.rmtree(data, ignore_errors=True)
        indexer = Indexer.from_settings(bench_settings(data), embedder=e)
        total, stages, report = timed_add(indexer, [docs])
        figs[b] = {"chunks": report.chunks, "total_s": total, "embed_s": stages["embed_s"],
                   "chunks_per_s": report.chunks / total, "embed_chunks_per_s": report.chunks / stages["embed_s"]}
        indexers[b] = indexer
    return figs, indexers


def query_latency(embedders: dict, qs: list[str], warmup: int) -> dict:
    """Idle: one query at a time, backends taking turns. Load: USERS threads on one embedder at once."""
    names = list(embedders)
    idle: dict[str, list[float]] = {b: [] for b in names}
    for i, q in enumerate(qs):
        for b in names[i % len(names):] + names[:i % len(names)]:
            t = time.perf_counter()
            embedders[b].embed([q])
            if i >= warmup:
                idle[b].append((time.perf_counter() - t) * 1e3)
    out = {b: {"idle": _ms(idle[b])} for b in names}
    for b in names:
        out[b]["load"] = _under_load(embedders[b], qs[warmup:])
    return out


def _under_load(embedder, qs: list[str]) -> dict:
    lat: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(USERS)

    def user(u: int) -> None:
        start.wait()
        for q in qs[u::USERS] + qs[(u + 1) % USERS::USERS]:  # every user makes a few calls
            t = time.perf_counter()
            embedder.embed([q])
            dt = (time.perf_counter() - t) * 1e3
            with lock:
                lat.append(dt)

    threads = [threading.Thread(target=user, args=(u,)) for u in range(USERS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {**_ms(lat), "queries_per_s": len(lat) / (time.perf_counter() - t0), "users": USERS}


def retrieval_latency(retrievers: dict, qs: list[str], warmup: int, k: int) -> dict:
    names = list(retrievers)
    got: dict[str, list[float]] = {b: [] for b in names}
    for i, q in enumerate(qs):
        for b in names[i % len(names):] + names[:i % len(names)]:
            t = time.perf_counter()
            retrievers[b].search(q, k)
            if i >= warmup:
                got[b].append((time.perf_counter() - t) * 1e3)
    return {b: _ms(v) for b, v in got.items()}


def open_shared(data_dir: Path, embedders: dict) -> dict:
    """Every backend's retriever over one prebuilt corpus (latency only: see the module docstring)."""
    from index.pipeline import Indexer

    out = {}
    for b, e in embedders.items():
        s = bench_settings(data_dir)
        indexer = Indexer.from_settings(s, embedder=e)
        indexer.store.open(expect=None)
        out[b] = build_retriever(indexer, s)
    return out


def own_retrievers(indexers: dict) -> dict:
    out = {}
    for b, indexer in indexers.items():
        indexer.open()
        out[b] = build_retriever(indexer, bench_settings(indexer.store.index_dir.parent))
    return out


def article_indexers(embedders: dict, work: Path) -> dict:
    from index.pipeline import Indexer

    out = {}
    for b, e in embedders.items():
        data = work / b
        shutil.rmtree(data, ignore_errors=True)
        out[b] = Indexer.from_settings(bench_settings(data), embedder=e)
        out[b].build_bundled()
    return out


def suite_cases(name: str) -> list[tuple[str, list[str]]]:
    from rag.eval.suite import load_suite

    suite = load_suite(PROJECT_ROOT / "suites" / name)
    return [(c.question, list(c.evidence)) for c in suite.cases if c.answerable and c.evidence and not c.history]


def squad_heldout(folder: Path, n_articles: int = SQUAD_ARTICLES, n_questions: int = SQUAD_QUESTIONS,
                  seed: int = 0) -> list[tuple[str, list[str]]]:
    """SQuAD articles never used by calibration: docs written under `folder`, (question, [answer sentence])."""
    from index.sentences import split_sentences
    from training.calibration import INGESTED

    pool = sorted((a for a in squad_articles() if a["title"] not in INGESTED), key=lambda a: a["title"])
    if not pool:
        return []
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(n_articles, len(pool)))
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for a in chosen:
        body = "\n\n".join(" ".join(p["context"].split()) for p in a["paragraphs"])
        (folder / f"{a['title']}.txt").write_text(f"{a['title'].replace('_', ' ')}\n\n{body}\n", "utf-8")
        for p in a["paragraphs"]:
            ctx = p["context"]
            for qa in p["qas"]:
                start = qa["answers"][0]["answer_start"]
                sent = next((ctx[s:e] for s, e in split_sentences(ctx) if s <= start < e), None)
                if sent and len(sent) < 600:  # a longer sentence can be cut across chunks
                    cases.append((qa["question"].strip(), [" ".join(sent.split())]))
    rng.shuffle(cases)
    return cases[:n_questions]


def quality(retriever, store, embedder, cases: list[tuple[str, list[str]]], k: int = 5) -> dict:
    from rag.eval.matching import contains_any

    def first_hit(texts: list[str], evidence: list[str]) -> int:
        return next((i + 1 for i, t in enumerate(texts) if contains_any(t, evidence)), 0)

    ranks: dict[str, list[int]] = {"hybrid": [], "dense": []}
    for q, evidence in cases:
        ranks["hybrid"].append(first_hit([p.chunk.text for p in retriever.search(q, k).passages], evidence))
        dense = store.dense_search(embedder.embed([q])[0], k)
        ranks["dense"].append(first_hit([c.text for c, _ in dense], evidence))
    return {m: {"hit@1": float(np.mean([r == 1 for r in rs])), "hit@5": float(np.mean([0 < r <= k for r in rs])),
                "mrr": float(np.mean([1 / r if r else 0.0 for r in rs])), "n": len(rs)}
            for m, rs in ranks.items()}


def cosine_to_torch(embedders: dict, texts: list[str]) -> dict:
    if "torch" not in embedders:
        return {}
    ref = embedders["torch"].embed(texts)
    out = {}
    for b, e in embedders.items():
        cos = (e.embed(texts) * ref).sum(axis=1)
        out[b] = {"mean": float(cos.mean()), "min": float(cos.min())}
    return out


def isolated(cache: Path, arts: dict, qs: list[str], warmup: int, rounds: int = 2) -> dict:
    """Each backend alone in a fresh process (no other model's threads around): query embedding and
    article retrieval, one query at a time. Rounds alternate the backends; the best round's p50 is kept."""
    import json
    import subprocess
    import sys

    best: dict = {}
    for _ in range(rounds):
        for b, indexer in arts.items():
            cmd = [sys.executable, "-m", "bench.embedding", "--worker", b, "--data", str(indexer.store.index_dir.parent),
                   "--models", str(bench_settings(cache).models_dir), "--warmup", str(warmup)]
            proc = subprocess.run(cmd, input=json.dumps(qs), capture_output=True, text=True, cwd=PROJECT_ROOT,
                                  timeout=900)
            if proc.returncode != 0:
                best[b] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
                continue
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            if b not in best or "error" in best[b] or got["embed"]["p50_ms"] < best[b]["embed"]["p50_ms"]:
                best[b] = got
    return best


def worker(backend: str, data_dir: Path, models_dir: Path, qs: list[str], warmup: int) -> dict:
    from index.embedding_onnx import embedder_for
    from index.pipeline import Indexer

    s = bench_settings(data_dir)
    e = embedder_for(backend, s.embed_model, models_dir, s.embed_batch_size)
    e.warm_up()
    indexer = Indexer.from_settings(s, embedder=e)
    indexer.open()
    emb, ret = [], []
    for i, q in enumerate(qs):
        t = time.perf_counter()
        e.embed([q])
        if i >= warmup:
            emb.append((time.perf_counter() - t) * 1e3)
    retriever = build_retriever(indexer, s)  # a fresh query cache: every search embeds its query
    for i, q in enumerate(qs):
        t = time.perf_counter()
        retriever.search(q, 5)
        if i >= warmup:
            ret.append((time.perf_counter() - t) * 1e3)
    return {"embed": _ms(emb), "article_retrieval": _ms(ret)}


def choose_default(res: dict) -> dict:
    """Fastest query p50 among backends whose hybrid metrics stay within 1 point of torch on every suite."""
    q = res.get("quality", {})
    ok, why = [], {}
    for b in res["backends"]:
        worst = 0.0
        for suite in q.values():
            for m in ("hit@1", "hit@5", "mrr"):
                worst = max(worst, 100 * (suite["torch"]["hybrid"][m] - suite[b]["hybrid"][m]))
        why[b] = round(worst, 2)
        if worst <= 1.0 + 1e-9:
            ok.append(b)
    ok.sort(key=lambda b: res["query"][b]["idle"]["p50_ms"])
    return {"choice": ok[0] if ok else "torch", "eligible": ok, "worst_drop_points": why,
            "rule": "fastest query-embedding p50 among backends within 1 point of torch (hybrid hit@1, hit@5, "
                    "MRR) on every suite"}


def run(cache: Path, src: Sources, sizes: list[int], qs: list[str], warmup: int, log, backends=BACKENDS,
        fast_from: int = 0, smoke: bool = False) -> dict:
    import os

    res: dict = {"backends": list(backends), "load_before": os.getloadavg()}
    log(f"embedding backends {', '.join(backends)}: loading (ONNX graphs are exported once into {cache}/models)")
    embedders, res["load_s"] = make_embedders(cache, list(backends), log)
    work = cache / "embedding"
    res["cosine_to_torch"] = cosine_to_torch(embedders, [q for q in qs[:200]])
    spec = CorpusSpec(min(sizes), use_squad=bool(src.squad_paragraphs))
    docs, _ = corpus_docs(spec, cache, src)
    log(f"  indexing {spec.passages:,} passages with each backend")
    res["indexing"], own = indexing(embedders, docs, work / "index")
    log("  query embedding, idle and under load")
    res["query"] = query_latency(embedders, qs, warmup)
    log("  retrieval latency")
    arts = article_indexers(embedders, work / "article")
    res["retrieval"] = {"article": retrieval_latency(own_retrievers(arts), qs, warmup, 5),
                        f"{spec.passages:,}": retrieval_latency(own_retrievers(own), qs, warmup, 5)}
    for n in sorted(sizes)[1:]:
        fast = bool(fast_from) and n >= fast_from
        big = CorpusSpec(n, use_squad=spec.use_squad, vectors="sentence-mean" if fast else "model")
        builder = embedders.get("onnx-int8") or next(iter(embedders.values()))
        srcb = Sources.load(use_squad=spec.use_squad, squad_limit=400) if fast else src
        rec = ensure_corpus_index(big, cache, srcb, builder, None, log=log)
        rets = open_shared(Path(rec["data_dir"]), embedders)
        res["retrieval"][f"{n:,}"] = retrieval_latency(rets, qs, warmup, 5)
        built_by = next(iter(rets.values())).store.manifest.config.get("embed_variant") or "torch"
        res.setdefault("shared_corpora", {})[f"{n:,}"] = {"vectors": big.vectors, "built_by": built_by}
    log("  retrieval quality")
    res["quality"] = run_quality(embedders, arts, work, smoke)
    log("  each backend alone in its own process: query embedding and article retrieval")
    res["isolated"] = isolated(cache, arts, qs, warmup, rounds=1 if smoke else 2)
    res["default"] = choose_default(res)
    res["load_after"] = os.getloadavg()
    return res


def run_quality(embedders: dict, arts: dict, work: Path, smoke: bool = False) -> dict:
    from index.pipeline import Indexer

    out: dict = {}
    rets = own_retrievers(arts)
    n_articles, n_questions = (1, 20) if smoke else (SQUAD_ARTICLES, SQUAD_QUESTIONS)
    for name in SUITES[1:] if smoke else SUITES:
        cases = suite_cases(name)
        out[f"{name.removesuffix('.yaml')} ({len(cases)} q)"] = {
            b: quality(rets[b], arts[b].store, embedders[b], cases) for b in embedders}
    docs = work / "squad-docs"
    shutil.rmtree(docs, ignore_errors=True)
    cases = squad_heldout(docs, n_articles, n_questions)
    if cases:
        squad: dict = {}
        for b, e in embedders.items():
            data = work / "squad" / b
            shutil.rmtree(data, ignore_errors=True)
            indexer = Indexer.from_settings(bench_settings(data), embedder=e)
            indexer.add([docs])
            indexer.open()
            squad[b] = quality(build_retriever(indexer, bench_settings(data)), indexer.store, e, cases)
        out[f"SQuAD held-out ({n_articles} articles, {len(cases)} q)"] = squad
    return out


def markdown(res: dict) -> list[str]:
    bs = res["backends"]
    t = "torch" if "torch" in bs else bs[0]

    def r(b: str, x: float, ref: float, lower_better: bool = True) -> str:
        if not ref or b == t:
            return ""
        return f" ({ref / x if lower_better else x / ref:.1f}×)"

    la, lb = res["load_before"], res["load_after"]
    lines = ["", "## Embedding backends (one run; ratios vs torch in parentheses, higher is better)", "",
             f"Load average before {la[0]:.1f}/{la[1]:.1f}/{la[2]:.1f}, after {lb[0]:.1f}/{lb[1]:.1f}/{lb[2]:.1f} "
             "(1/5/15 min): absolute figures are noisy on a shared machine; the same-run ratios are the result.", "",
             "| backend | load s | indexing chunks/s | embed stage chunks/s | query embed p50 / p95 ms (one at a time) | "
             f"under {USERS} users p50 / p95 ms | q/s under load | cosine to torch mean / min |",
             "|---|---|---|---|---|---|---|---|"]
    ix, q, cos = res["indexing"], res["query"], res.get("cosine_to_torch", {})
    for b in bs:
        c = cos.get(b)
        lines.append(
            f"| {b} | {res['load_s'][b]:.1f} | {ix[b]['chunks_per_s']:.1f}{r(b, ix[b]['chunks_per_s'], ix[t]['chunks_per_s'], False)} | "
            f"{ix[b]['embed_chunks_per_s']:.1f}{r(b, ix[b]['embed_chunks_per_s'], ix[t]['embed_chunks_per_s'], False)} | "
            f"{q[b]['idle']['p50_ms']:.1f} / {q[b]['idle']['p95_ms']:.1f}{r(b, q[b]['idle']['p50_ms'], q[t]['idle']['p50_ms'])} | "
            f"{q[b]['load']['p50_ms']:.1f} / {q[b]['load']['p95_ms']:.1f}{r(b, q[b]['load']['p50_ms'], q[t]['load']['p50_ms'])} | "
            f"{q[b]['load']['queries_per_s']:.0f} | " + (f"{c['mean']:.4f} / {c['min']:.4f} |" if c else "– |"))
    iso = res.get("isolated") or {}
    if iso and all("error" not in iso.get(b, {"error": 1}) for b in bs):
        lines += ["", "Each backend alone in its own process (best of the alternating rounds), p50 / p95 ms:", "",
                  "| backend | query embedding | hybrid retrieval at the article |", "|---|---|---|"]
        for b in bs:
            e, a = iso[b]["embed"], iso[b]["article_retrieval"]
            lines.append(f"| {b} | {e['p50_ms']:.1f} / {e['p95_ms']:.1f}{r(b, e['p50_ms'], iso[t]['embed']['p50_ms'])} | "
                         f"{a['p50_ms']:.1f} / {a['p95_ms']:.1f}{r(b, a['p50_ms'], iso[t]['article_retrieval']['p50_ms'])} |")
    elif iso:
        lines += ["", f"Isolated runs failed: {iso}"]
    sizes = list(res["retrieval"])
    lines += ["", "Hybrid retrieval latency, p50 / p95 ms (k = 5):", "",
              "| backend | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for b in bs:
        cells = [f"{res['retrieval'][n][b]['p50_ms']:.1f} / {res['retrieval'][n][b]['p95_ms']:.1f}"
                 f"{r(b, res['retrieval'][n][b]['p50_ms'], res['retrieval'][n][t]['p50_ms'])}" for n in sizes]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines += ["", "Retrieval quality (hybrid as served; dense search alone in the last column), % :", "",
              "| suite | backend | hit@1 | hit@5 | MRR@5 | dense hit@1 / hit@5 / MRR |", "|---|---|---|---|---|---|"]
    for suite, per in res["quality"].items():
        for b in bs:
            h, d = per[b]["hybrid"], per[b]["dense"]
            lines.append(f"| {suite} | {b} | {100 * h['hit@1']:.1f} | {100 * h['hit@5']:.1f} | {100 * h['mrr']:.1f} | "
                         f"{100 * d['hit@1']:.1f} / {100 * d['hit@5']:.1f} / {100 * d['mrr']:.1f} |")
    d = res["default"]
    lines += ["", f"Default by measurement: **{d['choice']}** ({d['rule']}; worst drop in points: "
              + ", ".join(f"{b} {v:.1f}" for b, v in d["worst_drop_points"].items()) + ")."]
    if res.get("shared_corpora"):
        lines.append("Larger corpora are built once and opened by every backend (latency only): "
                     + ", ".join(f"{n} ({v['vectors']} vectors by {v['built_by']})" for n, v in res["shared_corpora"].items()) + ".")
    return lines




def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(description="embedding benchmark worker (used by `python -m bench`)")
    ap.add_argument("--worker", required=True, choices=BACKENDS)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args(argv)
    print(json.dumps(worker(args.worker, args.data, args.models, json.loads(sys.stdin.read()), args.warmup)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
