"""The plan stage: which plan answers a question. A fact (or a kind with no plan of its own) goes on to
retrieval and generation; every other kind, explanations included, is answered by its plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from rag.plan.classify import PlanClassifier
from rag.plan.kinds import PlanGuess
from rag.plan.protocol import Plan

EmbedQuery = Callable[[str], np.ndarray]


class Planner:
    def __init__(self, classifier: PlanClassifier, embed_query: EmbedQuery, plans: Mapping[str, Plan]) -> None:
        self.classifier = classifier
        self.embed_query = embed_query  # retrieval's own cached query embedding: classifying costs no extra encode
        self.plans = dict(plans)

    def route(self, question: str) -> PlanGuess:
        return self.classifier.classify(question, self.embed_query(question))

    def plan_for(self, kind: str) -> Plan | None:
        return self.plans.get(kind)
