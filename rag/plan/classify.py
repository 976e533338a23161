"""The plan classifier: rules first, then a small learned model over the question's embedding.

The model is a logistic regression over the packaged MiniLM's query vector (the vector retrieval computes
anyway), so classifying costs one matrix product. Its weights and the gate were chosen by
training/plan_classifier.py and are read from data/plans/model.json; the card beside them holds the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.plan.kinds import KINDS, PlanGuess, rule_kind

MODEL_PATH = Path(__file__).resolve().parents[2] / "data" / "plans" / "model.json"


def combine(rule: str, probs: dict[str, float], gate: float) -> PlanGuess:
    """A rule's kind when one fired; else the model's kind when it is at least `gate` sure; else a fact."""
    if rule:
        return PlanGuess(rule, 1.0, "rule")
    kind, p = max(probs.items(), key=lambda kv: kv[1])
    return PlanGuess(kind, float(p), "learned") if p >= gate else PlanGuess("fact", 1.0 - float(p), "default")


@dataclass(frozen=True)
class PlanClassifier:
    classes: tuple[str, ...]
    coef: np.ndarray  # (classes, dimension)
    intercept: np.ndarray  # (classes,)
    gate: float
    rules_first: bool = False  # the card says which measured better

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> PlanClassifier:
        raw = json.loads(path.read_text())
        classes = tuple(raw["classes"])
        if set(classes) != set(KINDS):
            raise ValueError(f"{path}: classes {classes} are not the plan kinds {KINDS}: retrain it with "
                             "`python -m training.plan_classifier`")
        return cls(classes, np.asarray(raw["coef"], dtype=np.float32),
                   np.asarray(raw["intercept"], dtype=np.float32), float(raw["gate"]), bool(raw.get("rules_first")))

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        logits = self.coef @ np.asarray(vector, dtype=np.float32) + self.intercept
        e = np.exp(logits - logits.max())
        return dict(zip(self.classes, (e / e.sum()).tolist(), strict=True))

    def learned(self, vector: np.ndarray) -> PlanGuess:
        kind, p = max(self.probabilities(vector).items(), key=lambda kv: kv[1])
        return PlanGuess(kind, float(p), "learned")

    def classify(self, question: str, vector: np.ndarray) -> PlanGuess:
        return combine(rule_kind(question) if self.rules_first else "", self.probabilities(vector), self.gate)
