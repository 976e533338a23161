"""The runner end to end with the real Assistant (extractive generator) on the real index of the article,
plus report safety and ordering on hand-built records."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, load_settings
from core.types import Answer, Chunk, Citation, Passage, Sentence
from rag.eval.matching import contains_any
from rag.eval.runner import answer_record, corpus_chunks, load_run, run_suites, write_run
from rag.eval.suite import Case, load_suite

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SUITES = PROJECT_ROOT / "suites"
REQUIRED = {"id", "question", "answer", "abstained", "citations", "retrieved", "unsupported_sentences",
            "latency_ms", "generator"}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The real pipeline: article index in a temp data dir, real embedding model, extractive generator."""
    from rag.compose import build

    settings = load_settings({"data_dir": tmp_path_factory.mktemp("data"), "generator": "extractive"}, env={})
    built = build(settings)
    report = built.library.build_bundled()
    assert not report.errors
    return built


@pytest.fixture(scope="module")
def assistant(parts):
    return parts.assistant


def test_every_evidence_phrase_of_the_bundled_suites_is_in_the_real_index(parts):
    chunks = corpus_chunks(parts.library.store)
    assert chunks
    cases = [c for name in ("article", "article-hard", "kessick-bridge") for c in load_suite(SUITES / f"{name}.yaml").cases]
    for case in cases:
        if case.evidence:
            assert any(contains_any(text, case.evidence) for _, text in chunks), case.id
        if "boilerplate" in case.tags:  # the blog tail must not be indexed: nothing may support these
            words = re.findall(r"(?i)TB Joshua|Joshua Primo|Sky Sports|Popular posts", case.question)
            assert words and not any(contains_any(text, words) for _, text in chunks), case.id


def test_smoke_suite_end_to_end(parts, assistant, tmp_path):
    suite = load_suite(SUITES / "smoke.yaml")
    calls = []
    result = run_suites([suite], assistant, tmp_path / "run", k=assistant.settings.k, show_bar=False,
                        store=parts.library.store,
                        progress=lambda done, total, cid: calls.append((done, total, cid)))
    n = len(suite.cases)
    assert calls == [(i + 1, n, c.id) for i, c in enumerate(suite.cases)]
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} == {"results.jsonl", "summary.json", "report.md", "report.html"}

    lines = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in lines] == [c.id for c in suite.cases]
    for r, case in zip(lines, suite.cases, strict=True):
        assert set(r) >= REQUIRED
        assert r["generator"] == "extractive" and r["latency_ms"] > 0 and not r["error"]
        assert isinstance(r["abstained"], bool) and isinstance(r["unsupported_sentences"], list)
        for c in r["citations"]:
            assert set(c) >= {"marker", "doc_id", "chunk_id", "start", "end", "text"}
            assert f"[{c['marker']}]" in r["answer"]
            # the citation's text is the full cited passage, located by its span in the document
            doc = parts.library.document(c["doc_id"])
            assert doc.text[c["start"]:c["end"]] == c["text"]
        assert all(set(p) >= {"chunk_id", "doc_id", "score", "text"} for p in r["retrieved"])
        assert len(r["retrieved"]) <= assistant.settings.k
        if case.answerable:
            assert r["relevant_chunk_ids"], f"{case.id}: evidence found in no indexed chunk"

    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["k"] == assistant.settings.k and summary["generator"] == "extractive"
    assert set(summary["by_tag"]) == {t for c in suite.cases for t in c.tags}
    counts = summary["overall"]["counts"]
    assert counts["cases"] == n and counts["passed"] == sum(r["passed"] for r in lines)
    assert counts["abstained"] == sum(r["abstained"] for r in lines)
    assert summary["overall"]["stages_ms"], "per-stage latency comes from Answer.timings"
    assert result.summary["overall"]["pass_rate"] == pytest.approx(counts["passed"] / n)

    html = (out / "report.html").read_text("utf-8")
    assert "<svg" in html and "latency histogram" in html and "metric bars" in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    for c in suite.cases:
        assert c.id in html
    # the run can be re-read from disk alone
    s2, recs2 = load_run(out)
    assert s2["overall"]["counts"] == counts and len(recs2) == n


