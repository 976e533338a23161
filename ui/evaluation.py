"""The Evaluation tab's adapter over rag.eval: list suites, run one with progress, turn the run into tables.

Scoring, charts and the failures-first order all come from rag.eval; this module only reshapes them
for Gradio components.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.settings import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "suites"
SUITE_TYPES = (".yaml", ".yml", ".jsonl")
CASE_COLUMNS = ["case", "result", "why", "question", "answer", "expected", "latency ms"]


def bundled_suites(folder: Path = SUITES_DIR) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUITE_TYPES)


def resolve_suite(choice: str | None, uploaded: str | None, folder: Path = SUITES_DIR) -> Path:
    """The suite file to run: an uploaded one wins; a bundled one only by its bare name (no paths)."""
    from rag.eval.suite import SuiteError

    if uploaded:
        return Path(uploaded)
    if not choice:
        raise SuiteError("no suite chosen: pick a bundled suite or upload a .yaml/.jsonl one")
    if choice not in bundled_suites(folder):
        raise SuiteError(f"{choice!r} is not a bundled suite; choose one of {bundled_suites(folder)}")
    return folder / choice


def run(assistant: Any, suite_path: Path, runs_dir: Path, progress: Callable[[int, int, str], None]) -> Any:
    """Run one suite into a fresh folder under runs_dir; returns rag.eval.runner.RunResult."""
    from rag.eval.runner import new_run_dir, run_suites
    from rag.eval.suite import SuiteLimits, load_suite

    settings = getattr(assistant, "settings", None)
    suite = load_suite(suite_path, SuiteLimits.from_settings(settings) if settings is not None else None)
    out = new_run_dir(runs_dir, suite.name)  # the name is uploaded data: slug only, inside runs_dir
    return run_suites([suite], assistant, out, progress=progress, show_bar=False,
                      run_info={"source": "ui"})


def metric_rows(summary: dict[str, Any]) -> list[list[Any]]:
    from rag.eval.metrics import METRICS

    ov = summary.get("overall", {})
    rows = []
    for name, (higher, definition) in METRICS.items():
        v = ov.get(name)
        shown = "n/a" if v is None else (f"{v:.0f}" if name.endswith("_ms") else f"{v:.3f}")
        rows.append([name, shown, "higher" if higher else "lower", definition])
    return rows


def case_rows(result: Any) -> list[list[Any]]:
    """Per-case table, failures first (the report's own order)."""
    from rag.eval.metrics import case_key
    from rag.eval.report import ordered_cases

    rows = []
    for r in ordered_cases(result.records, result.scores):
        s = result.scores[case_key(r)]
        expected = " | ".join(r.get("accepted_answers") or []) if r.get("answerable", True) else "abstain"
        answer = ("[abstained] " if r.get("abstained") else "") + (r.get("answer") or r.get("error") or "")
        rows.append([case_key(r), "pass" if s.passed else "FAIL", "; ".join(s.reasons), r["question"], answer,
                     expected, round(float(r.get("latency_ms") or 0))])
    return rows


def charts_html(result: Any) -> str:
    """The report's SVG charts (metric bars, latency histogram), built by rag.eval.report."""
    from rag.eval.report import RATE_METRICS, svg_histogram, svg_metric_bars

    ov = result.summary.get("overall", {})
    lat = [float(r["latency_ms"]) for r in result.records if r.get("latency_ms") is not None]
    c = ov.get("counts", {})
    head = (f"<p>{int(c.get('passed', 0))} of {int(c.get('cases', 0))} cases passed · generator "
            f"{html.escape(str(result.summary.get('generator', '')))} · k = {html.escape(str(result.summary.get('k')))}"
            "</p>")
    return (f'<div class="eval-charts">{head}<div class="chart"><h4>Metrics</h4>'
            f"{svg_metric_bars({m: ov.get(m) for m in RATE_METRICS})}</div>"
            f'<div class="chart"><h4>Latency (ms)</h4>{svg_histogram(lat)}</div></div>')


def report_iframe(result: Any) -> str:
    """The full HTML report in a sandboxed frame: no scripts, no same-origin access, whatever it contains."""
    page = (Path(result.out_dir) / "report.html").read_text("utf-8")
    return (f'<iframe class="eval-report" sandbox="" title="Evaluation report" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>')


def downloads(result: Any) -> list[str]:
    out = Path(result.out_dir)
    return [str(out / n) for n in ("results.jsonl", "summary.json", "report.html", "report.md")
            if (out / n).is_file()]
