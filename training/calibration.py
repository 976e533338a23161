"""`python -m training calibrate`: choose the abstention and support thresholds on labelled examples.

A dev command: it reads SQuAD v1.1 dev from ../shared (the project itself runs without it) and writes
data/calibration.json plus data/calibration.md; the chosen values are then the defaults in core/settings.py.

- Abstention. A fixed sample of SQuAD articles is ingested with the bundled article. Questions of the
  ingested articles are answerable; questions of the other articles are not. Every question goes through
  the real retriever and the real gate, over a grid of (abstain_min_dense, abstain_min_lexical).
- Support. For each sampled question, two claims: the answer-bearing sentence, and "question + answer"
  (a paraphrase-like claim, closer to what an LLM writes). Each is scored against its own paragraph
  (positive) and two other paragraphs of the same article (hard negatives) with rag.verify.evidence.support.
  The bundled article adds hand-written paraphrase claims.

Selection: the grid point with the best accuracy on a class-balanced set; ties go to the lower threshold
(fewer false abstentions / fewer flags on true sentences).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.language.terms import term_set
from core.settings import PROJECT_ROOT, load_settings
from core.types import Chunk
from rag.gate.abstention import EvidenceGate
from rag.reader.evidence import SentenceBank, support
from rag.reader.scorers import HeuristicScorer
from training.squad import SQUAD, load_squad

OUT = PROJECT_ROOT / "data" / "calibration.json"
INGESTED = ["Warsaw", "Normans", "Computational_complexity_theory", "Southern_California", "Sky_(United_Kingdom)"]

# The bundled article: (question, answerable). Unanswerable ones include plausible questions the article
# does not settle and questions about the blog boilerplate stripped at ingest.
ARTICLE_QUESTIONS = [
    ("How many shipping containers has Russia received from North Korea?", True),
    ("When was North Korea's mutual defense treaty with China signed?", True),
    ("Where does Liu Dongshu teach?", True),
    ("Who is Yun Sun?", True),
    ("How did Japan react to the defense pact?", True),
    ("What did the Chinese Foreign Ministry say about the treaty?", True),
    ("Who is Edward Howell?", True),
    ("Which country is the largest trade partner of Russia and North Korea?", True),
    ("What did Putin rail against after meeting Kim?", True),
    ("What is China's only formal military alliance treaty?", True),
    ("What is the capital of France?", False),
    ("Who are the characters in the BBC documentary on TB Joshua?", False),
    ("Why did the NBA suspend Joshua Primo?", False),
    ("Which Chelsea players were mixed up on Sky Sports?", False),
    ("How many troops has North Korea sent to Ukraine?", False),
    ("What is the population of North Korea?", False),
    ("How do I bake sourdough bread?", False),
    ("What is the GDP of Iran?", False),
]
# (claim, a verbatim phrase of the passage that supports it)
ARTICLE_CLAIMS = [
    ("North Korea shipped more than 10,000 containers of munitions to Russia.", "10,000 shipping containers"),
    ("The treaty between China and North Korea dates from 1961 and is still in force.", "also signed in 1961"),
    ("Liu Dongshu teaches Chinese politics at City University of Hong Kong.", "City University of Hong Kong"),
    ("Yun Sun leads the China program of the Stimson Center.", "director of the China program"),
    ("Japan expressed grave concerns about the military cooperation.", "grave concerns"),
    ("China's foreign ministry would not comment, calling it a bilateral matter.", "declined to comment"),
    ("Edward Howell lectures in politics at Oxford.", "University of Oxford"),
    ("China is the biggest trading partner of both countries.", "largest trade partner"),
]


def _hash_order(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _sample(items: list, n: int, key: Callable) -> list:
    """A fixed sample: the n items with the smallest hash of their key (no RNG)."""
    return sorted(items, key=lambda x: _hash_order(key(x)))[:n]


def _metrics(pred: list[bool], gold: list[bool]) -> dict:
    pred, gold = [bool(p) for p in pred], [bool(g) for g in gold]
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    tn = len(gold) - tp - fp - fn
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"accuracy": round((tp + tn) / len(gold), 4), "precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _best(grid: list[dict], keys: tuple[str, ...]) -> dict:
    return max(grid, key=lambda r: (r["accuracy"], r["f1"], *(-r[k] for k in keys)))


def _gate(min_dense: float, min_lexical: float) -> EvidenceGate:
    """The heuristic gate at one grid point (its answerability reads no sentence bank)."""
    return EvidenceGate(HeuristicScorer(None, min_dense=min_dense, min_lexical=min_lexical,  # type: ignore[arg-type]
                                        support_threshold=0.0))


def calibrate_abstention(assistant, questions: list[tuple[str, bool]], k: int) -> dict:
    """Grid-search the gate. questions: (text, answerable)."""
    retrievals = [(q, ok, assistant.retriever.search(q, k)) for q, ok in questions]
    gold = [not ok for _, ok, _ in retrievals]  # positive class: should abstain
    grid = []
    # just below 1/3, 1/2, 2/3: "two of the question's three words are in one passage" is 0.667 >= 0.66
    for min_lex in (0.33, 0.5, 0.66, 0.75, 1.01):
        for min_dense in np.round(np.arange(0.10, 0.625, 0.025), 3):
            gate = _gate(float(min_dense), min_lex)
            pred = [gate.check(q, r).abstain for q, _, r in retrievals]
            grid.append({"abstain_min_dense": float(min_dense), "abstain_min_lexical": min_lex, **_metrics(pred, gold)})
    best = _best(grid, ("abstain_min_dense", "abstain_min_lexical"))
    dense_scores = {
        "answerable": [round(r.best_dense, 4) for _, ok, r in retrievals if ok],
        "unanswerable": [round(r.best_dense, 4) for _, ok, r in retrievals if not ok],
    }
    gate = _gate(best["abstain_min_dense"], best["abstain_min_lexical"])
    signals = []
    for q, ok, r in retrievals:
        d = gate.check(q, r)
        signals.append({"question": q, "answerable": ok, "best_dense": round(d.best_dense, 4),
                        "lexical": round(d.lexical, 4), "abstains": d.abstain, "reason": d.reason})
    return {"chosen": best, "grid": grid, "best_dense": dense_scores, "signals": signals}


def calibrate_support(bank: SentenceBank, claims: list[tuple[str, Chunk, bool]]) -> dict:
    """Grid-search the support threshold. claims: (claim text, passage, supports?)."""
    vecs = bank.embedder.embed([c for c, _, _ in claims])
    css = bank.get([ch for _, ch, _ in claims])
    scores = [float(support(v, term_set(c), cs).score) for (c, _, _), v, cs in zip(claims, vecs, css, strict=True)]
    gold = [ok for _, _, ok in claims]
    grid = []
    for t in np.round(np.arange(0.30, 0.905, 0.025), 3):
        grid.append({"support_threshold": float(t), **_metrics([s >= float(t) for s in scores], gold)})
    best = _best(grid, ("support_threshold",))
    return {"chosen": best, "grid": grid,
            "scores": {"positive": [round(s, 4) for s, g in zip(scores, gold, strict=True) if g],
                       "negative": [round(s, 4) for s, g in zip(scores, gold, strict=True) if not g]}}


def _support_claims(articles: list[dict], qas: list[tuple[dict, dict, dict]], article_chunks: list[Chunk]):
    from index.sentences import split_sentences

    claims: list[tuple[str, Chunk, bool]] = []
    para_chunks: dict[tuple[str, int], Chunk] = {}
    for a in articles:
        for i, p in enumerate(a["paragraphs"]):
            para_chunks[(a["title"], i)] = Chunk(f"squad:{a['title']}:{i}", a["title"], a["title"], i, 0,
                                                 len(p["context"]), p["context"])
    for a, p, qa in qas:
        i = a["paragraphs"].index(p)
        ctx = p["context"]
        ans = qa["answers"][0]
        sent = next((ctx[s:e] for s, e in split_sentences(ctx) if s <= ans["answer_start"] < e), None)
        own = para_chunks[(a["title"], i)]
        others = _sample([c for (t, j), c in para_chunks.items() if t == a["title"] and j != i], 2,
                         key=lambda c, q=qa["id"]: q + c.chunk_id)
        qa_claim = f"{qa['question'].rstrip('?')}: {ans['text']}."
        for claim in [c for c in (sent, qa_claim) if c]:
            claims.append((claim, own, True))
            claims.extend((claim, o, False) for o in others)
    for claim, phrase in ARTICLE_CLAIMS:
        for c in article_chunks:
            claims.append((claim, c, phrase in c.text))
    return claims


def run_calibration(*, squad: str | None = None, out: str | None = None, n_articles: int = 5,
                    n_questions: int = 120, data_dir: str | None = None,
                    log: Callable[[str], None] = print) -> dict:
    path = Path(squad) if squad else SQUAD
    data = load_squad(path, "calibrate")
    by_title = {a["title"]: a for a in data["data"]}
    chosen_titles = INGESTED[:n_articles]
    ingested = [by_title[t] for t in chosen_titles]
    held_out = [a for a in data["data"] if a["title"] not in chosen_titles]

    with tempfile.TemporaryDirectory() as tmp:
        settings, indexer, assistant = _index(Path(data_dir or tmp), ingested, log)
        qa_in = [(a, p, qa) for a in ingested for p in a["paragraphs"] for qa in p["qas"]]
        qa_out = [(a, p, qa) for a in held_out for p in a["paragraphs"] for qa in p["qas"]]
        qa_in = _sample(qa_in, n_questions, key=lambda x: x[2]["id"])
        qa_out = _sample(qa_out, n_questions, key=lambda x: x[2]["id"])
        questions = [(qa["question"], True) for _, _, qa in qa_in] + [(qa["question"], False) for _, _, qa in qa_out]
        questions += ARTICLE_QUESTIONS
        log(f"abstention: {len(questions)} questions")
        abst = calibrate_abstention(assistant, questions, settings.k)

        article_doc = next(d for d in indexer.documents() if d.doc_id.startswith("elephant"))
        article_chunks = indexer.store.chunks_of(article_doc.doc_id)
        claims = _support_claims(ingested, qa_in, article_chunks)
        log(f"support: {len(claims)} claim-passage pairs")
        sup = calibrate_support(assistant.verifier.bank, claims)

    sample = {"squad_file": path.name, "ingested_articles": chosen_titles,
              "answerable_questions": len(qa_in), "unanswerable_questions": len(qa_out),
              "article_questions": len(ARTICLE_QUESTIONS), "k": settings.k,
              "selection": "max accuracy on the labelled set, ties to the lower threshold"}
    result = _result(settings.embed_model, sample, abst, sup)
    _write(result, Path(out) if out else OUT, log)
    return result


def _index(root: Path, ingested: list[dict], log: Callable[[str], None]):
    """A scratch index of the ingested SQuAD articles (one text file each) and the bundled article, and an
    assistant opened over it."""
    from index.pipeline import Indexer
    from rag import Assistant

    docs = root / "squad-docs"
    docs.mkdir(parents=True, exist_ok=True)
    for a in ingested:
        body = "\n\n".join(p["context"] for p in a["paragraphs"])
        (docs / f"{a['title']}.txt").write_text(f"{a['title'].replace('_', ' ')}\n\n{body}\n", "utf-8")
    settings = load_settings({"data_dir": root / "data", "generator": "extractive"}, env={})
    indexer = Indexer.from_settings(settings)
    log(f"indexing {len(ingested)} SQuAD articles + the bundled article into {root}")
    indexer.build_bundled()
    report = indexer.add([docs])
    log(report.summary())
    assistant = Assistant.from_settings(settings)
    assistant.open()
    return settings, indexer, assistant


def _result(embed_model: str, sample: dict, abst: dict, sup: dict) -> dict:
    return {
        "embed_model": embed_model,
        "sample": sample,
        "chosen": {
            "abstain_min_dense": abst["chosen"]["abstain_min_dense"],
            "abstain_min_lexical": abst["chosen"]["abstain_min_lexical"],
            "support_threshold": sup["chosen"]["support_threshold"],
        },
        "abstention": abst,
        "support": sup,
    }


def _write(result: dict, out_path: Path, log: Callable[[str], None]) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    out_path.with_suffix(".md").write_text(markdown_table(result), "utf-8")
    log(f"wrote {out_path} and {out_path.with_suffix('.md')}")
    log(markdown_table(result))


def markdown_table(result: dict) -> str:
    c = result["chosen"]
    a = result["abstention"]
    s = result["support"]
    lines = [
        "### Calibration",
        "",
        f"Chosen: `abstain_min_dense={c['abstain_min_dense']}`, `abstain_min_lexical={c['abstain_min_lexical']}`, "
        f"`support_threshold={c['support_threshold']}` (embedding model {result['embed_model']}; "
        f"{result['sample']['answerable_questions']} answerable + {result['sample']['unanswerable_questions']} "
        f"unanswerable SQuAD questions, {result['sample']['article_questions']} article questions).",
        "",
        f"Abstention gate (abstain_min_lexical={c['abstain_min_lexical']}; positive class = abstain):",
        "",
        "| abstain_min_dense | accuracy | precision | recall | F1 |",
        "|---|---|---|---|---|",
    ]
    for r in a["grid"]:
        even = round(r["abstain_min_dense"] * 40) % 2 == 0 or r["abstain_min_dense"] == c["abstain_min_dense"]
        if r["abstain_min_lexical"] == c["abstain_min_lexical"] and even:
            mark = " **chosen**" if r["abstain_min_dense"] == c["abstain_min_dense"] else ""
            lines.append(f"| {r['abstain_min_dense']:.3f}{mark} | {r['accuracy']:.3f} | {r['precision']:.3f} | "
                         f"{r['recall']:.3f} | {r['f1']:.3f} |")
    lines += ["", "Citation support (positive class = the passage supports the sentence):", "",
              "| support_threshold | accuracy | precision | recall | F1 |", "|---|---|---|---|---|"]
    for r in s["grid"]:
        if round(r["support_threshold"] * 40) % 2 == 0 or r["support_threshold"] == c["support_threshold"]:
            mark = " **chosen**" if r["support_threshold"] == c["support_threshold"] else ""
            lines.append(f"| {r['support_threshold']:.3f}{mark} | {r['accuracy']:.3f} | {r['precision']:.3f} | "
                         f"{r['recall']:.3f} | {r['f1']:.3f} |")
    return "\n".join(lines) + "\n"
