"""Human-readable reports of a run: Markdown and one self-contained HTML page with inline SVG charts.

Answers, passages and even questions are untrusted text (a document can carry HTML or a prompt
injection), so every piece of run data goes through html.escape before it reaches either report;
the Markdown additionally neutralises link/image syntax. The HTML has no scripts and no external URLs.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from rag.eval.metrics import CAUSES, METRICS, CaseScore, case_key

RATE_METRICS = [m for m in METRICS if not m.endswith("_ms")]
TAG_COLUMNS = ["pass_rate", "answer_correctness", "hit_at_k", "citation_recall", "abstention_accuracy"]
_CUT = 600  # characters of an answer/passage shown in the per-case tables


def _fmt(v: Any, ms: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f} ms" if ms else f"{v:.3f}"


def ordered_cases(records: list[dict[str, Any]], scores: dict[str, CaseScore]) -> list[dict[str, Any]]:
    """Failures first (most reasons first), then passes; suite order kept within each group."""
    idx = {case_key(r): i for i, r in enumerate(records)}
    return sorted(
        records,
        key=lambda r: (scores[case_key(r)].passed, -len(scores[case_key(r)].reasons), idx[case_key(r)]),
    )


def _expected(r: dict[str, Any]) -> str:
    if not r.get("answerable", True):
        return "abstain (the sources do not settle it)"
    out = " | ".join(r.get("accepted_answers") or [])
    if r.get("evidence"):
        out += "  — evidence: " + " | ".join(f'"{e}"' for e in r["evidence"])
    if r.get("forbidden_citations"):
        out += "  — must not cite: " + " | ".join(f'"{e}"' for e in r["forbidden_citations"])
    if r.get("feedback_ids"):
        out += "  — from reader feedback " + ", ".join(r["feedback_ids"])
    return out


def _kinds(counts: dict[str, Any]) -> str:
    """"40 answerable, 9 unanswerable" (and ", 2 citation-only" when a suite has cases that check only what
    is cited: their answerability is unknown, so no abstention metric counts them)."""
    out = f"{counts['answerable']} answerable, {counts['unanswerable']} unanswerable"
    return out + (f", {counts['citation_only']} citation-only" if counts.get("citation_only") else "")


def _short(text: str, n: int = _CUT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- Markdown


def _md(text: str, n: int = _CUT) -> str:
    """Table-cell safe: HTML escaped, pipes and link/image brackets neutralised, one line."""
    t = html.escape(_short(text, n), quote=False)
    return t.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]").replace("!", "&#33;")


def render_markdown(summary: dict[str, Any], records: list[dict[str, Any]], scores: dict[str, CaseScore]) -> str:
    ov = summary["overall"]
    c = ov["counts"]
    run = summary.get("run", {})
    lines = [
        f"# Evaluation report: {_md(', '.join(run.get('suites', [])) or 'run')}",
        "",
        f"Generator **{_md(summary.get('generator', ''))}**, k = {summary.get('k')}, "
        f"{c['cases']} cases ({_kinds(c)}), "
        f"{c['passed']} passed, {c['errors']} errors.",
        "",
        "## Metrics",
        "",
        "| metric | value | definition |",
        "|---|---|---|",
    ]
    for name, (_, definition) in METRICS.items():
        lines.append(f"| {name} | {_fmt(ov.get(name), name.endswith('_ms'))} | {definition} |")
    if ov["stages_ms"]:
        lines += ["", "## Latency per stage", "", "| stage | p50 | p95 |", "|---|---|---|"]
        for stage, v in ov["stages_ms"].items():
            lines.append(f"| {_md(stage)} | {_fmt(v['p50'], True)} | {_fmt(v['p95'], True)} |")
    if summary.get("by_tag"):
        lines += ["", "## By tag", "", "| tag | cases | " + " | ".join(TAG_COLUMNS) + " |"]
        lines.append("|---" * (len(TAG_COLUMNS) + 2) + "|")
        for tag, m in summary["by_tag"].items():
            cells = " | ".join(_fmt(m.get(col)) for col in TAG_COLUMNS)
            lines.append(f"| {_md(tag)} | {m['counts']['cases']} | {cells} |")
    if ov.get("causes"):
        lines += ["", "## Failure causes", "", "| cause | cases | meaning |", "|---|---|---|"]
        lines += [f"| {c} | {n} | {CAUSES[c]} |" for c, n in ov["causes"].items()]
    lines += feedback_markdown(summary.get("run", {}).get("feedback"))
    if summary.get("warnings"):
        lines += ["", "## Suite warnings", ""] + [f"- {_md(w)}" for w in summary["warnings"]]
    lines += ["", "## Cases (failures first)", "", "| case | result | question | answer | expected | why |"]
    lines.append("|---|---|---|---|---|---|")
    for r in ordered_cases(records, scores):
        s = scores[case_key(r)]
        answer = "(abstained) " + r.get("answer", "") if r.get("abstained") else r.get("answer", "")
        lines.append(
            f"| {_md(case_key(r))} | {'pass' if s.passed else '**FAIL**'} | {_md(r['question'], 200)} | "
            f"{_md(answer, 300)} | {_md(_expected(r), 200)} | {_md('; '.join([s.cause] * bool(s.cause) + s.reasons), 200)} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- SVG charts


def svg_metric_bars(metrics: dict[str, float | None], width: int = 560) -> str:
    """Horizontal bars for metrics in [0, 1]; n/a metrics are listed without a bar."""
    row, label_w = 22, 170
    bar_w = width - label_w - 60
    parts = []
    for i, (name, v) in enumerate(metrics.items()):
        y = i * row + 4
        higher = METRICS.get(name, (True, ""))[0]
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="16" class="track"/>')
        if v is not None:
            w = max(0.0, min(1.0, v)) * bar_w
            cls = "bar" if higher else "bar low"
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="16" class="{cls}"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}">{_fmt(v)}</text>')
    h = len(metrics) * row + 8
    return (
        f'<svg role="img" aria-label="metric bars" width="{width}" height="{h}" '
        f'viewBox="0 0 {width} {h}">{"".join(parts)}</svg>'
    )


def svg_histogram(values: list[float], bins: int = 12, width: int = 560, height: int = 200) -> str:
    """Latency histogram (ms) with the p50/p95 marked."""
    if not values:
        return "<p>No latencies recorded.</p>"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts)
    left, bottom, plot_w, plot_h = 40, height - 30, width - 60, height - 50
    bw = plot_w / bins
    parts = [
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{bottom - plot_h + 10}" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>',
    ]
    for i, n in enumerate(counts):
        h = n / top * plot_h if top else 0
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{bottom - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{lo + i * span / bins:.0f}-{lo + (i + 1) * span / bins:.0f} ms: {n}</title></rect>"
        )
    for q, name in ((50, "p50"), (95, "p95")):
        v = float(np.percentile(values, q))  # same definition as summary.json
        x = left + (v - lo) / span * plot_w
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom - plot_h}" class="mark"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="{bottom - plot_h + 10}">{name}</text>')
    parts.append(f'<text x="{left}" y="{height - 8}">{lo:.0f} ms</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{hi:.0f} ms</text>')
    return (
        f'<svg role="img" aria-label="latency histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:1200px;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#f4f4f4}
svg text{font:12px system-ui,sans-serif;fill:#333}.track{fill:#eee}.bar{fill:#3b7dd8}.bar.low{fill:#d8893b}
.axis{stroke:#999}.mark{stroke:#c33;stroke-dasharray:3 2}
.fail{background:#fff1f0}.pass{background:#f3fbf3}.tag{display:inline-block;background:#eef;border-radius:3px;
padding:0 4px;margin:1px;font-size:12px}.muted{color:#777}details summary{cursor:pointer}
.charts{display:flex;flex-wrap:wrap;gap:2rem}.cell{white-space:pre-wrap;overflow-wrap:anywhere}
"""


