"""`python -m bench`: indexing, retrieval, answering and start-up benchmarks against their raw parts.

    python -m bench [--smoke] [--sizes 1000,10000,100000] [--out bench/results] [--generators extractive,local]

Writes OUT/latest.json, OUT/latest.md and OUT/latest.png (latency and memory against corpus size).
Built corpora are cached under OUT/cache (or --cache), keyed by their spec, so reruns do not re-embed
100,000 passages. --smoke runs everything at tiny sizes: it checks the benchmarks still work, it does
not measure anything worth reading.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from core.settings import PROJECT_ROOT


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, few queries: checks the benchmarks run")
    p.add_argument("--sizes", help="corpus sizes in passages (default 1000,10000,100000; smoke 60,150)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results", help="results folder")
    p.add_argument("--cache", type=Path, help="where built corpora are kept (default OUT/cache)")
    p.add_argument("--generators", help="answering/start-up generators (default extractive,local; smoke extractive)")
    p.add_argument("--only", default="indexing,retrieval,answering,startup,embedding",
                   help="comma-separated sections to run")
    p.add_argument("--queries", type=int, help="measured retrieval queries per corpus (default 100; smoke 8)")
    p.add_argument("--rounds", type=int, help="indexing rounds, best kept (default 2; smoke 1)")
    p.add_argument("--answer-limit", type=int, help="first N suite cases per generator (default: all; smoke 4)")
    p.add_argument("--llm-limit", type=int, default=12,
                   help="first N suite cases for LLM generators (default 12: a CPU answer takes seconds; 0: all)")
    p.add_argument("--backends", default="torch,onnx-fp32,onnx-int8",
                   help="embedding backends compared side by side in the `embedding` section")
    p.add_argument("--suite", type=Path, default=PROJECT_ROOT / "suites" / "article.yaml")
    p.add_argument("--no-squad", action="store_true", help="build corpora from the bundled article only")
    p.add_argument("--profile", action="store_true", help="write pyinstrument profiles of the query path to OUT/profiles")
    p.add_argument("--merge", action="store_true",
                   help="update OUT/latest.json with the sections run now, keeping the others")
    p.add_argument("--fast-vectors-from", type=int, default=0, metavar="N",
                   help="corpora of N+ passages get sentence-mean vectors instead of per-passage encoding "
                        "(for a machine too busy to embed 100k passages; reported as such). 0: never")
    return p


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _load() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    smoke = args.smoke
    sizes = [int(x) for x in (args.sizes or ("60,150" if smoke else "1000,10000,100000")).split(",") if x.strip()]
    generators = [g for g in (args.generators or ("extractive" if smoke else "extractive,local")).split(",") if g]
    sections = set(args.only.split(","))
    n_queries = args.queries or (8 if smoke else 100)
    warmup = 2 if smoke else 5
    rounds = args.rounds or (1 if smoke else 2)
    answer_limit = args.answer_limit if args.answer_limit is not None else (4 if smoke else 0)
    out: Path = args.out
    cache: Path = args.cache or out / "cache"
    profiles = out / "profiles" if args.profile else None

    from bench import report
    from bench.corpus import CorpusSpec, Sources, queries
    from bench.indexing import (
        bench_settings,
        corpus_docs,
        ensure_article_index,
        ensure_corpus_index,
        raw_model,
        run_indexing,
    )

    results: dict = {"meta": {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_before": _load(), "smoke": smoke, "sizes": sizes, "generators": generators},
                     "notes": []}
    src = Sources.load(use_squad=not args.no_squad)
    results["meta"]["sources"] = {"squad_paragraphs": len(src.squad_paragraphs),
                                  "article_paragraphs": len(src.article_paragraphs),
                                  "sentence_pool": len(src.sentences)}
    if not src.squad_paragraphs:
        results["notes"].append("../shared/data is absent: corpora are recombined sentences of the article only.")

    needs_models = bool(sections & {"indexing", "retrieval", "answering", "startup"})
    embedder = model = None
    if needs_models:
        from index.embedding import SentenceTransformerEmbedder

        s = bench_settings(cache)
        log("loading the embedding model (pipeline) and a bare SentenceTransformer (raw)")
        embedder = SentenceTransformerEmbedder(s.embed_model, batch_size=s.embed_batch_size)
        embedder.warm_up()
        model = raw_model(s)

    prebuilt = None
    if "indexing" in sections:
        spec = CorpusSpec(min(sizes), use_squad=not args.no_squad)
        docs, _desc = corpus_docs(spec, cache, src)
        log(f"indexing {spec.passages} passages from scratch, {rounds} round(s) against raw encode")
        idx = run_indexing(docs, out / "work" / "indexing", embedder, model, rounds=rounds, cli=not smoke)
        prebuilt = idx.pop("prebuilt")
        results["indexing"] = idx
        log(f"indexing: {idx['pipeline']['chunks_per_s']:.1f} chunks/s vs raw encode "
            f"{idx['raw']['encode_chunks_per_s']:.1f} -> ratio {idx['ratio_vs_raw_encode']:.2f}; "
            f"re-index unchanged {idx['reindex']['api_s']:.3f} s")

    corpora: dict[str, dict] = {}
    if sections & {"retrieval", "answering", "startup"}:
        corpora["article"] = ensure_article_index(cache, embedder, log=log)
    if "retrieval" in sections:
        small_src = None
        for n in sizes:
            fast = bool(args.fast_vectors_from) and n >= args.fast_vectors_from
            spec = CorpusSpec(n, use_squad=not args.no_squad, vectors="sentence-mean" if fast else "model")
            if fast:
                # a smaller real sentence pool keeps the sentences to embed to a few thousand
                small_src = small_src or Sources.load(use_squad=not args.no_squad, squad_limit=400)
            reuse = prebuilt if n == min(sizes) and not fast else None
            corpora[f"{n:,}"] = ensure_corpus_index(spec, cache, small_src if fast else src, embedder, model,
                                                    log=log, prebuilt=reuse)
            if fast:
                results["notes"].append(
                    f"The {n:,}-passage corpus has sentence-mean vectors (each passage's vector is the normalised "
                    "mean of the model's embeddings of its sentences; see bench/indexing.py): this machine was too "
                    "busy to encode every passage in the time available. Queries are embedded by the model, BM25 "
                    "runs on the real text; its build time is not a pipeline figure.")
    results["corpora"] = corpora
    embedder = model = None  # the workers load their own; free the main process's copy

    if "retrieval" in sections:
        from bench.retrieval import run_worker

        qs = queries(n_queries + warmup, use_squad=not args.no_squad)
        results["retrieval"] = {}
        for name, rec in corpora.items():
            log(f"retrieval on {name} ({rec['passages']:,} passages), {len(qs) - warmup} queries")
            prof = profiles / f"retrieval-{name.replace(',', '')}.txt" if profiles else None
            r = run_worker(Path(rec["data_dir"]), qs, warmup, prof)
            results["retrieval"][name] = r
            if "error" not in r:
                log(f"  ours p50/p95 {r['ours']['p50_ms']:.1f}/{r['ours']['p95_ms']:.1f} ms vs raw "
                    f"{r['raw']['p50_ms']:.1f}/{r['raw']['p95_ms']:.1f} -> ratio {r['ratio_p50']:.2f}/{r['ratio_p95']:.2f}")
            else:
                log(f"  {r['error']}")

    article_dir = Path(corpora["article"]["data_dir"]) if "article" in corpora else None
    if "answering" in sections and article_dir is not None:
        from bench.answering import run_worker as run_answering

        results["answering"] = {}
        for g in generators:
            skip = _unavailable(g, article_dir)
            if skip:
                results["answering"][g] = {"generator": g, "skipped": skip}
                log(f"answering with {g}: skipped ({skip})")
                continue
            log(f"answering with {g} on {args.suite.name}")
            limit = answer_limit
            if g != "extractive" and args.llm_limit and not smoke:
                limit = min(limit, args.llm_limit) if limit else args.llm_limit
            a = run_answering(g, article_dir, args.suite, limit)
            results["answering"][g] = a
            if "error" not in a:
                log(f"  total p50 {a['ours_total']['p50_ms']:.0f} ms, raw {a['raw_total']['p50_ms']:.0f} ms, "
                    f"overhead p50 {a.get('overhead_pct_p50', float('nan')):+.1f}%")
            else:
                log(f"  {a['error']}")

    if "startup" in sections and article_dir is not None:
        from bench.startup import run_startup

        results["startup"] = {}
        for g in generators:
            skip = _unavailable(g, article_dir)
            if skip:
                results["startup"][g] = {"generator": g, "skipped": skip}
                continue
            log(f"start-up of `python -m ui` with {g}")
            u = run_startup(g, article_dir, questions=1 if smoke else 3, log_dir=out / "work")
            results["startup"][g] = u
            if "ready_s" in u:
                log(f"  ready in {u['ready_s']:.1f} s, peak RSS serving {u['peak_rss_serving_mb']:.0f} MB")
            else:
                log(f"  {u.get('error') or u.get('skipped')}")

    if "embedding" in sections:
        from bench import embedding

        results["embedding"] = embedding.run(cache, src, sizes, queries(n_queries + warmup, use_squad=not args.no_squad),
                                             warmup, log, args.backends.split(","), args.fast_vectors_from, smoke)
        log(f"embedding: default by measurement {results['embedding']['default']['choice']}")

    results["meta"]["load_after"] = _load()
    previous = out / "latest.json"
    if args.merge and previous.is_file():
        import json

        old = json.loads(previous.read_text())
        ran = {k for k in ("indexing", "retrieval", "answering", "startup", "embedding") if k in results}
        for key in ("indexing", "retrieval", "answering", "startup", "embedding"):
            if key not in ran and key in old:
                results[key] = old[key]
        for name, rec in (old.get("corpora") or {}).items():
            results["corpora"].setdefault(name, rec)
        results["notes"] = list(dict.fromkeys(old.get("notes", []) + results["notes"]))
        results["meta"]["merged"] = f"{', '.join(sorted(ran))} re-run {results['meta']['date']}; rest from {old['meta']['date']}"
        results["meta"]["date"] = old["meta"]["date"]
    results["targets"] = report.targets(results)
    paths = report.write_all(results, out)
    print(report.markdown(results, ""))
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _unavailable(generator: str, data_dir: Path) -> str:
    """Why a generator cannot run here ('' when it can)."""
    from bench.indexing import bench_settings
    from rag.generate.registry import local_available

    if generator == "local" and not local_available(bench_settings(data_dir)):
        return "local model not installed (`make install`)"
    if generator == "openai" and not os.environ.get("RAG_LLM_URL"):
        return "no RAG_LLM_URL set"
    return ""


if __name__ == "__main__":
    sys.exit(main())
