"""Run suites through the assistant and write results.jsonl, summary.json, report.md and report.html.

The runner talks to the assistant only through `ask(question, history)` (and `warm_up()` when it has
one), so it measures exactly what a user gets. It also reads every chunk of the index once, to know
which passages contain each case's evidence: recall@k needs the full relevant set, not only the
retrieved part of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import GeneratorError, InputError, RagError
from core.types import Answer, Turn
from rag.eval.matching import contains_any
from rag.eval.metrics import CaseScore, case_key, summarize
from rag.eval.report import render_html, render_markdown
from rag.eval.suite import Case, Suite
from rag.generate.priority import background

# progress(done, total, case_id): the UI's hook; called after each case.
ProgressFn = Callable[[int, int, str], None]


class Asker(Protocol):
    def ask(self, question: str, history: list[Turn] | None = None) -> Answer: ...


@dataclass
class RunResult:
    out_dir: Path
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    scores: dict[str, CaseScore]


def _citations(answer: Answer | None) -> list[dict[str, Any]]:
    return [{"marker": c.marker, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "start": c.start, "end": c.end,
             "text": c.text, "title": c.title} for c in (answer.citations if answer else [])]


def answer_record(
    case: Case,
    suite: str,
    answer: Answer | None,
    latency_ms: float,
    generator: str = "",
    relevant_chunk_ids: list[str] | None = None,
    error: str = "",
) -> dict[str, Any]:
    """One results.jsonl line. The issue's field names come first; other tools rely on them."""
    rec: dict[str, Any] = {
        "id": case.id,
        "question": case.question,
        "answer": answer.text if answer else "",
        "abstained": bool(answer.abstained) if answer else False,
        "citations": _citations(answer),
        "retrieved": [
            {"chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "score": p.score, "text": p.chunk.text}
            for p in (answer.retrieved if answer else [])
        ],
        "unsupported_sentences": answer.unsupported_sentences if answer else [],
        "latency_ms": round(latency_ms, 2),
        "generator": (answer.generator if answer else "") or generator,
        # --- beyond the required fields: what scoring and the reports need ---
        "suite": suite,
        "answerable": case.answerable,
        "accepted_answers": list(case.answers),
        "evidence": list(case.evidence),
        "tags": list(case.tags),
        "history": [{"role": t.role, "content": t.content} for t in case.history],
        "sentences": [
            {"text": s.text, "markers": list(s.markers), "supported": s.supported, "support": s.support}
            for s in (answer.sentences if answer else [])
        ],
        "timings": dict(answer.timings) if answer else {},
        "query": answer.query if answer else "",
        "abstain_reason": answer.abstain_reason if answer else "",
        "notice": answer.notice if answer else "",
        "draft": answer.draft if answer else "",
        "answered_plan": answer.plan if answer else "",
        "error": error,
    }
    if relevant_chunk_ids is not None:
        rec["relevant_chunk_ids"] = relevant_chunk_ids
    if case.forbidden_citations:
        rec["forbidden_citations"] = list(case.forbidden_citations)
    if case.feedback_ids:
        rec["feedback_ids"] = list(case.feedback_ids)
    rec.update(case.goals.to_dict())
    return rec


_SLUG_KEEP = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def new_run_dir(runs_root: str | Path, suite_name: str) -> Path:
    """A fresh folder for one run: <timestamp>-<slug of the suite name>, always directly inside runs_root.

    The suite name is user data (an uploaded suite's `name`), so only [a-z0-9-] of it survive: a name like
    "../../outside" becomes "outside" and can never leave runs_root.
    """
    root = Path(runs_root).resolve()
    kept = "".join(ch if ch in _SLUG_KEEP else " " for ch in suite_name.lower()[:200])
    slug = "-".join(kept.split())[:48].strip("-") or "suite"
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
    out = (root / f"{stamp}-{slug}").resolve()
    if out.parent != root:  # cannot happen with the slug above; a guard against a future edit
        raise InputError(f"refusing to write an evaluation run outside {root}")
    return out


def corpus_chunks(store: Any, collections: tuple[str, ...] | None = None) -> list[tuple[str, str]] | None:
    """(chunk_id, text) of every indexed chunk (for relevance by evidence) in `collections` (None: all),
    or None without a store."""
    if store is None:
        return None
    out = []
    for doc in store.documents():
        if collections is not None and getattr(doc, "collection", None) not in collections:
            continue  # a passage the assistant cannot see is not a miss
        doc_id = doc if isinstance(doc, str) else doc.doc_id
        out += [(ch.chunk_id, ch.text) for ch in store.chunks_of(doc_id)]
    return out


def _ask_case(assistant: Asker, case: Case, suite: str, generator: str,
              chunks: list[tuple[str, str]] | None) -> dict[str, Any]:
    """One case asked and recorded, with the passages of the corpus that hold its evidence."""
    relevant = None
    if chunks is not None:
        relevant = [cid for cid, text in chunks if case.evidence and contains_any(text, case.evidence)]
    answer, error = None, ""
    t0 = time.perf_counter()
    try:
        answer = assistant.ask(case.question, list(case.history) or None)
    # A refused question or a failing LLM is this case's failure; a broken index or store
    # (other RagErrors) would fail every case alike, so it stops the run with its own message.
    except (InputError, GeneratorError) as e:
        error = f"{type(e).__name__}: {e}"
    latency = (time.perf_counter() - t0) * 1000
    return answer_record(case, suite, answer, latency, generator, relevant, error)


def run_suites(
    suites: list[Suite],
    assistant: Asker,
    out_dir: str | Path,
    *,
    k: int | None = None,
    progress: ProgressFn | None = None,
    show_bar: bool = True,
    run_info: dict[str, Any] | None = None,
    store: Any = None,
    collections: tuple[str, ...] | None = None,
) -> RunResult:
    """Ask every case, score, and write the four output files into out_dir. `collections`: those the
    assistant asks (settings.collection_names), so relevance counts only passages it could retrieve."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(assistant, "warm_up"):
        assistant.warm_up()  # model loading must not be billed to the first case's latency
    chunks = corpus_chunks(store, collections)
    generator = str(getattr(assistant, "generator_name", ""))
    total = sum(len(s.cases) for s in suites)
    records: list[dict[str, Any]] = []
    started = datetime.now(UTC).isoformat(timespec="seconds")
    # Cases stream to a partial file as they finish, so a long run that dies or is stopped leaves its work.
    partial = out / "results.partial.jsonl"
    # background(): every generation of the run yields the model to a waiting chat user (rag.generate.priority)
    with tqdm(total=total, desc="eval", unit="case", disable=not show_bar) as bar, \
            partial.open("w", encoding="utf-8") as part, background():
        for suite in suites:
            for case in suite.cases:
                bar.set_postfix_str(case.id[:30])
                records.append(_ask_case(assistant, case, suite.name, generator, chunks))
                part.write(json.dumps(records[-1], ensure_ascii=False) + "\n")
                part.flush()
                bar.update(1)
                if progress is not None:
                    progress(len(records), total, case.id)
    info = {"suites": [s.name for s in suites], "suite_paths": [s.path for s in suites], "started_at": started}
    info.update(run_info or {})
    result = write_run(out, records, k=k, run_info=info)
    partial.unlink(missing_ok=True)
    return result


def write_run(
    out_dir: str | Path, records: list[dict[str, Any]], *, k: int | None = None, run_info: dict[str, Any] | None = None
) -> RunResult:
    """Score records and write results.jsonl (with per-case scores), summary.json and both reports."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, scores = summarize(records, k)
    summary["run"] = run_info or {}
    with (out / "results.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            s = scores[case_key(r)]
            line = dict(r, passed=s.passed, scores=s.to_dict())
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str), "utf-8")
    (out / "report.md").write_text(render_markdown(summary, records, scores), "utf-8")
    (out / "report.html").write_text(render_html(summary, records, scores), "utf-8")
    return RunResult(out_dir=out, records=records, summary=summary, scores=scores)


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """summary.json and the records of results.jsonl of a finished run."""
    d = Path(run_dir)
    summary_path, results_path = d / "summary.json", d / "results.jsonl"
    for p in (summary_path, results_path):
        if not p.is_file():
            raise RagError(f"{p} not found: is {d} the --out directory of a finished `python -m rag eval` run?")
    try:
        summary = json.loads(summary_path.read_text("utf-8"))
        records = [json.loads(line) for line in results_path.read_text("utf-8").splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise RagError(f"{d}: summary.json or results.jsonl is not valid JSON ({e}); re-run the evaluation") from e
    return summary, records