def _e(text: Any) -> str:
    return html.escape(str(text if text is not None else ""))


def _case_row(r: dict[str, Any], s: CaseScore) -> str:
    cited = "".join(
        f"<div class=cell><b>[{_e(c.get('marker'))}]</b> {_e(_short(c.get('text', ''), 280))}</div>"
        f"<details><summary class=muted>{_e(c.get('chunk_id'))} {_e(c.get('start'))}-{_e(c.get('end'))}</summary>"
        f"<div class=cell>{_e(c.get('text', ''))}</div></details>"
        for c in r.get("citations", [])
    ) or '<span class="muted">none</span>'
    answer = _e(r.get("answer", ""))
    if r.get("abstained"):
        answer = f"<em>abstained</em><br>{answer}"
    unsup = r.get("unsupported_sentences") or []
    if unsup:
        answer += "<br><span class=muted>unsupported: " + " | ".join(_e(u) for u in unsup) + "</span>"
    tags = "".join(f'<span class="tag">{_e(t)}</span>' for t in r.get("tags", []))
    history = r.get("history") or []
    hist = (
        "<details><summary class=muted>history</summary>"
        + "".join(f"<div><b>{_e(t['role'])}:</b> {_e(t['content'])}</div>" for t in history)
        + "</details>"
        if history
        else ""
    )
    cls = "pass" if s.passed else "fail"
    return (
        f'<tr class="{cls}"><td>{_e(case_key(r))}<br>{tags}</td><td>{"pass" if s.passed else "<b>FAIL</b>"}'
        f"<br><span class=muted>{_e('; '.join(s.reasons))}</span></td>"
        f"<td class=cell>{_e(r['question'])}{hist}</td><td class=cell>{answer}</td><td>{cited}</td>"
        f"<td class=cell>{_e(_expected(r))}</td><td>{_fmt(r.get('latency_ms'), True)}</td></tr>"
    )


