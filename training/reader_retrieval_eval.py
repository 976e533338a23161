"""The reader measured through the product's own pipeline, on SQuAD test articles only.

An index holds the first test articles (and the bundled article); their questions are answerable.
Questions of the remaining test articles are not. Every question goes through the real hybrid retriever
(top k passages of 700-character chunks, not SQuAD paragraphs), the real gate and the extractive
generator, once with the learned reader and once with the heuristic (settings.reader). A hit is an
answer whose text contains one of SQuAD's gold answers; top-1 is the generator's best sentence.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.types import GenerationRequest


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(",", "").split())


def _hit(text: str, answers: list[str]) -> bool:
    t = _norm(text)
    return any(_norm(a) in t for a in answers)


def _sample(items: list, n: int) -> list:
    return sorted(items, key=lambda q: hashlib.sha256(q.qid.encode()).hexdigest())[:n]


def retrieval_eval(test_arts: list, *, n_in: int = 5, n_answerable: int = 200, n_unanswerable: int = 100,
                   log: Callable[[str], None] = print) -> dict:
    from core.settings import load_settings
    from index.pipeline import Indexer
    from rag import Assistant

    ingested, held = test_arts[:n_in], test_arts[n_in:]
    answerable = _sample([q for a in ingested for q in a.questions], n_answerable)
    unanswerable = _sample([q for a in held for q in a.questions], n_unanswerable)
    out: dict = {"ingested": [a.title for a in ingested], "held_out": [a.title for a in held],
                 "answerable": len(answerable), "unanswerable": len(unanswerable)}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for a in ingested:
            body = "\n\n".join(c.text for c in a.chunks)
            (docs / f"{a.title}.txt").write_text(f"{a.title.replace('_', ' ')}\n\n{body}\n", "utf-8")
        base = load_settings({"data_dir": Path(tmp) / "data", "generator": "extractive"}, env={})
        indexer = Indexer.from_settings(base)
        indexer.build_bundled()
        indexer.add([docs])
        for mode in ("learned", "heuristic"):
            s = load_settings({"data_dir": Path(tmp) / "data", "generator": "extractive", "reader": mode}, env={})
            assistant = Assistant.from_settings(s)
            assistant.warm_up()
            out[mode] = _measure(assistant, answerable, unanswerable, s.k)
            log(f"retrieval eval ({mode}): {out[mode]}")
    return out


def _measure(assistant, answerable: list, unanswerable: list, k: int) -> dict:
    gen = assistant.generator
    top1 = in_top_k = correct = false_abstain = 0
    for q in answerable:
        golds = [t for t, _ in q.answers]
        retrieval = assistant.retriever.search(q.text, k)
        if any(_hit(p.chunk.text, golds) for p in retrieval.passages):
            in_top_k += 1
        cands = gen.candidates(GenerationRequest(question=q.text, query=q.text, passages=retrieval.passages))
        top1 += bool(cands) and _hit(cands[0].text, golds)
        a = assistant.ask(q.text)
        false_abstain += a.abstained
        correct += (not a.abstained) and _hit(a.text, golds)
    abstained = sum(assistant.ask(q.text).abstained for q in unanswerable)
    n, m = len(answerable), len(unanswerable)
    return {"top1": round(top1 / n, 4), "answer_in_top_k_passages": round(in_top_k / n, 4),
            "top1_when_in_top_k": round(top1 / max(1, in_top_k), 4),
            "answer_correct": round(correct / n, 4), "false_abstention": round(false_abstain / n, 4),
            "abstention_recall": round(abstained / m, 4),
            "abstention_accuracy": round((n - false_abstain + abstained) / (n + m), 4)}
