"""Reader feedback: crash-safe storage, rotation, verdict checks, export rules, the known-bad metric, and
exported cases that fail on the current build and pass with a fixed answer.

Answers here are built as data (core.types) where the test is about storage or export rules; the round
trip through `rag eval` uses the real extractive assistant over the bundled article.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import InputError
from core.types import Answer, Chunk, Citation, Passage, Sentence, Turn
from rag.eval.metrics import summarize
from rag.eval.suite import load_suite, parse_yaml
from rag.feedback.export import build_export, write_export
from rag.feedback.record import Pointer, Verdict, build_record, check_verdict
from rag.feedback.store import FeedbackStore, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert(1)</script> [click](http://evil.example/x) ![i](http://evil.example/p.png) | pipe"


def chunk(i: int, text: str) -> Chunk:
    return Chunk(f"doc.txt::abcdef012345::{i:05d}", "doc.txt", "Doc", i, i * 100, i * 100 + len(text), text)


def answer(question: str, text: str = "Paris is big [1].", abstained: bool = False, cite: int = 0) -> Answer:
    chunks = [chunk(0, "Paris is the capital of France. It is big."), chunk(1, "Lyon is a city. It has silk.")]
    c = chunks[cite]
    cites = [] if abstained else [Citation(1, c.chunk_id, c.doc_id, c.title, c.start, c.end, c.text,
                                           c.start, c.start + 31)]
    sents = [] if abstained else [Sentence(text.replace(" [1]", ""), (1,), True, 0.9)]
    return Answer(question=question, text=text, sentences=sents, citations=cites,
                  retrieved=[Passage(ch, 1 / (i + 1), i + 1) for i, ch in enumerate(chunks)],
                  abstained=abstained, generator="extractive", query=question)


def rec(question: str, verdict: Verdict, **kw) -> dict:
    a = kw.pop("ans", None) or answer(question, abstained=verdict.kind == "documents_answer")
    return build_record(a, [], verdict, conversation="c1", index_generation="g1", **kw)


# ---------------------------------------------------------------- storage


def test_records_survive_a_new_store_and_keep_raw_text(tmp_path: Path):
    store = FeedbackStore(tmp_path / "fb")
    r = store.append(rec("What is big?", Verdict("thumbs_down", expected="Lyon"), comment=HOSTILE, user="ann"))
    again = FeedbackStore(tmp_path / "fb")  # a restart
    assert again.records() == [r]
    assert again.get(r["id"])["comment"] == " ".join(HOSTILE.split())  # stored raw, escaped only when shown
    assert r["user"] == "ann" and r["index_generation"] == "g1" and r["retrieved"][0]["text"].startswith("Paris")
    with pytest.raises(InputError, match="feedback list"):
        again.get("fb-nope")


def test_rotation_caps_the_files(tmp_path: Path):
    store = FeedbackStore(tmp_path, max_bytes=64 * 1024, keep=2)
    for i in range(60):
        store.append({"id": f"r{i}", "pad": "x" * 4000})
    names = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert names == ["feedback.1.jsonl", "feedback.2.jsonl", "feedback.jsonl"]
    assert all(p.stat().st_size <= 64 * 1024 for p in tmp_path.glob("*.jsonl"))
    ids = [r["id"] for r in store.records()]
    assert ids[-1] == "r59" and ids == sorted(ids, key=lambda x: int(x[1:]))  # oldest first, newest kept
    assert len(ids) < 60  # the oldest were dropped


def test_a_torn_last_line_is_skipped_then_cut_off_by_the_next_append(tmp_path: Path):
    store = FeedbackStore(tmp_path)
    store.append({"id": "a"})
    with store.live.open("ab") as f:
        f.write(b'{"id": "torn", "comm')
    assert [r["id"] for r in store.records()] == ["a"]
    store.append({"id": "b"})
    assert [r["id"] for r in store.records()] == ["a", "b"]
    assert [json.loads(line)["id"] for line in store.live.read_text().splitlines()] == ["a", "b"]


WRITER = """
import sys
from rag.feedback.store import FeedbackStore
store = FeedbackStore(sys.argv[1], max_bytes=64 * 1024 * 1024, keep=1)
i = 0
while True:
    store.append({"id": f"w{i}", "pad": "y" * 2_000_000})
    i += 1