def test_follow_up_history_reaches_the_assistant(assistant, tmp_path):
    """The same question gives a different retrieval query with and without its history."""
    case = next(c for c in load_suite(SUITES / "smoke.yaml").cases if c.history)
    bare = Case(id="bare", question=case.question, answers=case.answers, evidence=case.evidence)
    from rag.eval.suite import Suite

    result = run_suites([Suite("s", (case, bare))], assistant, tmp_path, show_bar=False)
    with_history, without = result.records
    assert with_history["query"] != without["query"]


# ---------------------------------------------------------------- hand-built records (no index needed)

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _hostile_records() -> list[dict]:
    text = f"Japan voiced grave concerns {EVIL} ![img](http://evil.example/a.png)"
    chunk = Chunk("c1", "d", "T", 0, 0, len(text), text)
    ans = Answer(
        question="q", text=f"Japan voiced grave concerns {EVIL} [1].",
        sentences=[Sentence(f"Japan voiced grave concerns {EVIL}.", (1,), False, 0.2)],
        citations=[Citation(1, "c1", "d", "T", 0, len(text), text)],
        retrieved=[Passage(chunk, 1.0, 1)], abstained=False, generator="hand-built",
        timings={"retrieve": 3.0},
    )
    good = Case(id="good", question=f"What did Japan voice? {EVIL}", answers=("grave concerns",),
                evidence=("grave concerns",), tags=("fact",))
    bad = Case(id="bad", question="Capital of France?", answerable=False, tags=("off-topic",))
    return [answer_record(good, "s", ans, 12.0), answer_record(bad, "s", ans, 30.0)]


def test_reports_escape_untrusted_text_and_put_failures_first(tmp_path: Path):
    result = write_run(tmp_path, _hostile_records(), k=5)
    html = (tmp_path / "report.html").read_text("utf-8")
    md = (tmp_path / "report.md").read_text("utf-8")
    assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;" in html
    assert "http://evil.example" in html  # shown as text...
    assert 'src="http' not in html and "href=" not in html  # ...never as a link or image
    assert "<script" not in md and "<img" not in md and "![img](" not in md
    # the failing unanswerable case comes before the passing one in both reports
    assert html.index("s/bad") < html.index("s/good")
    assert md.index("s/bad") < md.index("s/good")
    assert result.scores["s/bad"].passed is False and result.scores["s/good"].passed is True


def test_results_jsonl_round_trip_keeps_scores(tmp_path: Path):
    write_run(tmp_path, _hostile_records(), k=5)
    _, recs = load_run(tmp_path)
    assert [r["passed"] for r in recs] == [True, False]
    assert recs[1]["scores"]["reasons"] == ["answered a question the sources do not settle", "1 unsupported sentence(s)"]


def test_a_refused_question_is_a_failed_case_not_a_crash(assistant, tmp_path):
    from rag.eval.suite import Suite

    long_q = "What did Japan voice? " * 200  # over the max_question_chars limit
    case = Case(id="too-long", question=long_q, answers=("grave concerns",), evidence=("grave concerns",))
    result = run_suites([Suite("s", (case,))], assistant, tmp_path, show_bar=False)
    rec = result.records[0]
    assert rec["error"].startswith("LimitError") and "limit" in rec["error"]
    assert result.scores["s/too-long"].passed is False
    assert result.summary["overall"]["counts"]["errors"] == 1


def test_a_run_that_dies_leaves_the_finished_cases(assistant, tmp_path):
    """Fault injection (the real assistant cannot be made to crash on demand): the second ask raises."""
    from rag.eval.suite import Suite

    class DiesOnSecondCase:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def ask(self, question, history=None):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("killed")
            return self.inner.ask(question, history)

    cases = load_suite(SUITES / "smoke.yaml").cases[:3]
    with pytest.raises(RuntimeError):
        run_suites([Suite("s", cases)], DiesOnSecondCase(assistant), tmp_path, show_bar=False)
    done = [json.loads(x) for x in (tmp_path / "results.partial.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in done] == [cases[0].id] and done[0]["answer"]
    assert not (tmp_path / "summary.json").exists()
