"""`python -m rag eval`: exit codes for --fail-under, clear errors, and --compare."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from core.types import Answer
from rag.eval.cli import check_thresholds, main, parse_thresholds
from rag.eval.compare import compare_dirs, format_comparison
from rag.eval.runner import answer_record, write_run
from rag.eval.suite import Case

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SMOKE = str(PROJECT_ROOT / "suites" / "smoke.yaml")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    from core.settings import load_settings
    from index.pipeline import Indexer

    d = tmp_path_factory.mktemp("data")
    assert not Indexer.from_settings(load_settings({"data_dir": d}, env={})).build_bundled().errors
    return str(d)


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("RAG_LLM_URL", "OPENAI_BASE_URL", "RAG_CONFIG", "RAG_K", "RAG_GENERATOR", "RAG_CHROMA_URL"):
        monkeypatch.delenv(var, raising=False)


def test_fail_under_exit_codes_name_the_missed_threshold(data_dir, tmp_path, capsys, clean_env):
    out = tmp_path / "run"
    rc = main(["eval", SMOKE, "--out", str(out), "--generator", "extractive", "--data-dir", data_dir, "--quiet",
               "--fail-under", "abstention_recall=0", "pass_rate=1.01"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "pass_rate" in err and "below the threshold 1.01" in err
    assert "abstention_recall" not in err  # met thresholds are not reported as failures
    assert (out / "summary.json").is_file() and (out / "report.html").is_file()

    rc = main([SMOKE, "--out", str(tmp_path / "run2"), "--generator", "extractive", "--data-dir", data_dir,
               "--quiet", "--k", "2", "--fail-under", "pass_rate=0", "smoke-missing-tag:pass_rate=0"])
    captured = capsys.readouterr()
    assert rc == 1 and "no case has tag 'smoke-missing-tag'" in captured.err

    rc = main(["--compare", str(out), str(tmp_path / "run2")])
    text = capsys.readouterr().out
    assert rc == 0
    assert "Metrics:" in text and "pass_rate" in text and "Regressed cases" in text and "Improved cases" in text


def test_bad_threshold_specs_fail_before_running(tmp_path, capsys, clean_env):
    out = tmp_path / "never"
    rc = main([SMOKE, "--out", str(out), "--data-dir", str(tmp_path), "--fail-under", "acuracy=0.5"])
    assert rc == 2 and "acuracy" in capsys.readouterr().err and not out.exists()
    rc = main([SMOKE, "--out", str(out), "--data-dir", str(tmp_path), "--fail-under", "latency_p95_ms=100"])
    assert rc == 2 and "lower-is-better" in capsys.readouterr().err
    rc = main([SMOKE, "--out", str(out), "--data-dir", str(tmp_path), "--fail-under", "mrr=high"])
    assert rc == 2 and "not a number" in capsys.readouterr().err


def test_missing_index_and_missing_suite_are_clear_errors(tmp_path, capsys, clean_env):
    rc = main([SMOKE, "--out", str(tmp_path / "o"), "--generator", "extractive", "--data-dir", str(tmp_path)])
    assert rc == 2 and "index build" in capsys.readouterr().err
    rc = main([str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_judge_needs_a_configured_llm(tmp_path, capsys, clean_env):
    rc = main([SMOKE, "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path), "--judge"])
    assert rc == 2 and "RAG_LLM_URL" in capsys.readouterr().err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["eval"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["--compare", "a", "b", SMOKE])


def test_threshold_helpers():
    assert parse_thresholds(["answer_correctness=0.7", "injection:pass_rate=1"]) == [
        (None, "answer_correctness", 0.7), ("injection", "pass_rate", 1.0)]
    summary = {"overall": {"answer_correctness": 0.69, "citation_recall": None}, "by_tag": {}}
    missed = check_thresholds(summary, parse_thresholds(["answer_correctness=0.7", "citation_recall=0.5"]))
    assert len(missed) == 2 and "0.690 is below" in missed[0] and "not measurable" in missed[1]
    assert check_thresholds(summary, parse_thresholds(["answer_correctness=0.69"])) == []


def _run_dir(path: Path, answers: dict[str, tuple[str, bool]]) -> Path:
    cases = {
        "a": Case(id="a", question="q", answers=("grave concerns",), tags=("fact",)),
        "b": Case(id="b", question="q", answers=("10,000",), tags=("fact",)),
        "u": Case(id="u", question="q", answerable=False, tags=("unanswerable",)),
    }
    recs = []
    for cid, (text, abstained) in answers.items():
        ans = Answer(question="q", text=text, sentences=[], citations=[], retrieved=[], abstained=abstained,
                     generator="hand-built")
        recs.append(answer_record(cases[cid], "s", ans, 10.0))
    write_run(path, recs, k=5)
    return path


def test_compare_reports_cases_and_metrics_that_moved(tmp_path):
    a = _run_dir(tmp_path / "a", {"a": ("grave concerns", False), "b": ("no idea", False), "u": ("x", True)})
    b = _run_dir(tmp_path / "b", {"a": ("pleased", False), "b": ("10000 containers", False), "u": ("x", False)})
    cmp = compare_dirs(a, b)
    assert [k for k, _ in cmp.fixed] == ["s/b"]
    assert {k for k, _ in cmp.broken} == {"s/a", "s/u"}
    assert cmp.regressed
    verdicts = {name: v for name, _, _, v in cmp.metrics}
    assert verdicts["answer_correctness"] == "same"  # one fixed, one broken: 0.5 -> 0.5
    assert verdicts["abstention_recall"] == "regressed" and verdicts["pass_rate"] == "regressed"
    text = format_comparison(cmp, "a", "b")
    assert "s/b" in text.split("Improved cases")[1] and "s/u" in text.split("Regressed cases")[1]
