"""From reader verdicts to suite cases: the export rules, duplicate merging, contradictions for a person.

Rules (one case per conversation point: the same question after the same history):
- thumbs down with an expected answer -> an answerable case with that answer;
- "the documents do answer this" -> an answerable case with the expected answer and its evidence;
- "not in the documents" on an answered question -> an unanswerable case;
- "does not support this" -> a citation case: `forbidden_citations` lists the chunk id and its quoted
  sentence, which must not be cited for this question.
Verdicts on the same point merge into one case (accepted answers and forbidden passages unite). When they
disagree — answerable vs unanswerable, different answers, a thumbs up and a thumbs down on the same answer,
a passage both given as evidence and rejected — no case is written: the point is listed for a person.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rag.eval.matching import contains, normalize

SUITE_NAME = "feedback"
MAX_ITEMS = 50  # per list in a case: rag.eval.suite.SuiteLimits.max_items
log = logging.getLogger(__name__)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


@dataclass
class Point:
    """Every verdict on one conversation point (question + history)."""

    question: str
    history: list[dict[str, str]]
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Export:
    cases: list[dict[str, Any]]
    contradictions: list[dict[str, Any]]
    skipped: list[tuple[str, str]]  # (record id, why it makes no case)


def point_key(record: dict[str, Any]) -> tuple[str, ...]:
    hist = tuple(f"{t.get('role')}:{normalize(t.get('content', ''))}" for t in record.get("history") or [])
    return (normalize(record.get("question", "")), *hist)


def group(records: list[dict[str, Any]]) -> list[Point]:
    points: dict[tuple[str, ...], Point] = {}
    for r in records:
        key = point_key(r)
        if key not in points:
            points[key] = Point(r.get("question", ""), list(r.get("history") or []))
        points[key].records.append(r)
    return list(points.values())


def _evidence_of(v: dict[str, Any]) -> str:
    """The reader's evidence phrase; else the sentence of the pointed passage holding the answer."""
    if v.get("evidence"):
        return v["evidence"]
    text = (v.get("pointer") or {}).get("text", "")
    for m in _SENTENCE.finditer(text):
        if v.get("expected") and contains(m.group(0), v["expected"]):
            return " ".join(m.group(0).split())
    return ""


def _merge_answers(answers: list[str]) -> list[list[str]]:
    """Cluster answers that agree (one contains the other, after normalizing); >1 cluster = disagreement."""
    clusters: list[list[str]] = []
    for a in answers:
        for c in clusters:
            if any(contains(a, b) or contains(b, a) for b in c):
                if a not in c:
                    c.append(a)
                break
        else:
            clusters.append([a])
    return clusters


@dataclass
class _Wants:
    answers: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    unanswerable: list[str] = field(default_factory=list)  # record ids
    forbidden: list[str] = field(default_factory=list)
    forbidden_chunks: set[str] = field(default_factory=set)
    ids: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def _collect(point: Point, skipped: list[tuple[str, str]]) -> _Wants:
    w = _Wants()
    for r in point.records:
        v, rid = r.get("verdict") or {}, r.get("id", "")
        kind = v.get("kind")
        if kind in ("thumbs_down", "documents_answer") and v.get("expected"):
            w.answers.append(v["expected"])
            if (ev := _evidence_of(v)) and ev not in w.evidence:
                w.evidence.append(ev)
        elif kind == "not_in_documents" and not (r.get("answer") or {}).get("abstained"):
            w.unanswerable.append(rid)
        elif kind == "citation_rejected":
            for item in (v.get("chunk_id"), v.get("quote")):
                if item and item not in w.forbidden:
                    w.forbidden.append(item)
            w.forbidden_chunks.add(v.get("chunk_id", ""))
        else:
            why = "a thumbs up" if kind == "thumbs_up" else f"{kind} without an expected answer"
            skipped.append((rid, f"{why}: no case to test"))
            continue
        w.ids.append(rid)
        if kind not in w.kinds:
            w.kinds.append(kind)
    return w


def _conflicts(point: Point, w: _Wants) -> list[str]:
    out = []
    if w.answers and w.unanswerable:
        out.append(f"an expected answer ({' | '.join(w.answers)}) and 'not in the documents'")
    clusters = _merge_answers(w.answers)
    if len(clusters) > 1:
        out.append("different expected answers: " + " vs ".join(" / ".join(c) for c in clusters))
    liked = {normalize((r.get("answer") or {}).get("text", "")) for r in point.records
             if (r.get("verdict") or {}).get("kind") == "thumbs_up"}
    disliked = {normalize((r.get("answer") or {}).get("text", "")) for r in point.records
                if (r.get("verdict") or {}).get("kind") in ("thumbs_down", "not_in_documents")}
    if liked & disliked:
        out.append("a thumbs up and a thumbs down on the same answer")
    pointed = {((r.get("verdict") or {}).get("pointer") or {}).get("chunk_id") for r in point.records}
    if w.forbidden_chunks & pointed:
        out.append("a passage given as evidence and also rejected as not supporting")
    return out


