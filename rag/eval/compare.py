"""Compare two finished runs: which metrics and which cases got better or worse from A to B.

Both runs are re-scored from their results.jsonl with the current metric code, so a comparison is
never skewed by a metric definition that changed between the two runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.eval.metrics import METRICS, CaseScore, case_key, summarize
from rag.eval.runner import load_run

# Latency is noisy on shared machines: only a change beyond this fraction counts.
LATENCY_TOLERANCE = 0.10
RATE_TOLERANCE = 1e-9


@dataclass
class Comparison:
    metrics: list[tuple[str, float | None, float | None, str]] = field(default_factory=list)  # name, a, b, verdict
    tags: list[tuple[str, float | None, float | None, str]] = field(default_factory=list)  # tag pass_rate
    fixed: list[tuple[str, str]] = field(default_factory=list)  # case key, what changed
    broken: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)  # same pass/fail, some score moved
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.broken) or any(v == "regressed" for *_, v in self.metrics)


def _verdict(name: str, a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a" if a is None and b is None else "new" if a is None else "gone"
    higher = METRICS.get(name, (True, ""))[0]
    tol = LATENCY_TOLERANCE * max(abs(a), 1e-9) if name.endswith("_ms") else RATE_TOLERANCE
    if abs(b - a) <= tol:
        return "same"
    return "improved" if (b > a) == higher else "regressed"


def _case_changes(a: CaseScore, b: CaseScore) -> str:
    parts = []
    for attr in ("correct", "citation_ok", "hit"):
        va, vb = getattr(a, attr), getattr(b, attr)
        if va is not None and vb is not None and bool(va) != bool(vb):
            parts.append(f"{attr} {bool(va)}→{bool(vb)}")
    for attr in ("f1", "rr"):
        va, vb = getattr(a, attr), getattr(b, attr)
        if va is not None and vb is not None and abs(va - vb) > 1e-6:
            parts.append(f"{attr} {va:.2f}→{vb:.2f}")
    if a.unsupported != b.unsupported:
        parts.append(f"unsupported sentences {a.unsupported}→{b.unsupported}")
    if not parts and a.reasons != b.reasons:
        parts.append("; ".join(b.reasons) or "now passes")
    return ", ".join(parts)


def compare_records(
    recs_a: list[dict[str, Any]], recs_b: list[dict[str, Any]], k_a: int | None = None, k_b: int | None = None
) -> Comparison:
    sum_a, sc_a = summarize(recs_a, k_a)
    sum_b, sc_b = summarize(recs_b, k_b)
    cmp = Comparison()
    for name in METRICS:
        a, b = sum_a["overall"].get(name), sum_b["overall"].get(name)
        cmp.metrics.append((name, a, b, _verdict(name, a, b)))
    for tag in sorted(set(sum_a["by_tag"]) | set(sum_b["by_tag"])):
        a = sum_a["by_tag"].get(tag, {}).get("pass_rate")
        b = sum_b["by_tag"].get(tag, {}).get("pass_rate")
        cmp.tags.append((tag, a, b, _verdict("pass_rate", a, b)))
    keys_a = [case_key(r) for r in recs_a]
    keys_b = {case_key(r) for r in recs_b}
    cmp.only_a = [k for k in keys_a if k not in keys_b]
    cmp.only_b = [case_key(r) for r in recs_b if case_key(r) not in set(keys_a)]
    for key in keys_a:
        if key not in keys_b:
            continue
        a, b = sc_a[key], sc_b[key]
        change = _case_changes(a, b)
        if a.passed and not b.passed:
            cmp.broken.append((key, change or "; ".join(b.reasons)))
        elif b.passed and not a.passed:
            cmp.fixed.append((key, change or "now passes"))
        elif change:
            cmp.changed.append((key, change))
    return cmp


def compare_dirs(dir_a: str | Path, dir_b: str | Path) -> Comparison:
    sum_a, recs_a = load_run(dir_a)
    sum_b, recs_b = load_run(dir_b)
    return compare_records(recs_a, recs_b, sum_a.get("k"), sum_b.get("k"))


def _f(name: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f} ms" if name.endswith("_ms") else f"{v:.3f}"


def format_comparison(cmp: Comparison, label_a: str = "A", label_b: str = "B") -> str:
    lines = [f"Comparing {label_a} (A) -> {label_b} (B)", "", "Metrics:"]
    width = max(len(n) for n, *_ in cmp.metrics)
    for name, a, b, verdict in cmp.metrics:
        delta = f"{b - a:+.3f}" if a is not None and b is not None and not name.endswith("_ms") else ""
        if a is not None and b is not None and name.endswith("_ms"):
            delta = f"{b - a:+.0f} ms"
        lines.append(f"  {name:<{width}}  {_f(name, a):>9} -> {_f(name, b):>9}  {delta:>9}  {verdict}")
    moved = [t for t in cmp.tags if t[3] not in ("same", "n/a")]
    if moved:
        lines += ["", "Pass rate by tag (changed only):"]
        lines += [f"  {t:<20} {_f('', a)} -> {_f('', b)}  {v}" for t, a, b, v in moved]
    for title, items in (("Regressed cases (passed in A, fail in B)", cmp.broken),
                         ("Improved cases (failed in A, pass in B)", cmp.fixed),
                         ("Other case-level changes", cmp.changed)):
        lines += ["", f"{title}: {len(items)}"]
        lines += [f"  {k}: {why}" for k, why in items]
    if cmp.only_a or cmp.only_b:
        lines += ["", f"Only in A: {', '.join(cmp.only_a) or '-'}", f"Only in B: {', '.join(cmp.only_b) or '-'}"]
    return "\n".join(lines) + "\n"
