"""Feedback as a signal: per generator and index generation, per day, the share of rated answers that got a
thumbs down and the share of shown citations that readers rejected.

An answer counts once however many verdicts it got (keyed by conversation, turn and text); its day is the
day of its first verdict. A share with nothing to measure is None, never 0.
"""

from __future__ import annotations

from typing import Any

from rag.feedback.record import NEGATIVE

RATINGS = ("thumbs_up", *NEGATIVE)


def _answers(records: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    out: dict[tuple, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: str(r.get("ts", ""))):
        a = r.get("answer") or {}
        key = (r.get("conversation"), r.get("turn"), r.get("question"), a.get("text"))
        item = out.setdefault(key, {
            "series": (str(r.get("generator") or "?"), str(r.get("index_generation") or "?")),
            "day": str(r.get("ts", ""))[:10], "rated": False, "down": False,
            "citations": len(a.get("citations") or []), "rejected": set(),
        })
        v = r.get("verdict") or {}
        kind = v.get("kind")
        item["rated"] |= kind in RATINGS
        item["down"] |= kind in NEGATIVE
        if kind == "citation_rejected":
            item["rejected"].add(v.get("marker"))
    return out


def feedback_signal(records: list[dict[str, Any]]) -> dict[str, Any]:
    """{"series": [{"generator", "index_generation", "points": [{"day", "rated", "thumbs_down", "down_share",
    "citations", "rejected", "rejected_share"}]}]} — JSON-ready, days ascending."""
    buckets: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for item in _answers(records).values():
        day = buckets.setdefault(item["series"], {}).setdefault(
            item["day"], {"rated": 0, "thumbs_down": 0, "citations": 0, "rejected": 0})
        day["rated"] += item["rated"]
        day["thumbs_down"] += item["down"]
        day["citations"] += item["citations"]
        day["rejected"] += len(item["rejected"])
    series = []
    for (gen, index_gen), days in sorted(buckets.items()):
        points = [{"day": d, **c,
                   "down_share": c["thumbs_down"] / c["rated"] if c["rated"] else None,
                   "rejected_share": c["rejected"] / c["citations"] if c["citations"] else None}
                  for d, c in sorted(days.items())]
        series.append({"generator": gen, "index_generation": index_gen, "points": points})
    return {"series": series, "verdicts": len(records)}


def signal_for(feedback_dir: Any, max_bytes: int = 5 * 1024 * 1024, keep: int = 4) -> dict[str, Any] | None:
    """The signal of the verdicts stored in `feedback_dir`, or None when there are none (no report section)."""
    from rag.feedback.store import FeedbackStore

    records = FeedbackStore(feedback_dir, max_bytes=max_bytes, keep=keep).records()
    return feedback_signal(records) if records else None
