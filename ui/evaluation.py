"""The Evaluation tab's adapter over rag.eval: list suites, run one with progress, turn the run into tables.

Scoring, charts and the failures-first order all come from rag.eval; this module only reshapes them
for Gradio components.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.settings import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "suites"
SUITE_TYPES = (".yaml", ".yml", ".jsonl")
FEEDBACK_SUITE = "feedback (from readers' verdicts)"  # exported from the feedback store when run
CASE_COLUMNS = ["case", "result", "why", "question", "answer", "expected", "latency ms"]


def bundled_suites(folder: Path = SUITES_DIR) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUITE_TYPES)


def resolve_suite(choice: str | None, uploaded: str | None, folder: Path = SUITES_DIR, *,
                  feedback: Any = None, out_dir: Path | None = None) -> Path:
    """The suite file to run: an uploaded one wins; a bundled one only by its bare name (no paths)."""
    from rag.eval.suite import SuiteError

    if uploaded:
        return Path(uploaded)
    if choice == FEEDBACK_SUITE:
        return export_feedback(feedback, out_dir)
    if not choice:
        raise SuiteError("no suite chosen: pick a bundled suite or upload a .yaml/.jsonl one")
    if choice not in bundled_suites(folder):
        raise SuiteError(f"{choice!r} is not a bundled suite; choose one of {bundled_suites(folder)}")
    return folder / choice


def export_feedback(feedback: Any, out_dir: Path | None) -> Path:
    """Export the stored reader verdicts (rag.feedback) as a suite file under out_dir, for this run."""
    from rag.eval.suite import SuiteError
    from rag.feedback.export import build_export, write_export

    if feedback is None or out_dir is None:
        raise SuiteError("reader feedback is not available in this app")
    export = build_export(feedback.records())
    if not export.cases:
        raise SuiteError("no reader verdict makes a case yet: give a thumbs down with the expected answer, or "
                         "mark a citation that does not support its sentence, in the Chat tab")
    path = out_dir / "feedback-suite" / "feedback.yaml"
    write_export(export, path)  # skips (and logs) a case the suite loader would refuse
    if not export.cases:
        raise SuiteError("no reader verdict makes a valid case: `python -m rag feedback export` lists why")
    return path


def feedback_origins_html(result: Any, feedback: Any, viewer: str | None = None) -> str:
    """Per feedback case: the conversation and verdicts it came from (escaped; anchors named by case).
    A reader's comment is shown only to that reader (`viewer`, the login; None without one): the tab is
    shared by every user, and a comment is not meant for the others (issue 24, finding 10)."""
    from rag.eval.metrics import case_key

    rows = [r for r in result.records if r.get("feedback_ids")]
    if not rows or feedback is None:
        return ""
    known = {x.get("id"): x for x in feedback.records()}
    blocks = []
    for r in rows:
        ids = r["feedback_ids"]
        passed = "pass" if result.scores[case_key(r)].passed else "FAIL"
        parts = "".join(_origin(known[i], viewer) for i in ids if i in known)
        blocks.append(f'<details class="fb-origin" id="origin-{html.escape(r["id"])}"><summary>'
                      f"{html.escape(case_key(r))} ({passed}): from reader feedback {html.escape(', '.join(ids))}"
                      f"</summary>{parts}</details>")
    return '<div class="fb-origins"><h4>Where the feedback cases come from</h4>' + "".join(blocks) + "</div>"


def _origin(rec: dict[str, Any], viewer: str | None = None) -> str:
    e = html.escape
    v = rec.get("verdict") or {}
    # the author alone sees a comment; without a login (loopback only: ui.server.check_exposure) there are
    # no users to tell apart, and anonymous readers count as one
    own = (rec.get("user") or None) == (viewer or None)
    turns = "".join(f"<div><b>{e(str(t.get('role')))}:</b> {e(str(t.get('content')))}</div>"
                    for t in rec.get("history") or [])
    details = " · ".join(f"{e(k)}: {e(str(v[k]))}" for k in ("marker", "chunk_id", "expected", "evidence") if v.get(k))
    return (f'<div class="fb-conv">{turns}<div><b>user:</b> {e(str(rec.get("question", "")))}</div>'
            f'<div><b>assistant:</b> {e(str((rec.get("answer") or {}).get("text", "")))}</div>'
            f'<div class="muted">{e(str(rec.get("id")))} · {e(str(rec.get("ts")))} · {"you" if own else "a reader"} · '
            f'{e(str(v.get("kind")))}{" · " + details if details else ""}</div>'
            + (f'<div>comment: {e(str(rec.get("comment")))}</div>' if own and rec.get("comment") else "") + "</div>")


def run(assistant: Any, suite_path: Path, runs_dir: Path, progress: Callable[[int, int, str], None],
        *, store: Any = None, feedback: Any = None) -> Any:
    """Run one suite into a fresh folder under runs_dir; returns rag.eval.runner.RunResult."""
    from rag.eval.runner import new_run_dir, run_suites
    from rag.eval.suite import SuiteLimits, load_suite

    settings = getattr(assistant, "settings", None)
    suite = load_suite(suite_path, SuiteLimits.from_settings(settings) if settings is not None else None)
    out = new_run_dir(runs_dir, suite.name)  # the name is uploaded data: slug only, inside runs_dir
    from rag.feedback.signal import feedback_signal

    records = feedback.records() if feedback is not None else []
    info = {"source": "ui", "feedback": feedback_signal(records) if records else None}
    asked = getattr(settings, "collection_names", None)  # what assistant.ask sees by default
    return run_suites([suite], assistant, out, progress=progress, show_bar=False, run_info=info, store=store,
                      collections=asked)


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
