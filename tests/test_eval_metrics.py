"""Metric definitions on hand-built answers whose correct scores are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from core.types import Answer, Chunk, Citation, Passage, Sentence
from rag.eval.matching import SUPPORT_OVERLAP, contains, lexical_support, normalize, token_f1
from rag.eval.metrics import summarize
from rag.eval.runner import answer_record
from rag.eval.suite import Case

CHUNKS = {
    "c1": "Russia has received over 10,000 shipping containers from North Korea.",
    "c2": "Japan voiced grave concerns about the pact.",
    "c3": "South Korea held an emergency national security meeting.",
    "c4": "China's reaction was notably muted.",
    "c5": "Unrelated text about the weather in Paris.",
}


def chunk(cid: str) -> Chunk:
    return Chunk(chunk_id=cid, doc_id="doc", title="T", ordinal=int(cid[1:]), start=0, end=len(CHUNKS[cid]),
                 text=CHUNKS[cid])


def answer(text: str, retrieved: list[str], cited: dict[int, str] | None = None, abstained: bool = False,
           sentences: list[tuple[str, tuple[int, ...], bool]] | None = None,
           timings: dict[str, float] | None = None) -> Answer:
    cited = cited or {}
    return Answer(
        question="q",
        text=text,
        sentences=[Sentence(t, m, ok, 1.0 if ok else 0.1) for t, m, ok in (sentences or [])],
        citations=[Citation(marker=m, chunk_id=c, doc_id="doc", title="T", start=0, end=len(CHUNKS[c]),
                            text=CHUNKS[c]) for m, c in cited.items()],
        retrieved=[Passage(chunk=chunk(c), score=1.0 / (i + 1), rank=i + 1) for i, c in enumerate(retrieved)],
        abstained=abstained,
        generator="hand-built",
        timings=timings or {},
    )


def record(case: Case, ans: Answer, latency: float = 100.0, relevant: list[str] | None = None) -> dict:
    return answer_record(case, "t", ans, latency, relevant_chunk_ids=relevant)


CONTAINERS = Case(id="containers", question="How many?", answers=("10,000",),
                  evidence=("over 10,000 shipping containers",), tags=("fact",))
JAPAN = Case(id="japan", question="Japan?", answers=("grave concerns",), evidence=("grave concerns",),
             tags=("fact", "who"))
OFF = Case(id="off", question="Capital of France?", answerable=False, tags=("unanswerable",))
OFF2 = Case(id="off2", question="Weather?", answerable=False, tags=("unanswerable",))


def test_normalize_and_contains():
    assert normalize("  The “10,000” Containers! ") == "10000 containers"
    assert normalize("an apple’s core") == normalize("apple's core") == "apple s core"
    assert contains("They received 10000 containers", "10,000")
    assert contains("Kim’s nuclear programs", "Kim's nuclear")
    assert not contains("They sent 19610 items", "1961")  # word boundaries, not substrings
    # a decimal point is not a thousands separator: 1.6 kg is not 16 kg, 3.5 bar is not 35 bar
    assert not contains("a 16 kg sack", "1.6 kg") and not contains("I run 35 bar", "3.5 bar")
    assert contains("a whole chicken (1.6 kg)", "1.6 kg") and contains("toll of $3.50 per car", "3.50")
    assert not contains("false alarms", "arms")
    assert not contains("anything", "")


def test_token_f1():
    assert token_f1("grave concerns", "grave concerns") == 1.0
    # pred 4 tokens (japan voiced grave concerns), gold 2, common 2: P=.5 R=1 -> 2/3
    assert token_f1("Japan voiced grave concerns.", "the grave concerns") == pytest.approx(2 / 3)
    assert token_f1("nothing", "grave concerns") == 0.0


def test_lexical_support():
    assert lexical_support("Japan voiced grave concerns [1].", CHUNKS["c2"]) == 1.0
    assert lexical_support("Japan celebrated the treaty joyfully.", CHUNKS["c2"]) == 0.25 < SUPPORT_OVERLAP


def test_retrieval_metrics_against_hand_computed_values():
    recs = [
        # relevant c1 at rank 2; the corpus holds 2 relevant chunks (c1 and a c9 not retrieved)
        record(CONTAINERS, answer("10,000 [1].", ["c5", "c1", "c2"], {1: "c1"}), relevant=["c1", "c9"]),
        # relevant c2 at rank 1, the only relevant chunk
        record(JAPAN, answer("grave concerns [1].", ["c2", "c5", "c3"], {1: "c2"}), relevant=["c2"]),
        record(OFF, answer("no", ["c5"], abstained=True)),  # unanswerable: no retrieval score
    ]
    summary, scores = summarize(recs, k=3)
    ov = summary["overall"]
    assert ov["hit_at_k"] == pytest.approx(1.0)
    assert ov["recall_at_k"] == pytest.approx((0.5 + 1.0) / 2)
    assert ov["mrr"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["t/off"].hit is None
    # cutting k to 1 drops the rank-2 hit
    ov1 = summarize(recs, k=1)[0]["overall"]
    assert ov1["hit_at_k"] == pytest.approx(0.5) and ov1["mrr"] == pytest.approx(0.5)


def test_retrieval_without_corpus_knowledge_uses_retrieved_passages():
    # no relevant_chunk_ids recorded: relevance is judged on the retrieved texts alone
    rec = record(CONTAINERS, answer("x", ["c5", "c2", "c1"]))
    ov = summarize([rec], k=3)[0]["overall"]
    assert ov["hit_at_k"] == 1.0 and ov["mrr"] == pytest.approx(1 / 3) and ov["recall_at_k"] == 1.0
    miss = record(CONTAINERS, answer("x", ["c5", "c2"]))
    assert summarize([miss], k=2)[0]["overall"]["hit_at_k"] is None  # nothing relevant known: not scored
    miss_known = record(CONTAINERS, answer("x", ["c5", "c2"]), relevant=["c1"])
    assert summarize([miss_known], k=2)[0]["overall"]["hit_at_k"] == 0.0


def test_answer_correctness_and_f1():
    recs = [
        record(CONTAINERS, answer("Russia received 10000 containers [1].", ["c1"], {1: "c1"})),
        record(JAPAN, answer("Japan was pleased [1].", ["c2"], {1: "c2"})),
        record(Case(id="abst", question="q", answers=("grave concerns",), evidence=("grave concerns",)),
               answer("grave concerns are not covered", ["c2"], abstained=True)),
    ]
    summary, scores = summarize(recs)
    assert [scores[f"t/{i}"].correct for i in ("containers", "japan", "abst")] == [True, False, False]
    assert summary["overall"]["answer_correctness"] == pytest.approx(1 / 3)
    # f1: "russia received 10000 containers" vs "10000": P=1/4 R=1 -> 0.4; japan 0; abstained 0
    assert summary["overall"]["answer_f1"] == pytest.approx(0.4 / 3)
    assert "abstained on an answerable question" in scores["t/abst"].reasons


def test_citation_recall_and_precision():
    recs = [
        # correct, cites the evidence passage: counts for recall; citation precise by evidence
        record(CONTAINERS, answer("10,000 [1].", ["c1"], {1: "c1"}, sentences=[("10,000.", (1,), True)])),
        # correct but cites the wrong passage: recall miss; citation [1] imprecise (no evidence, no overlap),
        # citation [2] precise by lexical support of its sentence
        record(JAPAN, answer("Japan voiced grave concerns [1]. South Korea met [2].", ["c3", "c4"],
                             {1: "c4", 2: "c3"},
                             sentences=[("Japan voiced grave concerns.", (1,), False),
                                        ("South Korea held an emergency meeting.", (2,), True)])),
        # wrong answer: not in the citation-recall denominator
        record(Case(id="wrong", question="q", answers=("nope",), evidence=("grave concerns",)),
               answer("Japan voiced grave concerns [1].", ["c2"], {1: "c2"},
                      sentences=[("Japan voiced grave concerns.", (1,), True)])),
    ]
    summary, scores = summarize(recs)
    ov = summary["overall"]
    assert scores["t/containers"].citation_ok is True
    assert scores["t/japan"].citation_ok is False
    assert scores["t/wrong"].citation_ok is None
    assert ov["citation_recall"] == pytest.approx(0.5)
    assert ov["citation_precision"] == pytest.approx(3 / 4)
    assert ov["unsupported_share"] == pytest.approx(1 / 4)


def test_abstention_metrics():
    recs = [
        record(OFF, answer("The sources do not say.", ["c5"], abstained=True)),  # true abstention
        record(OFF2, answer("It is sunny [1].", ["c5"], {1: "c5"})),  # answered an unanswerable one
        record(JAPAN, answer("Not covered.", ["c2"], abstained=True)),  # false abstention
        record(CONTAINERS, answer("10,000 [1].", ["c1"], {1: "c1"})),  # answered correctly
    ]
    summary, scores = summarize(recs)
    ov = summary["overall"]
    assert ov["abstention_precision"] == pytest.approx(0.5)
    assert ov["abstention_recall"] == pytest.approx(0.5)
    assert ov["false_abstention_rate"] == pytest.approx(0.5)
    assert ov["abstention_accuracy"] == pytest.approx(0.5)
    assert ov["pass_rate"] == pytest.approx(0.5)
    assert [scores[f"t/{c}"].passed for c in ("off", "off2", "japan", "containers")] == [True, False, False, True]
    assert ov["counts"] == {"cases": 4, "answerable": 2, "unanswerable": 2, "citation_only": 0, "abstained": 2, "passed": 2,
                            "errors": 0, "retrieval_scored": 2}
    # nothing abstained: precision is undefined, not zero
    assert summarize(recs[1:2] + recs[3:])[0]["overall"]["abstention_precision"] is None


def test_latency_percentiles_overall_and_per_stage_and_tags():
    lat = [10.0, 20.0, 30.0, 40.0, 1000.0]
    cases = [CONTAINERS, JAPAN, OFF, OFF2, Case(id="x", question="q", answers=("a",), tags=("fact",))]
    recs = [
        record(c, answer("a", ["c1"], timings={"retrieve": i * 2.0, "generate": 5.0}), latency=v)
        for i, (c, v) in enumerate(zip(cases, lat, strict=True))
    ]
    summary, _ = summarize(recs)
    ov = summary["overall"]
    assert ov["latency_p50_ms"] == pytest.approx(30.0)
    assert ov["latency_p95_ms"] == pytest.approx(float(np.percentile(lat, 95)))
    assert ov["stages_ms"]["retrieve"]["p50"] == pytest.approx(4.0)
    assert ov["stages_ms"]["generate"]["p95"] == pytest.approx(5.0)
    assert set(summary["by_tag"]) == {"fact", "who", "unanswerable"}
    assert summary["by_tag"]["fact"]["counts"]["cases"] == 3
    assert summary["by_tag"]["who"]["latency_p50_ms"] == pytest.approx(20.0)
    assert summary["by_tag"]["unanswerable"]["answer_correctness"] is None


def test_suite_warning_when_evidence_is_nowhere_in_the_index():
    rec = record(CONTAINERS, answer("x", ["c5"]), relevant=[])
    summary, _ = summarize([rec])
    assert summary["warnings"] and "t/containers" in summary["warnings"][0]


def test_error_case_fails():
    rec = answer_record(JAPAN, "t", None, 5.0, error="LimitError: question too long")
    summary, scores = summarize([rec])
    assert not scores["t/japan"].passed and summary["overall"]["counts"]["errors"] == 1
    assert "error: LimitError" in scores["t/japan"].reasons[0]


def _cause_record(**kw):
    base = {"suite": "t", "id": "c", "question": "How many?", "answerable": True, "accepted_answers": ["10,000"],
            "evidence": ["over 10,000 shipping containers"], "answer": "", "abstained": False, "citations": [],
            "retrieved": [{"chunk_id": "x::1", "text": "Russia received over 10,000 shipping containers."}],
            "relevant_chunk_ids": ["x::1"], "sentences": []}
    return {**base, **kw}


@pytest.mark.parametrize(("record", "cause"), [
    (_cause_record(answer="Russia received over 10,000 shipping containers [1].",
                   citations=[{"marker": 1, "chunk_id": "x::1", "text": "over 10,000 shipping containers"}]), ""),
    (_cause_record(retrieved=[{"chunk_id": "x::2", "text": "Unrelated."}], abstained=True,
                   abstain_reason="weak evidence"), "retrieval miss"),
    (_cause_record(abstained=True, abstain_reason="weak evidence: best passage similarity 0.2"), "gate abstained"),
    (_cause_record(abstained=True, abstain_reason="the extractive generator found no answer in the passages"),
     "generator abstained"),
    (_cause_record(answer="Both Russia and North Korea have denied these claims [1]."), "wrong sentence"),
    (_cause_record(accepted_answers=["ten thousand"], answer="It got over 10,000 shipping containers [1]."),
     "partial answer"),
    (_cause_record(answerable=False, accepted_answers=[], answer="Something [1]."), "answered unanswerable"),
    (_cause_record(answer="over 10,000 [1]", error="LimitError: too long"), "error"),
])
def test_failure_causes(record, cause):
    summary, scores = summarize([record], k=5)
    assert scores["t/c"].cause == cause
    assert summary["overall"]["causes"] == ({cause: 1} if cause else {})
