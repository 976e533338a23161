"""Scores for one evaluation run, computed from the per-case result records (the lines of results.jsonl).

Working from the records, not from live Answer objects, means a finished run can be re-scored, compared
or reported without the index or a model. Every metric is defined in METRICS (the README repeats it).
Ranking metrics come from ir-measures (Success@k, R@k, RR@k) so they match the standard definitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.eval.goals import GoalScore, score_goals
from rag.eval.matching import (
    SUPPORT_OVERLAP,
    contains,
    contains_any,
    lexical_support,
    strip_markers,
    token_f1,
)

# name -> (higher is better, one-line definition). Order is the report's order.
METRICS: dict[str, tuple[bool, str]] = {
    "pass_rate": (True, "cases passed: an answerable case answered correctly, an unanswerable one abstained on"),
    "answer_correctness": (True, "answerable cases whose answer contains an accepted answer (normalized match)"),
    "answer_f1": (True, "mean token F1 of the answer against its best accepted answer (answerable cases)"),
    "hit_at_k": (True, "answerable cases with at least one relevant passage among the top k retrieved"),
    "recall_at_k": (True, "mean share of the corpus's relevant passages found in the top k"),
    "mrr": (True, "mean reciprocal rank of the first relevant passage (0 when none in the top k)"),
    "key_points_covered": (True, "open answers: mean share of the case's key points the answer covers "
                           "(each key point is a list of acceptable phrasings)"),
    "citation_recall": (True, "correctly answered cases whose cited passages contain an evidence phrase"),
    "citation_precision": (True, "citations whose passage contains evidence or lexically supports the citing sentence "
                           "(never one a reader marked as not supporting it)"),
    "known_bad_citation_rate": (False, "citations of a passage readers marked as not supporting it "
                                "(forbidden_citations), over the citations of the cases that list some"),
    "unsupported_share": (False, "answer sentences the citation check flagged unsupported (non-abstained answers)"),
    "abstention_accuracy": (True, "cases where the system abstained exactly when the case is unanswerable"),
    "abstention_precision": (True, "abstentions that were on unanswerable cases"),
    "abstention_recall": (True, "unanswerable cases the system abstained on"),
    "false_abstention_rate": (False, "answerable cases the system abstained on"),
    "latency_p50_ms": (False, "median end-to-end time of ask(), milliseconds"),
    "latency_p95_ms": (False, "95th percentile end-to-end time of ask(), milliseconds"),
}

@dataclass
class CaseScore:
    """Per-case scores; None where a metric does not apply to the case."""

    passed: bool
    correct: bool | None
    f1: float | None
    hit: float | None
    recall: float | None
    rr: float | None
    citation_ok: bool | None
    citations: int
    precise_citations: int
    sentences: int
    unsupported: int
    reasons: list[str]
    known_bad: int = 0  # citations that hit the case's forbidden_citations
    forbids: bool = False  # the case lists forbidden_citations
    cause: str = ""  # why a failed case failed, one of CAUSES (empty when it passed)
    key_points: float | None = None  # share of the case's key points covered (open answers)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def relevant_ids(record: dict[str, Any]) -> set[str]:
    """Relevant chunks: those of the corpus containing an evidence phrase (recorded by the runner),
    plus any retrieved one that does (a run scored without the index still gets hit@k and MRR)."""
    evidence = record.get("evidence") or []
    ids = set(record.get("relevant_chunk_ids") or [])
    ids.update(p["chunk_id"] for p in record.get("retrieved", []) if contains_any(p.get("text", ""), evidence))
    return ids


def retrieval_scores(records: list[dict[str, Any]], k: int) -> dict[str, tuple[float, float, float]]:
    """case key -> (hit@k, recall@k, RR@k) with ir-measures, for answerable cases with known relevant chunks."""
    import ir_measures
    from ir_measures import RR, R, ScoredDoc, Success

    qrels, run = [], []
    for r in records:
        if not r.get("answerable", True) or not r.get("evidence"):
            continue
        rel = relevant_ids(r)
        if not rel:
            continue
        qid = case_key(r)
        qrels += [ir_measures.Qrel(qid, cid, 1) for cid in sorted(rel)]
        retrieved = r.get("retrieved", [])
        # Score by rank, not by the system's score: ties or unsorted scores must not reorder the run.
        run += [ScoredDoc(qid, p["chunk_id"], float(len(retrieved) - i)) for i, p in enumerate(retrieved)]
    if not qrels:
        return {}
    measures = [Success @ k, R @ k, RR @ k]
    got: dict[str, dict[str, float]] = {q.query_id: {} for q in qrels}
    if run:
        for m in ir_measures.iter_calc(measures, qrels, run):
            got.setdefault(m.query_id, {})[str(m.measure)] = float(m.value)
    names = [str(m) for m in measures]
    return {q: tuple(v.get(n, 0.0) for n in names) for q, v in got.items()}  # type: ignore[misc]


def is_forbidden(citation: dict[str, Any], forbidden: Iterable[str]) -> bool:
    """A chunk id ("doc::hash::00003") matches exactly; anything else is a phrase found in the cited text."""
    for f in forbidden:
        if "::" in f and citation.get("chunk_id") == f:
            return True
        if "::" not in f and contains(citation.get("text", ""), f):
            return True
    return False


def answerability(record: dict[str, Any]) -> bool | None:
    """Whether the case is answerable: False when it says so, None for a citation-only case (only
    `forbidden_citations`: it checks what is cited, and says nothing about whether the documents answer the
    question), else True. Answerable/unanswerable counts and abstention metrics leave None cases out."""
    if not record.get("answerable", True):
        return False
    if record.get("forbidden_citations") and not record.get("accepted_answers") and not record.get("key_points"):
        return None
    return True


def case_key(record: dict[str, Any]) -> str:
    return f"{record.get('suite', '')}/{record['id']}"


def _known_bad(cites: list[dict[str, Any]], forbidden: list[str], reasons: list[str]) -> int:
    n = sum(is_forbidden(c, forbidden) for c in cites)
    if n:
        reasons.append(f"cited {n} passage(s) a reader marked as not supporting this")
    return n


def _precise_citations(cites: list[dict[str, Any]], sentences: list[dict[str, Any]], evidence: list[str],
                       forbidden: list[str]) -> int:
    """Citations whose passage holds evidence or lexically supports the sentence citing it; a citation a
    reader marked as not supporting its sentence (forbidden_citations) is never precise."""
    precise = 0
    for c in cites:
        if is_forbidden(c, forbidden):
            continue
        citing = [s["text"] for s in sentences if c.get("marker") in s.get("markers", [])]
        if (evidence and contains_any(c.get("text", ""), evidence)) or any(
            lexical_support(s, c.get("text", "")) >= SUPPORT_OVERLAP for s in citing
        ):
            precise += 1
    return precise


# Failure causes, most upstream first: a failed case gets the first that applies (docs/evaluation.md).
CAUSES: dict[str, str] = {
    "error": "the question raised an error",
    "retrieval miss": "no retrieved passage holds the evidence (answerable case)",
    "gate abstained": "the evidence gate refused before generation, although a retrieved passage holds the evidence",
    "generator abstained": "the generator (or its verifier) found no answering sentence in passages that hold the evidence",
    "wrong sentence": "answered from sentences that hold neither an accepted answer nor an evidence phrase",
    "partial answer": "the answer quotes an evidence phrase but no accepted answer: part of a multi-part answer, "
                      "or an accepted answer missing from the case (check the gold)",
    "answered unanswerable": "answered a question the sources do not settle (the gate and generator both let it through)",
    "goals unmet": "an open answer misses key points, citations or length, or repeats what the conversation "
                   "already showed",
    "citation": "correct answer, but the citations miss the evidence or cite a passage marked as not supporting it",
}


def failure_cause(record: dict[str, Any], passed: bool, hit: float | None) -> str:
    """The CAUSES key of a failed case ("" when it passed): where in the pipeline to look first."""
    if passed:
        return ""
    if record.get("error"):
        return "error"
    if not record.get("answerable", True) and not record.get("abstained"):
        return "answered unanswerable"
    if not record.get("answerable", True):
        return "citation" if score_goals(record).met else "goals unmet"
    if answerability(record) is None:  # a citation-only case fails only on what it cited
        return "citation"
    if hit == 0.0:
        return "retrieval miss"
    if record.get("abstained"):
        generator = re.search(r"\bgenerator found no answer|\bdraft failed verification", record.get("abstain_reason", ""))
        return "generator abstained" if generator else "gate abstained"
    if not score_goals(record).met:
        return "goals unmet"
    answer = strip_markers(record.get("answer", ""))
    if contains_any(answer, record.get("accepted_answers") or []):
        return "citation"
    return "partial answer" if contains_any(answer, record.get("evidence") or []) else "wrong sentence"


def _correctness(record: dict[str, Any], answer: str, accepted: list[str], goals: GoalScore,
                 reasons: list[str]) -> tuple[bool | None, float | None]:
    """(correct, f1) of an answerable case, (None, None) where they do not apply; appends why it failed."""
    answerable, abstained = record.get("answerable", True), bool(record.get("abstained"))
    correct = f1 = None
    if answerable and (accepted or goals.total):  # else a citation-only case: what is cited is checked
        found = contains_any(answer, accepted) if accepted else True
        correct = not abstained and not record.get("error") and found and goals.met
        f1 = 0.0 if abstained or not accepted else max(token_f1(answer, a) for a in accepted)
        if abstained:
            reasons.append("abstained on an answerable question")
        elif not found:
            reasons.append("no accepted answer in the answer")
    elif not answerable and not abstained:
        reasons.append("answered a question the sources do not settle")
    if not abstained or not answerable:
        reasons.extend(goals.reasons)
    return correct, f1


def score_case(record: dict[str, Any], retrieval: tuple[float, float, float] | None) -> CaseScore:
    answerable = record.get("answerable", True)
    abstained = bool(record.get("abstained"))
    answer = strip_markers(record.get("answer", ""))
    accepted = record.get("accepted_answers") or []
    evidence = record.get("evidence") or []
    reasons: list[str] = []
    if record.get("error"):
        reasons.append(f"error: {record['error']}")

    goals = score_goals(record)
    correct, f1 = _correctness(record, answer, accepted, goals, reasons)

    cites = record.get("citations", [])
    citation_ok = None
    if answerable and correct and evidence:
        citation_ok = any(contains_any(c.get("text", ""), evidence) for c in cites)
        if not citation_ok:
            reasons.append("no cited passage contains the evidence")

    sentences = record.get("sentences") or []
    forbidden = record.get("forbidden_citations") or []
    precise = 0 if abstained else _precise_citations(cites, sentences, evidence, forbidden)
    n_sent = 0 if abstained else len(sentences)
    n_unsup = 0 if abstained else len(record.get("unsupported_sentences") or [])
    if n_unsup:
        reasons.append(f"{n_unsup} unsupported sentence(s)")

    known_bad = 0 if abstained else _known_bad(cites, forbidden, reasons)
    hit, rec, rr = retrieval if retrieval is not None else (None, None, None)
    passed = (bool(correct) if accepted or goals.total else True) if answerable else abstained and goals.met
    passed = passed and not known_bad and not record.get("error")
    return CaseScore(
        passed=passed,
        correct=correct,
        f1=f1,
        hit=hit,
        recall=rec,
        rr=rr,
        citation_ok=citation_ok,
        citations=0 if abstained else len(cites),
        precise_citations=precise,
        sentences=n_sent,
        unsupported=n_unsup,
        reasons=reasons,
        known_bad=known_bad,
        forbids=bool(forbidden),
        cause=failure_cause(record, passed, hit),
        key_points=goals.share,
    )


def score_cases(records: list[dict[str, Any]], k: int) -> dict[str, CaseScore]:
    ret = retrieval_scores(records, k)
    return {case_key(r): score_case(r, ret.get(case_key(r))) for r in records}


def _mean(values: Iterable[float | bool | None]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def aggregate(records: list[dict[str, Any]], scores: dict[str, CaseScore]) -> dict[str, Any]:
    """All metrics over a group of cases. A metric with nothing to measure in the group is None."""
    s = [scores[case_key(r)] for r in records]
    # abstention is scored on the cases whose answerability is known (not on citation-only cases)
    known = [(a, bool(r.get("abstained"))) for r in records if (a := answerability(r)) is not None]
    answerable = [a for a, _ in known]
    abstained = [ab for _, ab in known]
    n_unans = sum(not a for a in answerable)
    n_abst = sum(abstained)
    true_abst = sum(ab and not an for ab, an in zip(abstained, answerable, strict=True))
    lat = [float(r["latency_ms"]) for r in records if r.get("latency_ms") is not None]
    stages: dict[str, list[float]] = {}
    for r in records:
        for stage, ms in (r.get("timings") or {}).items():
            stages.setdefault(stage, []).append(float(ms))
    out: dict[str, Any] = {
        "pass_rate": _mean(x.passed for x in s),
        "answer_correctness": _mean(x.correct for x in s),
        "answer_f1": _mean(x.f1 for x in s),
        "hit_at_k": _mean(x.hit for x in s),
        "recall_at_k": _mean(x.recall for x in s),
        "mrr": _mean(x.rr for x in s),
        "key_points_covered": _mean(x.key_points for x in s),
        "citation_recall": _mean(x.citation_ok for x in s),
        "citation_precision": _ratio(sum(x.precise_citations for x in s), sum(x.citations for x in s)),
        "known_bad_citation_rate": _ratio(sum(x.known_bad for x in s), sum(x.citations for x in s if x.forbids)),
        "unsupported_share": _ratio(sum(x.unsupported for x in s), sum(x.sentences for x in s)),
        "abstention_accuracy": _mean(ab != an for ab, an in zip(abstained, answerable, strict=True)),
        "abstention_precision": _ratio(true_abst, n_abst),
        "abstention_recall": _ratio(true_abst, n_unans),
        "false_abstention_rate": _ratio(n_abst - true_abst, len(known) - n_unans),
        "latency_p50_ms": _pct(lat, 50),
        "latency_p95_ms": _pct(lat, 95),
        "stages_ms": {k: {"p50": _pct(v, 50), "p95": _pct(v, 95)} for k, v in sorted(stages.items())},
        "counts": {
            "cases": len(records),
            "answerable": len(known) - n_unans,
            "unanswerable": n_unans,
            "citation_only": len(records) - len(known),
            "abstained": sum(bool(r.get("abstained")) for r in records),
            "passed": sum(x.passed for x in s),
            "errors": sum(bool(r.get("error")) for r in records),
            "retrieval_scored": sum(x.hit is not None for x in s),
        },
        "causes": {c: n for c in CAUSES if (n := sum(x.cause == c for x in s))},
    }
    return out


def summarize(records: list[dict[str, Any]], k: int | None = None) -> tuple[dict[str, Any], dict[str, CaseScore]]:
    """summary.json content (overall, per tag, per suite) and the per-case scores."""
    if k is None:
        k = max((len(r.get("retrieved", [])) for r in records), default=1) or 1
    scores = score_cases(records, k)
    by_tag: dict[str, list[dict[str, Any]]] = {}
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        for t in r.get("tags") or []:
            by_tag.setdefault(t, []).append(r)
        by_suite.setdefault(r.get("suite", ""), []).append(r)
    generators = sorted({r.get("generator", "") for r in records})
    warnings = [
        f"case {case_key(r)}: no indexed passage contains any of its evidence phrases; check the suite"
        for r in records
        if r.get("answerable", True) and r.get("evidence") and "relevant_chunk_ids" in r and not r["relevant_chunk_ids"]
    ]
    summary = {
        "k": k,
        "generator": ", ".join(generators),
        "overall": aggregate(records, scores),
        "by_tag": {t: aggregate(rs, scores) for t, rs in sorted(by_tag.items())},
        "by_suite": {n: aggregate(rs, scores) for n, rs in by_suite.items()} if len(by_suite) > 1 else {},
        "warnings": warnings,
        "definitions": {name: d for name, (_, d) in METRICS.items()},
    }
    return summary, scores
