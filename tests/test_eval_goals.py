"""Open-answer goals: key points, distinct citations, length and no repeats decide whether a case passes."""

from __future__ import annotations

import pytest

from rag.eval.goals import parse_goals, score_goals
from rag.eval.metrics import score_case
from rag.eval.suite import SuiteError, parse_yaml

SUMMARY = ("- Russia and North Korea signed a defense pact [1]\n"
           "- China was notably muted [2]\n- Seoul held an emergency national security meeting [2]")


def record(answer: str = SUMMARY, **goals: object) -> dict:
    rec = {"id": "c", "question": "Summarize the article.", "answer": answer, "abstained": False,
           "answerable": True, "accepted_answers": [], "evidence": [], "retrieved": [], "sentences": [],
           "citations": [{"marker": 1, "text": "x"}, {"marker": 2, "text": "y"}, {"marker": 2, "text": "y"}]}
    rec.update(parse_goals(goals).to_dict())
    return rec


KEY_POINTS = [["defense pact", "new partnership"], ["notably muted"], ["grave concerns", "emergency national"],
              ["lifeline"]]


def test_key_points_covered_counts_any_phrasing_and_ignores_markers() -> None:
    score = score_goals(record(key_points=KEY_POINTS, min_key_points=3))
    assert (score.covered, score.total, score.met) == (3, 4, True)
    case = score_case(record(key_points=KEY_POINTS, min_key_points=3), None)
    assert case.passed and case.correct and case.key_points == pytest.approx(0.75)


def test_too_few_key_points_fails_with_the_count() -> None:
    case = score_case(record(key_points=KEY_POINTS), None)  # all four needed by default
    assert not case.passed and case.cause == "goals unmet"
    assert any("covers 3 of the 4" in r for r in case.reasons)


def test_distinct_citations_and_length_are_goals() -> None:
    assert not score_goals(record(key_points=KEY_POINTS, min_key_points=1, min_citations=3)).met
    assert score_goals(record(key_points=KEY_POINTS, min_key_points=1, min_citations=2)).met
    long = score_goals(record(key_points=KEY_POINTS, min_key_points=1, max_chars=40))
    assert not long.met and "over the 40 allowed" in long.reasons[0]


def test_abstaining_on_an_open_answerable_case_fails() -> None:
    rec = record("The sources don't cover this question.", key_points=KEY_POINTS, min_key_points=1)
    rec["abstained"] = True
    case = score_case(rec, None)
    assert not case.passed and case.key_points == 0.0


def test_follow_up_that_repeats_a_shown_sentence_fails() -> None:
    shown = "Yun Sun said China doesn't feel it can control the deepening engagement. [1]"
    rec = record("China doesn't feel it can control the deepening engagement [1]", not_repeat=True)
    rec.update(answerable=True, accepted_answers=["control"], history=[
        {"role": "user", "content": "Who is Yun Sun?"}, {"role": "assistant", "content": shown}],
        sentences=[{"text": "China doesn't feel it can control the deepening engagement [1]"}])
    case = score_case(rec, None)
    assert not case.passed and any("repeats" in r for r in case.reasons)
    rec["sentences"] = [{"text": "China plays an irreplaceable role for both Russia and North Korea [1]"}]
    assert score_case(rec, None).passed


def test_suite_accepts_goal_fields_and_rejects_bad_ones() -> None:
    ok = parse_yaml("cases:\n- id: a\n  question: Summarize.\n  plan: overview\n"
                    "  key_points: [[pact, treaty], [muted]]\n  min_key_points: 1\n  max_chars: 900\n")
    assert ok.cases[0].goals.needed() == 1 and ok.cases[0].goals.plan == "overview"
    for bad, words in [("  plan: essay\n", "plan"), ("  key_points: [[]]\n", "key_points"),
                       ("  key_points: [[a]]\n  min_key_points: 2\n", "only 1 key points"),
                       ("  key_points: [[a]]\n  max_chars: -1\n", "max_chars")]:
        with pytest.raises(SuiteError, match=words):
            parse_yaml("cases:\n- id: a\n  question: q\n" + bad)
