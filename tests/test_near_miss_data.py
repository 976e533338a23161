"""Near misses made from SQuAD-shaped articles (training/near_miss_data.py), and the figures by kind."""

from __future__ import annotations

import random

import numpy as np

from training.near_miss_data import answer_removed, cases, entity_swap, hedged, speaker_swap, type_mismatch
from training.near_miss_eval import figures
from training.reader_data import build_articles, prepare

PARAGRAPHS = [
    "In 1985, France signed a treaty with Germany in the town of Schengen. The treaty removed border checks. "
    "Jacques Delors praised the agreement.",
    "The Commission is based in Brussels. Margaret Thatcher opposed closer union during the 1980s. "
    "In 1992, the Maastricht Treaty created the European Union.",
    "Helmut Kohl supported a single currency. Many members adopted the euro in 1999.",
]
QUESTIONS = [
    ("Which country signed a treaty with Germany in 1985?", "France", 0),
    ("When was the Maastricht Treaty signed?", "1992", 1),
]


class _Embedder:
    """Deterministic vectors: these tests check the data, not the ranking."""

    def embed(self, texts):
        rng = np.random.default_rng(len(texts))
        v = rng.normal(size=(len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _article():
    qas = [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": PARAGRAPHS[p].index(a)}]}
           for i, (q, a, p) in enumerate(QUESTIONS)]
    paragraphs = [{"context": text, "qas": [qa for qa, (_, _, p) in zip(qas, QUESTIONS, strict=True) if p == i]}
                  for i, text in enumerate(PARAGRAPHS)]
    arts = build_articles({"data": [{"title": "European_Union_law", "paragraphs": paragraphs}]})
    prepare(arts, _Embedder())
    return arts[0]


def test_entity_swap_puts_a_name_the_answer_paragraph_never_mentions():
    art = _article()
    q = art.questions[0]
    case = entity_swap(q, art, random.Random(1))
    assert case is not None and case.question != q.text
    new = case.question.replace("Which country signed a treaty with ", "").replace(" in 1985?", "")
    assert new not in PARAGRAPHS[0]
    assert case.chunks[0].text == PARAGRAPHS[0]  # the old answer sentence is still there


def test_hedged_keeps_the_answer_sentence_but_hedges_the_verb_asked_about():
    art = _article()
    case = hedged(art.questions[0], art)
    assert case is not None
    assert "France may have signed a treaty with Germany" in case.chunks[0].text
    assert case.question == art.questions[0].text


def test_answer_removed_and_type_mismatch_pools_hold_no_answer():
    art = _article()
    removed = answer_removed(art.questions[0], art)
    assert removed is not None and all("France" not in c.text for c in removed.chunks)
    dated = type_mismatch(art.questions[1], art)
    assert dated is not None and all("1992" not in c.text for c in dated.chunks)
    assert type_mismatch(art.questions[0], art) is None  # not a date question


def test_speaker_swap_gives_the_sentence_to_one_person_and_asks_another():
    art = _article()
    case = speaker_swap(art.questions[0], art, random.Random(3))
    assert case is not None and case.question.startswith("According to ")
    asked = case.question[len("According to "):].split(",")[0]
    assert f"{asked} said that" not in case.chunks[0].text and " said that in 1985" in case.chunks[0].text


def test_cases_are_reproducible_and_figures_count_by_kind():
    art = _article()
    a, b = cases([art]), cases([art])
    assert [c.question for c in a] == [c.question for c in b]
    rows = [{"kind": "entity-swap", "reader_abstained": False, "guard": "the sources never say this about X",
             "hit": False},
            {"kind": "entity-swap", "reader_abstained": False, "guard": "", "hit": False},
            {"kind": "answerable", "reader_abstained": False, "guard": "", "hit": True}]
    f = figures(rows)
    assert f["entity-swap"]["abstention_reader"] == 0.0 and f["entity-swap"]["abstention_with_guard"] == 0.5
    assert f["answerable"]["false_abstention_with_guard"] == 0.0 and f["answerable"]["top1"] == 1.0