def render_html(summary: dict[str, Any], records: list[dict[str, Any]], scores: dict[str, CaseScore]) -> str:
    ov = summary["overall"]
    c = ov["counts"]
    run = summary.get("run", {})
    metric_rows = "".join(
        f"<tr><td>{_e(n)}</td><td>{_fmt(ov.get(n), n.endswith('_ms'))}</td><td>{_e(d)}</td></tr>"
        for n, (_, d) in METRICS.items()
    )
    stage_rows = "".join(
        f"<tr><td>{_e(st)}</td><td>{_fmt(v['p50'], True)}</td><td>{_fmt(v['p95'], True)}</td></tr>"
        for st, v in ov["stages_ms"].items()
    )
    tag_rows = "".join(
        f"<tr><td>{_e(t)}</td><td>{m['counts']['cases']}</td>"
        + "".join(f"<td>{_fmt(m.get(col))}</td>" for col in TAG_COLUMNS)
        + "</tr>"
        for t, m in summary.get("by_tag", {}).items()
    )
    warnings = "".join(f"<li>{_e(w)}</li>" for w in summary.get("warnings", []))
    rows = "".join(_case_row(r, scores[case_key(r)]) for r in ordered_cases(records, scores))
    latencies = [float(r["latency_ms"]) for r in records if r.get("latency_ms") is not None]
    tag_rates = {t: m.get("pass_rate") for t, m in summary.get("by_tag", {}).items()}
    title = f"Evaluation: {', '.join(run.get('suites', [])) or 'run'}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p>Generator <b>{_e(summary.get('generator', ''))}</b>, k = {_e(summary.get('k'))}, {c['cases']} cases
