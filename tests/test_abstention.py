"""Abstention: the evidence gate before generation, refusal recognition after it, over the real article index."""

from __future__ import annotations

import pytest

from core.types import Retrieval
from rag.gate.abstention import EvidenceGate, focus_term
from rag.reader.evidence import SentenceBank
from rag.reader.scorers import HeuristicScorer
from rag.verify.refusal import is_refusal


class ScriptedGenerator:
    """Stands in for an LLM whose exact words the test must control (a real small model cannot be made
    to answer a given wrong thing, or to refuse, on demand). Counts its calls."""

    def __init__(self, text: str, name: str = "scripted") -> None:
        self.text, self.name, self.calls = text, name, 0

    def generate(self, request):
        self.calls += 1
        yield from self.text.split(" ")[:1]
        rest = self.text.split(" ", 1)[1:]
        if rest:
            yield " " + rest[0]


def _with_generator(assistant, generator):
    return assistant.with_generator(generator)


# ---------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    "text",
    [
        "The sources do not say.",
        "The provided passages don't mention the capital of France.",
        "I don't know.",
        "I cannot answer that from the sources.",
        "This is not mentioned in the sources [1].",
        "There is no information about troops in the context.",
        "The documents doesn’t cover this question.",
    ],
)
def test_refusals_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Russia has received over 10,000 shipping containers [1].",
        "China does not want North Korea to collapse [2].",
        "Beijing declined to comment on the treaty [1].",
        "",
    ],
)
def test_answers_are_not_refusals(text):
    assert not is_refusal(text)


def test_focus_term():
    assert focus_term("How many troops has North Korea sent?") == "troops"
    assert focus_term("What is the population of North Korea?") == "population"
    assert focus_term("Which country is the largest trade partner?") is None  # names the answer type
    assert focus_term("Is the treaty still in force?") is None  # not a wh-question


def test_gate_rules_on_signals():
    gate = EvidenceGate(HeuristicScorer(SentenceBank(None), min_dense=0.3, min_lexical=0.5, support_threshold=0.5))
    assert gate.check("anything", Retrieval([], -1.0, 0.0)).abstain


# ---------------------------------------------------------------- real index
OFF_TOPIC = ["What is the capital of France?", "How do I bake sourdough bread?"]
BOILERPLATE = [
    "Who are the characters in BBC's documentary on TB Joshua?",
    "Why did the NBA suspend Joshua Primo?",
    "Which Chelsea players were mistakenly introduced on Sky Sports?",
]
UNSETTLED = ["How many troops has North Korea sent to Ukraine?", "What is the population of North Korea?"]


@pytest.mark.parametrize("question", OFF_TOPIC + BOILERPLATE + UNSETTLED)
def test_abstains_when_the_article_does_not_answer(article_assistant, question):
    a = article_assistant.ask(question)
    assert a.abstained, (question, a.text)
    assert a.citations == [] and a.sentences == []
    assert a.abstain_reason
    assert "don't cover" in a.text
    assert a.retrieved, "the closest passages are offered"
    assert a.timings.get("generate", 0.0) == 0.0  # nothing was generated (a plan abstains before any generator)


def test_boilerplate_was_not_indexed(article_library):
    store = article_library.store
    text = store.document("elephant-in-the-room.txt").text
    assert "TB Joshua" not in text and "Popular posts" not in text


def test_answerable_question_passes_the_gate(article_assistant):
    a = article_assistant.ask("Who is Edward Howell?")  # low cosine for a name, strong keyword evidence
    assert not a.abstained
    assert "University of Oxford" in a.text


def test_gate_wins_over_a_generator_that_answers_anyway(article_assistant):
    liar = ScriptedGenerator("The capital of France is Paris [1].")
    a = _with_generator(article_assistant, liar).ask("What is the capital of France?")
    assert a.abstained and liar.calls == 0
    assert "Paris" not in a.text


def test_a_generators_own_refusal_is_an_abstention(article_assistant):
    shy = ScriptedGenerator("The sources do not say how the treaty will be enforced [1].")
    a = _with_generator(article_assistant, shy).ask("How will the new treaty be enforced by Russia?")
    assert shy.calls == 1
    assert a.abstained and a.citations == []
    assert "[1]" not in a.text and a.generator == "scripted"


@pytest.mark.parametrize(
    "question",
    [
        "How old is Liu Dongshu?",  # no sentence states an age: a number-less sentence cannot answer it
        "On what exact date was the new treaty between Russia and North Korea signed?",  # only a year is given
    ],
)
def test_extractive_generator_declines_when_no_sentence_has_the_answer_type(article_assistant, question):
    a = article_assistant.ask(question)
    assert a.abstained, a.text
    assert a.citations == []
