"""`python -m rag eval`: run suites, write reports, enforce --fail-under; or --compare two runs.

Exit codes: 0 done (and every threshold met), 1 a --fail-under threshold missed, 2 a usage, suite,
settings or index problem (message on stderr says how to fix it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import RagError, at_the_edge
from rag.eval.metrics import METRICS

USAGE_EXAMPLES = """examples:
  python -m rag eval suites/article.yaml --out reports/article --generator extractive
  python -m rag eval suites/article.yaml --out reports/ci --fail-under answer_correctness=0.6 citation_recall=0.8
  python -m rag eval --compare reports/before reports/after
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag eval",
        description="Evaluate the assistant on question suites (retrieval, answers, citations, abstention, latency).",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suite files (.yaml/.yml/.jsonl)")
    p.add_argument("--out", metavar="DIR", help="output directory for results.jsonl, summary.json, report.md/.html")
    p.add_argument("--generator", metavar="NAME", help="extractive | local | openai | auto (default: settings)")
    p.add_argument("--k", type=int, metavar="N", help="passages retrieved per question (default: settings)")
    p.add_argument("--data-dir", metavar="D", help="data directory holding the index (default: RAG_DATA_DIR)")
    p.add_argument("--chroma-url", metavar="URL", help="use a Chroma server instead of the embedded store")
    p.add_argument("--collection", action="append", metavar="NAME",
                   help="ask only these document collections (NAME, NAME1,NAME2 or repeated; default: RAG_COLLECTION "
                        "or 'default')")
    p.add_argument(
        "--fail-under",
        nargs="+",
        action="extend",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when an overall metric (or TAG:METRIC) is below VALUE; e.g. answer_correctness=0.6",
    )
    p.add_argument("--compare", nargs=2, metavar=("DIR_A", "DIR_B"), help="compare two finished runs and exit")
    p.add_argument("--judge", action="store_true", help="add ragas faithfulness/answer relevancy (needs RAG_LLM_URL)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_thresholds(specs: list[str]) -> list[tuple[str | None, str, float]]:
    """'metric=0.7' or 'tag:metric=0.7' -> (tag, metric, value). Only higher-is-better metrics qualify."""
    out = []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        tag, _, metric = name.rpartition(":") if ":" in name else (None, "", name)
        metric = metric.strip()
        if not sep and Path(spec).suffix.lower() in (".yaml", ".yml", ".jsonl"):
            raise RagError(f"--fail-under {spec!r}: that looks like a suite; put the SUITE paths before --fail-under")
        if not sep or metric not in METRICS:
            known = ", ".join(m for m, (hi, _) in METRICS.items() if hi)
            raise RagError(f"--fail-under {spec!r}: expected METRIC=VALUE with METRIC one of: {known}")
        if not METRICS[metric][0]:
            raise RagError(f"--fail-under {spec!r}: {metric} is lower-is-better, so a floor on it means nothing")
        try:
            value = float(raw)
        except ValueError as e:
            raise RagError(f"--fail-under {spec!r}: {raw!r} is not a number (use e.g. {metric}=0.7)") from e
        out.append((tag or None, metric, value))
    return out


def check_thresholds(summary: dict[str, Any], thresholds: list[tuple[str | None, str, float]]) -> list[str]:
    """Messages for each missed threshold (empty when all are met)."""
    missed = []
    for tag, metric, floor in thresholds:
        group = summary["overall"] if tag is None else summary.get("by_tag", {}).get(tag)
        label = metric if tag is None else f"{tag}:{metric}"
        if group is None:
            missed.append(f"{label}: no case has tag {tag!r} in this run (threshold {floor})")
            continue
        value = group.get(metric)
        if value is None:
            missed.append(f"{label}: not measurable in this run (no case it applies to); threshold {floor}")
        elif value < floor:
            missed.append(f"{label} = {value:.3f} is below the threshold {floor}")
    return missed


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    ov = summary["overall"]
    c = ov["counts"]
    print(f"\n{c['cases']} cases, {c['passed']} passed  (generator {summary.get('generator')}, k={summary.get('k')})")
    for name in METRICS:
        v = ov.get(name)
        shown = "n/a" if v is None else (f"{v:.0f} ms" if name.endswith("_ms") else f"{v:.3f}")
        print(f"  {name:<22} {shown}")
    for k in ("faithfulness", "answer_relevancy"):
        if k in summary.get("judge", {}):
            v = summary["judge"][k]
            print(f"  {k:<22} {'n/a' if v is None else f'{v:.3f}'}  (ragas judge)")
    for w in summary.get("warnings", []):
        print(f"  warning: {w}")
    print(f"\nreports: {out / 'report.html'}  {out / 'report.md'}  {out / 'summary.json'}")


def _run(args: argparse.Namespace) -> int:
    from core.settings import load_settings
    from rag.eval.runner import run_suites
    from rag.eval.suite import load_suites

    thresholds = parse_thresholds(args.fail_under)  # before the run: a typo must not waste one
    suites = load_suites(args.suites)
    overrides = {"data_dir": args.data_dir, "generator": args.generator, "k": args.k, "chroma_url": args.chroma_url,
                 "collections": ",".join(args.collection) if args.collection else None}
    settings = load_settings({k: v for k, v in overrides.items() if v is not None})
    if args.judge:
        from rag.eval.judge import check_judge_available

        check_judge_available(settings)
    from rag.compose import build

    parts = build(settings)
    from rag.collections import resolve_collections

    resolve_collections(settings.collection_names, parts.library.collections())  # the assistant asks only these
    assistant = parts.assistant
    out = Path(args.out)
    from rag.feedback.signal import signal_for

    info = {"settings": settings.public_dict(), "argv": sys.argv[1:], "feedback": signal_for(settings.feedback_dir)}
    result = run_suites(suites, assistant, out, k=settings.k, show_bar=not args.quiet, run_info=info,
                         store=parts.library.store, collections=settings.collection_names)
    summary = result.summary
    if args.judge:
        from rag.eval.judge import judge_records

        summary["judge"] = judge_records(result.records, settings, parts.library.embedder)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str), "utf-8")
    _print_summary(summary, out)
    missed = check_thresholds(summary, thresholds)
    for m in missed:
        print(f"eval: FAILED --fail-under {m}", file=sys.stderr)
    if thresholds and not missed:
        print("eval: all --fail-under thresholds met")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:  # called as `python -m rag eval ...` with the sub-command still in argv
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    return at_the_edge(lambda: _command(parser, args), prefix="eval")


def _command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.compare:
        if args.suites:
            parser.error("--compare takes two run directories and no suites")
        from rag.eval.compare import compare_dirs, format_comparison

        a, b = args.compare
        print(format_comparison(compare_dirs(a, b), a, b), end="")
        return 0
    if not args.suites or not args.out:
        parser.error("give at least one SUITE and --out DIR (or --compare DIR_A DIR_B)")
    return _run(args)