"""


def test_kill_9_during_writes_leaves_valid_jsonl(tmp_path: Path):
    folder = tmp_path / "fb"
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=ROOT)
        live = folder / "feedback.jsonl"
        deadline = time.monotonic() + 60
        while (not live.is_file() or live.stat().st_size < (round_ + 1) * 3_000_000) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raw = live.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1].splitlines()
        assert complete, "the writer wrote at least one record"
        for line in complete:  # every finished line is one whole JSON object
            assert json.loads(line)["pad"] == "y" * 2_000_000
        assert len(read_jsonl(live)) == len(complete)
    FeedbackStore(folder).append({"id": "after"})
    assert FeedbackStore(folder).records()[-1]["id"] == "after"


# ---------------------------------------------------------------- verdicts


def test_verdicts_are_checked_against_their_answer():
    a = answer("Q?")
    with pytest.raises(InputError, match=r"\[7\] is not in this answer"):
        check_verdict(a, Verdict("citation_rejected", marker=7))
    with pytest.raises(InputError, match="applies to an abstention"):
        check_verdict(a, Verdict("documents_answer", expected="x"))
    with pytest.raises(InputError, match="expected short answer"):
        check_verdict(answer("Q?", abstained=True), Verdict("documents_answer"))
    with pytest.raises(InputError, match="unknown feedback kind"):
        check_verdict(a, Verdict("meh"))
    with pytest.raises(InputError, match="not in the passage"):
        p = Pointer("c", "d", 0, 5, "Lyon has silk.")
        check_verdict(answer("Q?", abstained=True), Verdict("documents_answer", expected="x", evidence="wool",
                                                            pointer=p))
    r = build_record(a, [Turn("user", "hi"), Turn("assistant", "hello")], Verdict("citation_rejected", marker=1))
    assert r["verdict"]["chunk_id"] == a.citations[0].chunk_id and r["verdict"]["quote"] == "Paris is the capital of France."
    assert r["history"][0] == {"role": "user", "content": "hi"}


# ---------------------------------------------------------------- export rules


def test_export_rules_merge_and_contradictions(tmp_path: Path):
    records = [
        rec("What is big?", Verdict("thumbs_down", expected="Lyon")),
        rec("what is  BIG?", Verdict("thumbs_down", expected="Lyon")),  # duplicate: merged
        rec("Which city has silk?", Verdict("citation_rejected", marker=1)),
        rec("Which city has silk?", Verdict("citation_rejected", marker=1)),  # duplicate: merged
        rec("Where is silk made?", Verdict("documents_answer", expected="Lyon",
                                           pointer=Pointer(chunk(1, "").chunk_id, "doc.txt", 100, 128,
                                                           "Lyon is a city. It has silk."))),
        rec("Is Paris big?", Verdict("not_in_documents")),
        rec("Who founded Rome?", Verdict("thumbs_down", expected="Romulus")),  # contradiction: answer vs none
        rec("Who founded Rome?", Verdict("not_in_documents")),
        rec("Size of Paris?", Verdict("thumbs_down", expected="105 km2")),  # contradiction: two answers
        rec("Size of Paris?", Verdict("thumbs_down", expected="12 million")),
        rec("Is it?", Verdict("thumbs_up")),  # contradiction: up and down on the same answer
        rec("Is it?", Verdict("not_in_documents")),
        rec("Nice?", Verdict("thumbs_up")),  # no case
        rec("Meh?", Verdict("thumbs_down")),  # no correction: no case
    ]
    ex = build_export(records)
    by_q = {c["question"]: c for c in ex.cases}
    assert set(by_q) == {"What is big?", "Which city has silk?", "Where is silk made?", "Is Paris big?"}
    assert by_q["What is big?"]["answers"] == ["Lyon"] and len(by_q["What is big?"]["feedback_ids"]) == 2
    silk = by_q["Which city has silk?"]
    assert silk["forbidden_citations"] == [chunk(0, "").chunk_id, "Paris is the capital of France."]
    assert "answers" not in silk and len(silk["feedback_ids"]) == 2
    assert by_q["Where is silk made?"]["evidence"] == ["Lyon is a city."]  # the sentence holding the answer
    assert by_q["Is Paris big?"]["answerable"] is False
    assert all(c["id"] == c["feedback_ids"][0] for c in ex.cases)  # each case links back to its record
    problems = {c["question"]: " ".join(c["problems"]) for c in ex.contradictions}
    assert set(problems) == {"Who founded Rome?", "Size of Paris?", "Is it?"}
    assert "not in the documents" in problems["Who founded Rome?"]
    assert "different expected answers" in problems["Size of Paris?"]
    assert "thumbs up and a thumbs down" in problems["Is it?"]
    assert {why for _, why in ex.skipped} >= {"a thumbs up: no case to test",
                                               "thumbs_down without an expected answer: no case to test"}

    out = tmp_path / "suites" / "feedback.yaml"
    side = write_export(ex, out)
    suite = load_suite(out)  # a valid suite
    assert len(suite.cases) == 4 and suite.name == "feedback"
    assert side is not None and json.loads(side.read_text())[0]["records"]
    assert side.suffix == ".json"  # not offered as a suite


def test_cli_list_show_export(tmp_path: Path, capsys):
    from rag.feedback.cli import main

    data = tmp_path / "data"
    store = FeedbackStore(data / "feedback")
    r = store.append(rec("What is big?", Verdict("thumbs_down", expected="Lyon"), comment="bad\x1b[31m red"))
    assert main(["--data-dir", str(data), "list"]) == 0
    assert r["id"] in capsys.readouterr().out
    assert main(["--data-dir", str(data), "show", r["id"]]) == 0
    shown = capsys.readouterr().out
    assert "expected: Lyon" in shown and "\x1b" not in shown and "Paris is big" in shown
    assert main(["--data-dir", str(data), "show", "fb-missing"]) == 2
    assert main(["--data-dir", str(data), "export", "--out", str(tmp_path / "f.yaml")]) == 0
    assert load_suite(tmp_path / "f.yaml").cases[0].answers == ("Lyon",)


# ---------------------------------------------------------------- suite field and metric


def test_forbidden_citations_field_and_known_bad_rate():
    suite = parse_yaml("cases:\n  - {id: a, question: Q, forbidden_citations: [doc::h::00001, some phrase]}\n")
    assert suite.cases[0].forbidden_citations == ("doc::h::00001", "some phrase")
    base = {"suite": "s", "answerable": True, "accepted_answers": [], "abstained": False, "answer": "x [1] [2].",
            "sentences": [{"text": "x", "markers": [1, 2]}], "retrieved": [],
            "forbidden_citations": ["doc::h::00001", "Some Phrase"]}
    bad = dict(base, id="bad", citations=[{"marker": 1, "chunk_id": "doc::h::00001", "text": "a"},
                                          {"marker": 2, "chunk_id": "doc::h::00002", "text": "with some phrase."}])
    good = dict(base, id="good", citations=[{"marker": 1, "chunk_id": "doc::h::00003", "text": "fine"}])
    plain = {"suite": "s", "id": "plain", "answerable": True, "accepted_answers": ["x"], "abstained": False,
             "answer": "x [1]", "citations": [{"marker": 1, "chunk_id": "doc::h::00001", "text": "a"}],
             "retrieved": [], "sentences": []}
    summary, scores = summarize([bad, good, plain], k=5)
    assert not scores["s/bad"].passed and "reader marked" in " ".join(scores["s/bad"].reasons)
    assert scores["s/good"].passed and scores["s/plain"].passed  # no forbidden list: not counted
    assert summary["overall"]["known_bad_citation_rate"] == pytest.approx(2 / 3)


def test_a_citation_only_case_is_not_answerable_and_its_bad_citation_is_not_precise():
    """Issue 29: the report showed citation_precision 1.000 beside known_bad_citation_rate 1.000, and counted
    the citation-only case as answerable (so abstaining on it was a false abstention)."""
    cited = {"suite": "s", "id": "cited", "question": "How many containers?", "answerable": True,
             "accepted_answers": [], "abstained": False, "answer": "Russia received 10,000 containers [1].",
             "sentences": [{"text": "Russia received 10,000 containers", "markers": [1]}], "retrieved": [],
             "citations": [{"marker": 1, "chunk_id": "doc::h::00001", "text": "Russia received 10,000 containers."}],
             "forbidden_citations": ["doc::h::00001"]}
    declined = dict(cited, id="declined", abstained=True, answer="The sources don't cover this question.",
                    citations=[], sentences=[])
    plain = {"suite": "s", "id": "plain", "question": "Q", "answerable": True, "accepted_answers": ["x"],
             "abstained": False, "answer": "x [1].", "retrieved": [], "sentences": [{"text": "x", "markers": [1]}],
             "citations": [{"marker": 1, "chunk_id": "doc::h::00009", "text": "x"}]}
    summary, scores = summarize([cited, declined, plain], k=5)
    ov = summary["overall"]
    assert ov["known_bad_citation_rate"] == 1.0
    assert ov["citation_precision"] == pytest.approx(1 / 2)  # the good citation of `plain`, not the bad one
    assert ov["counts"]["answerable"] == 1 and ov["counts"]["citation_only"] == 2
    assert ov["counts"]["abstained"] == 1
    assert ov["false_abstention_rate"] == 0.0 and ov["abstention_accuracy"] == 1.0  # declining is not scored
    assert scores["s/declined"].passed and not scores["s/cited"].passed
    assert scores["s/cited"].cause == "citation"


# ---------------------------------------------------------------- current build fails, a fix passes


class Fixed:
    """The current assistant with its answers corrected: the expected answer said, the rejected passage
    replaced by another retrieved one. What a fixed build would return."""

    def __init__(self, assistant, fixes: dict[str, str]) -> None:
        self.assistant, self.fixes = assistant, fixes
        self.generator_name = "fixed"

    def ask(self, question: str, history=None) -> Answer:
        a = self.assistant.ask(question, history)
        fix = self.fixes.get(question)
        if fix == "recite":
            other = next(p.chunk for p in a.retrieved if p.chunk.chunk_id not in {c.chunk_id for c in a.citations})
            cites = [replace(c, chunk_id=other.chunk_id, text=other.text, start=other.start, end=other.end)
                     for c in a.citations]
            return replace(a, citations=cites)
        if fix:
            return replace(a, text=f"{fix} [1].", abstained=False)
        return a


def test_exported_cases_fail_now_and_pass_when_fixed(article_assistant, tmp_path: Path):
    from rag.eval.runner import run_suites

    q_wrong = "Who said that any such meeting will also include discussion of China?"
    q_cite = "How many shipping containers has Russia received from North Korea?"
    a_wrong, a_cite = article_assistant.ask(q_wrong), article_assistant.ask(q_cite)
    assert a_cite.citations, "the current build cites the containers passage"
    store = FeedbackStore(tmp_path / "fb")
    store.append(build_record(a_wrong, [], Verdict("thumbs_down", expected="Choe Son Hui"), comment=HOSTILE))
    store.append(build_record(a_cite, [], Verdict("citation_rejected", marker=a_cite.citations[0].marker)))
    out = tmp_path / "feedback.yaml"
    write_export(build_export(store.records()), out)
    suite = load_suite(out)

    now = run_suites([suite], article_assistant, tmp_path / "now", show_bar=False)
    assert [now.scores[f"feedback/{c.id}"].passed for c in suite.cases] == [False, False]
    assert now.summary["overall"]["known_bad_citation_rate"] == 1.0
    # the rejected citation is not precise, and the citation-only case is not an answerable one
    cited = now.scores[f"feedback/{next(c for c in suite.cases if c.forbidden_citations).id}"]
    assert cited.citations and cited.precise_citations == 0 and cited.cause == "citation"
    assert now.summary["overall"]["counts"]["citation_only"] == 1
    assert now.summary["overall"]["counts"]["answerable"] == 1

    fixed = Fixed(article_assistant, {q_wrong: "Choe Son Hui", q_cite: "recite"})
    then = run_suites([suite], fixed, tmp_path / "fixed", show_bar=False)
    assert [then.scores[f"feedback/{c.id}"].passed for c in suite.cases] == [True, True]
    assert then.summary["overall"]["known_bad_citation_rate"] == 0.0


# ---------------------------------------------------------------- reports: signal chart, hostile text escaped


def test_reports_escape_hostile_feedback_and_chart_the_signal(tmp_path: Path):
    from rag.eval.runner import answer_record, write_run
    from rag.feedback.signal import feedback_signal

    q = f"What is big? {HOSTILE}"
    records = [rec(q, Verdict("thumbs_down", expected="<b>Lyon</b> [x](http://evil.example/a)"), comment=HOSTILE),
               rec("Which city has silk?", Verdict("citation_rejected", marker=1)),
               rec("Nice?", Verdict("thumbs_up"))]
    records[2]["index_generation"] = "<script>g2</script>"
    signal = feedback_signal(records)
    assert [(s["index_generation"], s["points"][0]["down_share"], s["points"][0]["rejected_share"])
            for s in signal["series"]] == [("<script>g2</script>", 0.0, 0.0), ("g1", 1.0, 0.5)]
    write_export(build_export(records), tmp_path / "fb.yaml")
    suite = load_suite(tmp_path / "fb.yaml")
    run = [answer_record(c, suite.name, answer(c.question), 5.0) for c in suite.cases]
    write_run(tmp_path / "run", run, run_info={"suites": [suite.name], "feedback": signal})
    md = (tmp_path / "run" / "report.md").read_text()
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Reader feedback over time" in md and "Reader feedback over time" in page
    assert "known_bad_citation_rate" in md and "known_bad_citation_rate" in page
    assert "<svg" in page and "polyline" not in page.split("Reader feedback")[0][-10:]
    for text in (md, page):
        assert "<script>" not in text and "<b>Lyon" not in text
    assert "\\[x\\](http" in md and not re.search(r"(?<!\\)\]\(http", md)  # link syntax neutralised
    assert "&lt;b&gt;Lyon&lt;/b&gt;" in page and "&lt;b&gt;Lyon&lt;/b&gt;" in md
    assert "&lt;script&gt;" in page and "from reader feedback fb-" in page
    assert "<a " not in page and "<script" not in page.lower().replace("&lt;script", "")
