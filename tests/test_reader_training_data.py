"""The cross-encoder's training data: the answer-deleted negative (training/train_reader_ce.answer_deleted)."""

from __future__ import annotations

from training.train_reader_ce import answer_deleted

PARAGRAPH = ("The French and Indian War (1754–1763) was the North American theater of the Seven Years' War. "
             "The war was fought between the colonies of British America and New France.")


def test_the_answer_is_cut_and_no_gap_is_left():
    start = PARAGRAPH.index("1754–1763")
    out = answer_deleted(PARAGRAPH, [("1754–1763", start)], 0)
    assert out == "The French and Indian War was the North American theater of the Seven Years' War."


def test_overlapping_answers_of_several_annotators_are_cut_once():
    text = "the colonies of British America and New France"
    start = PARAGRAPH.index(text)
    out = answer_deleted(PARAGRAPH, [(text, start), ("British America", PARAGRAPH.index("British America"))], 1)
    assert out is not None and "British" not in out and "France" not in out
    assert out.startswith("The war was fought between")


def test_nothing_useful_left_gives_none():
    p = "It was Paris."
    assert answer_deleted(p, [("It was Paris", 0)], 0) is None


def test_an_answer_in_another_sentence_is_not_cut():
    start = PARAGRAPH.index("New France")
    assert answer_deleted(PARAGRAPH, [("New France", start)], 0) is None


def test_reader_check_floors_and_ceilings():
    import pytest

    from core.errors import ConfigError
    from training.reader_check import failures, parse_floors

    figures = {"cascade_top1": 0.80, "cascade_abstention": {"accuracy": 0.96, "false_abstention": 0.04}}
    assert failures(figures, {"cascade_top1": 0.78, "cascade_abstention.false_abstention": 0.05}) == []
    missed = failures(figures, {"cascade_top1": 0.85, "cascade_abstention.false_abstention": 0.03})
    assert missed == ["cascade_top1 = 0.8000 below 0.85", "cascade_abstention.false_abstention = 0.0400 above 0.03"]
    with pytest.raises(ConfigError, match="no such figure"):
        failures(figures, {"top1": 0.5})
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        parse_floors(["cascade_top1"])
    assert parse_floors(["cascade_top1=0.8"]) == {"cascade_top1": 0.8}


def _squad_like() -> dict:
    p1 = ("The bridge opened in 1932 after six years of work. It spans 503 metres across the harbour. "
          "Tolls were charged until 1988. Engineers painted it grey.")
    p2 = ("The ferry leaves the north pier at 6:40 each morning. The crossing takes twenty minutes. "
          "Bicycles ride free on weekdays.")
    q = [("How long is the span of the bridge?", "503 metres", p1, 0),
         ("When does the first ferry leave?", "6:40 each morning", p2, 1)]
    paragraphs = [{"context": p1, "qas": []}, {"context": p2, "qas": []}]
    for n, (text, answer, ctx, i) in enumerate(q):
        paragraphs[i]["qas"].append({"id": str(n), "question": text,
                                     "answers": [{"text": answer, "answer_start": ctx.index(answer)}]})
    return {"data": [{"title": "Harbour", "paragraphs": paragraphs}]}


def test_hard_negatives_are_the_trees_wrong_picks_and_the_answer_deleted_sentence():
    import random

    from index.embedding import SentenceTransformerEmbedder
    from rag.reader.model import READER_DIR
    from training.reader_data import build_articles, prepare
    from training.train_reader_ce import hard_negative_groups

    arts = build_articles(_squad_like())
    prepare(arts, SentenceTransformerEmbedder())
    groups = dict(hard_negative_groups(arts, READER_DIR, random.Random(0)))
    span = groups["How long is the span of the bridge?"]
    assert span[0].startswith("It spans 503 metres")  # the positive first, with its previous sentence
    negatives = span[1:]
    assert not any("503" in t.split(" | ")[0] for t in negatives)
    assert any(t.startswith("It spans across the harbour") for t in negatives)  # answer cut out
    assert any("Tolls were charged" in t for t in negatives)  # a sentence of the pool the trees shortlisted
    assert groups["When does the first ferry leave?"][0].startswith("The ferry leaves the north pier at 6:40")
