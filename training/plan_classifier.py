"""Fit the learned plan classifier and measure it beside the rules (issue 26).

    python -m training.plan_classifier [--data-dir DIR]

Trains a multinomial logistic regression over the product's own query embeddings (the packaged MiniLM,
as the index embeds questions) on the labelled dev split plus template questions (training.plan_data),
never on the test split. Chooses how rules and model combine by cross-validation on dev, then reports
per-class accuracy on test for the rules, the model and the combination, and writes the weights the
product loads (data/plans/model.json) with the figures (data/plans/card.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from core.settings import load_settings
from index.embedding_onnx import embedder_from_settings
from rag.plan.classify import MODEL_PATH, PlanClassifier, combine
from rag.plan.kinds import KINDS, rule_kind
from training.plan_data import synthetic_questions

DATA = Path("data/plans/questions.jsonl")
CARD = Path("data/plans/card.md")
SEED = 13
GATES = (0.0, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)  # below this probability a rule-less question stays a fact
# most questions people ask are facts, and a fact sent to a plan loses today's answer: the gate keeps this share
# of dev's facts on the fact path (cross-validated), and is otherwise as low as possible
FACT_RECALL = 0.95


def _rows(split: str) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [(r["question"], r["plan"]) for r in rows if r["split"] == split]


def _fit(x: np.ndarray, y: list[str]) -> LogisticRegression:
    return LogisticRegression(C=4.0, max_iter=2000, random_state=SEED).fit(x, y)


def _accuracy(pred: list[str], gold: list[str]) -> dict[str, float]:
    out = {k: float(np.mean([p == g for p, g in zip(pred, gold, strict=True) if g == k])) for k in KINDS}
    out["all"] = float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))
    return out


def _choose_gate(dev_x: np.ndarray, dev: list[tuple[str, str]], syn_x: np.ndarray, syn_y: list[str]) -> float:
    """The lowest gate that keeps FACT_RECALL of dev's facts on the fact path, by 5-fold cross-validation of
    the model alone. Rules play no part: they were written while reading dev, so dev cannot judge them."""
    gold = [k for _, k in dev]
    kept: dict[float, list[bool]] = {g: [] for g in GATES}
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED).split(dev_x, gold):
        model = _fit(np.vstack([syn_x, dev_x[tr]]), syn_y + [gold[i] for i in tr])
        probs = model.predict_proba(dev_x[te])
        for g in GATES:
            pred = [combine("", dict(zip(model.classes_, p, strict=True)), g).kind for p in probs]
            kept[g] += [p == "fact" for i, p in zip(te, pred, strict=True) if gold[i] == "fact"]
    return next((g for g in GATES if np.mean(kept[g]) >= FACT_RECALL), GATES[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=".rag-data/plan-training")
    args = ap.parse_args(argv)
    embedder = embedder_from_settings(load_settings({"data_dir": args.data_dir}))
    dev, test, syn = _rows("dev"), _rows("test"), synthetic_questions()
    print(f"embedding {len(dev)} dev, {len(test)} test and {len(syn)} template questions ...", flush=True)
    dev_x, test_x, syn_x = (embedder.embed([q for q, _ in rows]) for rows in (dev, test, syn))
    syn_y = [k for _, k in syn]
    gate = _choose_gate(dev_x, dev, syn_x, syn_y)
    model = _fit(np.vstack([syn_x, dev_x]), syn_y + [k for _, k in dev])
    MODEL_PATH.write_text(json.dumps({"classes": list(model.classes_), "gate": gate, "rules_first": True,
                                      "coef": np.round(model.coef_, 5).tolist(),
                                      "intercept": np.round(model.intercept_, 5).tolist()}))
    clf = PlanClassifier.load(MODEL_PATH)
    gold = [k for _, k in test]
    results = {
        "rules (unplaced -> fact)": [rule_kind(q) or "fact" for q, _ in test],
        "learned, most likely kind": [clf.learned(v).kind for v in test_x],
        f"learned, fact below p = {gate}": [combine("", clf.probabilities(v), gate).kind for v in test_x],
        f"rules, then learned at p >= {gate} (default)": [clf.classify(q, v).kind
                                                         for (q, _), v in zip(test, test_x, strict=True)],
    }
    _write_card({name: _accuracy(pred, gold) for name, pred in results.items()}, len(dev), len(test), len(syn), gate)
    print(CARD.read_text())
    return 0


def _write_card(table: dict[str, dict[str, float]], n_dev: int, n_test: int, n_syn: int, gate: float) -> None:
    head = "| classifier | " + " | ".join(KINDS) + " | all |\n|---|" + "---|" * (len(KINDS) + 1) + "\n"
    rows = "".join(f"| {name} | " + " | ".join(f"{acc[k]:.2f}" for k in (*KINDS, "all")) + " |\n"
                   for name, acc in table.items())
    CARD.write_text(
        "# Plan classifier card\n\nAccuracy per class on the **test** split of data/plans/questions.jsonl "
        f"({n_test} questions, never used for fitting or choosing). Fitted on the dev split ({n_dev}) and "
        f"{n_syn} template questions (training/plan_data.py), seed {SEED}; the gate {gate} was chosen by 5-fold "
        "cross-validation on dev (model only). The rules were written from the labelling rules while reading dev "
        "questions. Disclosure: this is the third version. The first chose the gate by dev accuracy with rules "
        "first; the second used the model alone at gate 0 (0.83 on test, the best test figure) and sent 13 of "
        "the article suite's 79 fact questions to plans, which cut its correctness from 0.841 to 0.794. So the "
        "default now puts explicit cues first and keeps rule-less questions on the fact path unless the model "
        "is sure (gate chosen on dev for 95% fact recall). These decisions saw the test table.\n\n"
        + head + rows + "\nReproduce: `python -m training.plan_classifier`.\n")


if __name__ == "__main__":
    raise SystemExit(main())
