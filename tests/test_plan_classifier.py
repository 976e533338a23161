"""The plan classifier: cue words survive typos and chat spelling, the model's weights are checked on load,
and with the real packaged embedder the open questions of issue 26 reach their plans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.plan.classify import MODEL_PATH, PlanClassifier, combine
from rag.plan.kinds import normalize_question, one_edit, rule_kind


@pytest.mark.parametrize(("a", "b", "same"), [("qouted", "quoted", True), ("artcle", "article", True),
                                               ("uplaod", "upload", True), ("mention", "mentioned", False),
                                               ("summary", "summary", False), ("cities", "titles", False)])
def test_one_edit(a: str, b: str, same: bool) -> None:
    assert one_edit(a, b) is same


def test_typos_and_shorthand_reach_the_same_cues() -> None:
    assert normalize_question("wich experts r qouted") == "which experts are quoted"
    assert rule_kind("summarise teh artcle") == rule_kind("Summarize the article.") == "overview"
    assert rule_kind("whch docs do u have") == "library"
    assert rule_kind("When did the Kessick Narrows Bridge open?") == "fact"
    assert rule_kind("Who said China plays an irreplaceable role?") == "fact"
    assert rule_kind("What are the bridge towers made of?") == ""


def test_the_gate_sends_an_unsure_question_to_the_fact_path() -> None:
    probs = {"overview": 0.5, "fact": 0.3, "list": 0.2}
    assert combine("", probs, 0.6).kind == "fact"
    assert combine("", probs, 0.4).kind == "overview"
    assert combine("library", probs, 0.9).source == "rule"


def test_weights_with_other_classes_are_refused(tmp_path: Path) -> None:
    raw = json.loads(MODEL_PATH.read_text())
    raw["classes"] = ["fact", "essay", *raw["classes"][2:]]
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="retrain"):
        PlanClassifier.load(bad)


def test_real_embeddings_place_open_questions(article_assistant) -> None:
    clf = PlanClassifier.load()
    embed = article_assistant.retriever.embed_query
    questions = {"Summarize the article.": "overview", "Which experts are quoted in the article?": "list",
                 "Compare what Yun Sun and Edward Howell say about China's role.": "comparison",
                 "Which documents can I ask you about?": "library",
                 "How many shipping containers has Russia received from North Korea?": "fact"}
    got = {q: clf.classify(q, np.asarray(embed(q))).kind for q in questions}
    assert got == questions


def test_a_question_that_names_no_subject_asks_for_the_overview() -> None:
    assert rule_kind("what do you know?") == rule_kind("tell me stuff") == "overview"
    assert rule_kind("How do the two documents differ?") == "overview"  # a contrast of whole documents
    assert rule_kind("Give me an overview of everything in my library.") == "overview"
    assert rule_kind("Which documents are in my library?") == "library"
    assert rule_kind("How does the bridge differ from the ferry?") == "comparison"
    assert rule_kind("Who is he?") == "fact" and rule_kind("Where is it?") == "fact"