({_e(_kinds(c))}): <b>{c['passed']} passed</b>, {c['errors']} errors.
<span class=muted>{_e(run.get('started_at', ''))}</span></p>
<div class="charts"><div><h2>Metrics</h2>{svg_metric_bars({m: ov.get(m) for m in RATE_METRICS})}
<p class=muted>Orange bars: lower is better.</p></div>
<div><h2>Pass rate by tag</h2>{svg_metric_bars(tag_rates) if tag_rates else "<p>No tags.</p>"}</div>
<div><h2>Latency (end to end)</h2>{svg_histogram(latencies)}
<p>p50 {_fmt(ov.get('latency_p50_ms'), True)}, p95 {_fmt(ov.get('latency_p95_ms'), True)}</p></div></div>
{feedback_html(run.get("feedback"))}
<h2>Definitions</h2><table><tr><th>metric</th><th>value</th><th>definition</th></tr>{metric_rows}</table>
{f'<h2>Latency per stage</h2><table><tr><th>stage</th><th>p50</th><th>p95</th></tr>{stage_rows}</table>' if stage_rows else ''}
{f'<h2>By tag</h2><table><tr><th>tag</th><th>cases</th>{"".join(f"<th>{_e(x)}</th>" for x in TAG_COLUMNS)}</tr>{tag_rows}</table>' if tag_rows else ''}
{f'<h2>Suite warnings</h2><ul>{warnings}</ul>' if warnings else ''}
<h2>Cases (failures first)</h2>
<table><tr><th>case</th><th>result</th><th>question</th><th>answer</th><th>cited text</th><th>expected</th>
<th>latency</th></tr>{rows}</table>
</body></html>
"""


# ---------------------------------------------------------------- reader feedback (rag.feedback.signal)

_SERIES_COLOURS = ("#3b7dd8", "#d8893b", "#3ba55c", "#c2415d", "#7c5cc4", "#6b7280")
FEEDBACK_SHARES = (("down_share", "thumbs-down share of rated answers"),
                   ("rejected_share", "rejected share of shown citations"))


def _series_label(series: dict[str, Any]) -> str:
    return f"{series.get('generator')} @ {series.get('index_generation')}"


def svg_feedback_lines(signal: dict[str, Any], key: str, width: int = 420, height: int = 180) -> str:
    """One line per generator/index generation: a share in [0, 1] per day (None days are gaps)."""
    days = sorted({p["day"] for s in signal.get("series", []) for p in s["points"]})
    if not days:
        return "<p>No reader feedback yet.</p>"
    left, top, plot_w, plot_h = 36, 10, width - 50, height - 60
    x = {d: left + (i + 0.5) * plot_w / len(days) for i, d in enumerate(days)}
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">1</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
             f'<text x="{left}" y="{top + plot_h + 14}">{html.escape(days[0])}</text>',
             f'<text x="{left + plot_w}" y="{top + plot_h + 14}" text-anchor="end">{html.escape(days[-1])}</text>']
    for i, series in enumerate(signal.get("series", [])):
        colour = _SERIES_COLOURS[i % len(_SERIES_COLOURS)]
        pts = [(x[p["day"]], top + plot_h * (1 - p[key]), p) for p in series["points"] if p.get(key) is not None]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, p in pts:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>'
                         f'{html.escape(_series_label(series))} {html.escape(p["day"])}: {p[key]:.2f}</title></circle>')
        parts.append(f'<rect x="{left + (i % 2) * plot_w / 2:.0f}" y="{top + plot_h + 22 + (i // 2) * 14}" width="10" '
                     f'height="10" fill="{colour}"/><text x="{left + 14 + (i % 2) * plot_w / 2:.0f}" '
                     f'y="{top + plot_h + 31 + (i // 2) * 14}">{html.escape(_series_label(series))}</text>')
    h = height + 14 * max(0, (len(signal.get("series", [])) - 1) // 2)
    return (f'<svg role="img" aria-label="{html.escape(key)} over time" width="{width}" height="{h}" '
            f'viewBox="0 0 {width} {h}">{"".join(parts)}</svg>')


def _feedback_rows(signal: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(str(s.get("generator")), str(s.get("index_generation")), p)
            for s in signal.get("series", []) for p in s["points"]]


def feedback_html(signal: dict[str, Any] | None) -> str:
    if not signal or not signal.get("series"):
        return ""
    charts = "".join(f"<div><h3>{_e(label)}</h3>{svg_feedback_lines(signal, key)}</div>" for key, label in FEEDBACK_SHARES)
    rows = "".join(
        f"<tr><td>{_e(gen)}</td><td>{_e(idx)}</td><td>{_e(p['day'])}</td><td>{p['thumbs_down']} / {p['rated']}</td>"
        f"<td>{_fmt(p['down_share'])}</td><td>{p['rejected']} / {p['citations']}</td><td>{_fmt(p['rejected_share'])}</td></tr>"
        for gen, idx, p in _feedback_rows(signal))
    return (f"<h2>Reader feedback over time</h2><div class=\"charts\">{charts}</div>"
            "<table><tr><th>generator</th><th>index generation</th><th>day</th><th>thumbs down / rated</th>"
            f"<th>share</th><th>rejected / citations</th><th>share</th></tr>{rows}</table>")


def feedback_markdown(signal: dict[str, Any] | None) -> list[str]:
    if not signal or not signal.get("series"):
        return []
    lines = ["", "## Reader feedback over time", "",
             "| generator | index generation | day | thumbs down / rated | share | rejected / citations | share |",
             "|---|---|---|---|---|---|---|"]
    for gen, idx, p in _feedback_rows(signal):
        lines.append(f"| {_md(gen)} | {_md(idx)} | {_md(p['day'])} | {p['thumbs_down']} / {p['rated']} | "
                     f"{_fmt(p['down_share'])} | {p['rejected']} / {p['citations']} | {_fmt(p['rejected_share'])} |")
    return lines
