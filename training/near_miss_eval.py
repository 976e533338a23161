"""`python -m training near-miss`: near-miss abstention by kind, with and without the question-side guard.

The near misses of training/near_miss_data.py, made from the SQuAD TEST articles (the reader's split, seed
18; never used for training or thresholds), go through the product's own reader as shipped (the cascade:
trees shortlist, cross-encoder rerank, answer types, answer threshold from data/reader/reader.json). A case
is answered when the best sentence reaches the threshold; with the guard it must also meet the question's
constraints (rag/verify/question.py: the best sentence, the text before it in its passage, the title).
Answerable test questions against their retrieval-like pools give the false abstention and the top-1
(the best sentence holds a gold answer). Nothing is fitted here.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from training.near_miss_data import KINDS, Case, cases


def _scorer(cache: Path):
    from index.embedding import SentenceTransformerEmbedder
    from rag.reader.evidence import SentenceBank
    from rag.reader.learned import Reader
    from rag.reader.scorers import CascadeScorer, HeuristicScorer
    from training.reader_data import CachedEmbedder

    embedder = CachedEmbedder(SentenceTransformerEmbedder(), cache)
    bank = SentenceBank(embedder, max_chunks=10**6)
    reader = Reader(embedder, bank, cascade=True)
    return CascadeScorer(reader, HeuristicScorer(bank, min_dense=0.0, min_lexical=0.0, support_threshold=0.5)), embedder


def judge(case: Case, scorer, embedder, guard) -> dict:
    """The reader's decision on one case, and the guard's."""
    from rag.verify.question import Evidence

    q_vec = embedder.embed([case.question])[0]
    ranked = scorer.rank(case.question, case.question, list(case.chunks), q_vec)
    best = ranked[0] if ranked else None
    answered = best is not None and best.score >= scorer.selection().min_score
    row = {"kind": case.kind, "qid": case.qid, "question": case.question, "reader_abstained": not answered,
           "guard": "", "hit": False}
    if best is None:
        return row
    chunk = case.chunks[best.passage]
    at = max(chunk.text.find(best.text), 0)
    row["sentence"] = best.text
    row["hit"] = any(g.casefold() in best.text.casefold() for g in case.gold)
    if answered:
        row["guard"] = guard.unmet(case.question, [Evidence(best.text, best.text, f"{chunk.title}. {chunk.text[:at]}",
                                                            chunk.text)])
    return row


def figures(rows: list[dict]) -> dict:
    """Abstention by kind, reader alone and reader + guard; false abstention and top-1 on answerable ones."""
    out: dict = {}
    for kind in (*KINDS, "answerable"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        reader = sum(r["reader_abstained"] for r in rs) / len(rs)
        guarded = sum(r["reader_abstained"] or bool(r["guard"]) for r in rs) / len(rs)
        name = "false_abstention" if kind == "answerable" else "abstention"
        out[kind] = {"cases": len(rs), f"{name}_reader": round(reader, 4), f"{name}_with_guard": round(guarded, 4)}
        if kind == "answerable":
            out[kind]["top1"] = round(sum(r["hit"] for r in rs) / len(rs), 4)
            out[kind]["answered_and_right_with_guard"] = round(
                sum(r["hit"] and not r["reader_abstained"] and not r["guard"] for r in rs) / len(rs), 4)
    near = [r for r in rows if r["kind"] != "answerable"]
    if near:
        out["near_miss_overall"] = {
            "cases": len(near),
            "abstention_reader": round(sum(r["reader_abstained"] for r in near) / len(near), 4),
            "abstention_with_guard": round(sum(r["reader_abstained"] or bool(r["guard"]) for r in near) / len(near), 4),
            # each kind counted equally: the kinds differ in size by an order of magnitude
            "abstention_with_guard_macro": round(
                sum(out[k]["abstention_with_guard"] for k in KINDS if k in out) / sum(k in out for k in KINDS), 4)}
    return out


def run(squad: Path, cache: Path, out: Path | None, *, every: int = 4, split: str = "test",
        log: Callable[[str], None] = print) -> dict:
    from rag.verify.question import ConstraintGuard
    from training.reader_data import build_articles, split_articles
    from training.squad import load_squad

    t0 = time.time()
    arts = split_articles(build_articles(load_squad(squad, "near-miss")))[split]
    scorer, embedder = _scorer(cache)
    from training.reader_data import prepare

    prepare(arts, embedder)
    made = cases(arts, every=every)
    log(f"{len(made)} cases from {len(arts)} {split} articles: {dict(Counter(c.kind for c in made))}")
    guard = ConstraintGuard()
    rows = []
    for n, c in enumerate(made):
        rows.append(judge(c, scorer, embedder, guard))
        if n % 200 == 0:
            log(f"  {n}/{len(made)} ({time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f})")
    embedder.save()
    result = {"split": split, "every": every, "figures": figures(rows), "seconds": round(time.time() - t0, 1),
              "load": round(os.getloadavg()[0], 1)}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    log(json.dumps(result["figures"], indent=1))
    return result
