"""The cross-encoder's training data: the answer-deleted negative (rag/dev/train_reader_ce.answer_deleted)."""

from __future__ import annotations

from rag.dev.train_reader_ce import answer_deleted

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
    from rag.dev.reader_check import failures, parse_floors

    figures = {"cascade_top1": 0.80, "cascade_abstention": {"accuracy": 0.96, "false_abstention": 0.04}}
    assert failures(figures, {"cascade_top1": 0.78, "cascade_abstention.false_abstention": 0.05}) == []
    missed = failures(figures, {"cascade_top1": 0.85, "cascade_abstention.false_abstention": 0.03})
    assert missed == ["cascade_top1 = 0.8000 below 0.85", "cascade_abstention.false_abstention = 0.0400 above 0.03"]
    with pytest.raises(ConfigError, match="no such figure"):
        failures(figures, {"top1": 0.5})
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        parse_floors(["cascade_top1"])
    assert parse_floors(["cascade_top1=0.8"]) == {"cascade_top1": 0.8}