def _case(point: Point, w: _Wants) -> dict[str, Any]:
    case: dict[str, Any] = {"id": w.ids[0], "question": point.question}
    if point.history:
        case["history"] = [{"role": t["role"], "content": t["content"]} for t in point.history]
    if w.unanswerable:
        case["answerable"] = False
    else:
        case["answers"] = _merge_answers(w.answers)[0] if w.answers else []
        if w.evidence:
            case["evidence"] = w.evidence
    if w.forbidden:
        case["forbidden_citations"] = w.forbidden
    case["tags"] = ["feedback", *w.kinds]
    case["feedback_ids"] = w.ids
    if not case.get("answers", True):
        del case["answers"]
    # many agreeing verdicts on one point must not make a case the suite loader refuses (finding 8)
    for key in ("answers", "evidence", "forbidden_citations", "feedback_ids", "history"):
        if isinstance(case.get(key), list) and len(case[key]) > MAX_ITEMS:
            case[key] = case[key][-MAX_ITEMS:] if key == "history" else case[key][:MAX_ITEMS]
    return case


def build_export(records: list[dict[str, Any]]) -> Export:
    cases, contradictions, skipped = [], [], []
    for point in group(records):
        w = _collect(point, skipped)
        if not w.ids:
            continue
        problems = _conflicts(point, w)
        if problems:
            contradictions.append({
                "question": point.question, "history": point.history, "problems": problems,
                "records": [{"id": r.get("id"), "user": r.get("user"), "ts": r.get("ts"),
                             "verdict": r.get("verdict"), "comment": r.get("comment", ""),
                             "answer": (r.get("answer") or {}).get("text", "")} for r in point.records],
            })
            continue
        cases.append(_case(point, w))
    return Export(cases, contradictions, skipped)


def suite_yaml(cases: list[dict[str, Any]]) -> str:
    head = ("# Exported by `python -m rag feedback export` from readers' verdicts. Each case's feedback_ids\n"
            "# name the records behind it: `python -m rag feedback show ID` shows the conversation.\n")
    body = {"name": SUITE_NAME, "description": "cases from reader feedback", "cases": cases}
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def write_export(export: Export, out: Path) -> Path | None:
    """Write the suite (validated by the suite loader before it replaces `out`) and the contradictions side
    file `<out>.contradictions.json`. Returns the side file's path when there is something to settle."""
    import json

    from rag.eval.suite import parse_yaml

    out.parent.mkdir(parents=True, exist_ok=True)
    side = out.with_name(out.stem + ".contradictions.json")
    export.cases = valid_cases(export)
    if export.cases:
        text = suite_yaml(export.cases)
        parse_yaml(text, default_name=SUITE_NAME, source=str(out))  # never write a suite `rag eval` refuses
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, "utf-8")
        tmp.replace(out)
    if export.contradictions:
        side.write_text(json.dumps(export.contradictions, ensure_ascii=False, indent=2), "utf-8")
        return side
    side.unlink(missing_ok=True)
    return None


def valid_cases(export: Export) -> list[dict[str, Any]]:
    """The cases the suite loader accepts. One bad case (or one more than the suite may hold) is skipped
    with a warning, into export.skipped, instead of failing the whole export for everyone (finding 8)."""
    from rag.eval.suite import SuiteError, SuiteLimits, parse_yaml

    def refusal(cases: list[dict[str, Any]]) -> str:
        try:
            parse_yaml(suite_yaml(cases), default_name=SUITE_NAME)
        except SuiteError as e:
            return str(e)
        return ""

    good = []
    for case in export.cases:
        why = refusal([case])
        if why:
            export.skipped.append((str(case.get("id")), f"case not exported, the suite loader refuses it: {why}"))
            log.warning("feedback export skipped case %s: %s", case.get("id"), why)
        else:
            good.append(case)
    limit = SuiteLimits().max_cases
    while good and (len(good) > limit or refusal(good)):
        cut = max(1, len(good) - limit, len(good) // 10)
        for case in good[-cut:]:
            export.skipped.append((str(case.get("id")), "case not exported: the suite would pass its size or "
                                                         "case limit; settle older feedback first"))
        log.warning("feedback export skipped %d case(s) over the suite's limits", cut)
        good = good[:-cut]
    return good
