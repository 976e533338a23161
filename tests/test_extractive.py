"""The extractive generator over the article, end to end through the assistant (real model, real Chroma)."""

from __future__ import annotations

import pytest

from core.language.answer_types import answer_type
from core.types import NOT_COVERED, GenerationRequest, NoAnswer
from index.sentences import clause_views
from rag.generate.extractive import ExtractiveGenerator
from rag.reader.evidence import SentenceBank
from rag.reader.scorers import HeuristicScorer

FACTS = [
    ("How many shipping containers has Russia received from North Korea?", "10,000", "10,000 shipping containers"),
    ("When was North Korea's mutual defense treaty with China signed?", "1961", "also signed in 1961"),
    ("What is Liu Dongshu's affiliation?", "City University of Hong Kong", "City University of Hong Kong"),
    ("Where does Liu Dongshu work?", "City University of Hong Kong", "City University of Hong Kong"),
    ("Who is Edward Howell?", "University of Oxford", "lecturer in politics"),
    ("How did Japan react to the pact?", "grave concerns", "grave concerns"),
    ("Which country is the largest trade partner of Russia and North Korea?", "China", "largest trade partner"),
    ("What is China's only formal military alliance treaty?", "Sino-North Korea Treaty", "only formal military"),
    ("How did China's Foreign Ministry respond to the treaty?", "declined to comment", "declined to comment"),
]


@pytest.mark.parametrize(("question", "answer", "evidence"), FACTS)
def test_factual_questions_are_answered_and_cited(article_assistant, question, answer, evidence):
    a = article_assistant.ask(question)
    assert not a.abstained, a.abstain_reason
    assert answer in a.text
    assert a.generator == "extractive"
    assert 1 <= len(a.sentences) <= 3
    assert all(s.supported for s in a.sentences)
    cited = [c for c in a.citations if evidence in c.text]
    assert cited, f"no citation contains {evidence!r}"
    # the answer sentence carrying the fact cites the passage that contains it
    fact = next(s for s in a.sentences if answer in s.text)
    assert any(evidence in a.citations[m - 1].text for m in fact.markers)


def test_sentences_are_verbatim_from_the_cited_passage(article_assistant):
    a = article_assistant.ask("What did Putin say after meeting with Kim?")
    for s in a.sentences:
        assert any(s.text.rstrip(".") in a.citations[m - 1].text for m in s.markers)


def test_no_passages_means_not_covered(article_assistant):
    emb = article_assistant.retriever.embedder
    gen = ExtractiveGenerator(emb, HeuristicScorer.from_settings(SentenceBank(emb), article_assistant.settings))
    assert list(gen.generate(GenerationRequest("q", "q", []))) == [NoAnswer(NOT_COVERED)]


def test_answer_types():
    assert answer_type("How many troops?").search("over 10,000 containers")
    assert not answer_type("How many troops?").search("China declined to comment")
    assert answer_type("When was it signed?").search("also signed in 1961")
    assert answer_type("Who is Yun Sun?") is None


def test_clause_views_split_long_quotes():
    s = ('"When it comes to the North Korea issue, China aims to control the situation and prevent escalation, '
         'but it also does not want North Korea to completely collapse," said Liu Dongshu, an assistant '
         "professor of Chinese politics at the City University of Hong Kong.")
    views = clause_views(s)
    assert len(views) > 1
    assert any(v.startswith("said Liu Dongshu") for v in views)
    assert clause_views("A short sentence.") == []


class _CountingEmbedder:
    """The real embedder, with a call counter (instrumentation, not a fake)."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, 0
        self.name, self.dimension = inner.name, inner.dimension

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_sentence_embeddings_are_cached_and_bounded(article_assistant):
    emb = _CountingEmbedder(article_assistant.retriever.embedder)
    bank = SentenceBank(emb, max_chunks=3)
    gen = ExtractiveGenerator(emb, HeuristicScorer.from_settings(bank, article_assistant.settings))
    passages = article_assistant.retriever.retrieve("Who is Yun Sun?", 3)
    req = GenerationRequest("Who is Yun Sun?", "Who is Yun Sun?", passages)
    first = "".join(gen.generate(req))
    after_first = emb.texts
    second = "".join(gen.generate(req))
    assert first == second
    assert emb.texts - after_first == 1  # only the question was embedded again
    more = article_assistant.retriever.retrieve("shipping containers munitions", 5)
    bank.get([p.chunk for p in more])
    assert len(bank) == 3  # LRU keeps at most max_chunks


@pytest.mark.parametrize(
    ("question", "speaker"),
    [
        ("Who said that China plays an irreplaceable role for both Russia and North Korea?", "Yun Sun"),
        ("Who said that China certainly doesn't want to be seen as part of a new Axis?", "Liu"),
    ],
)
def test_who_said_questions_include_the_sentence_naming_the_speaker(article_assistant, question, speaker):
    a = article_assistant.ask(question)
    assert speaker in a.text and not a.abstained
    assert len(a.sentences) <= 3
