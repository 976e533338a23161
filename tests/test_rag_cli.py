"""`python -m rag`: real subprocesses over the session's article index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_ask_json(article_index):
    p = run("-m", "rag", "ask", "How many shipping containers has Russia received from North Korea?",
            "--json", "--generator", "extractive", "--k", "3", "--data-dir", str(article_index))
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert "10,000" in d["text"] and not d["abstained"]
    assert d["generator"] == "extractive" and len(d["retrieved"]) == 3
    assert d["citations"][0]["marker"] == 1 and "10,000 shipping containers" in d["citations"][0]["text"]
    assert set(d["timings"]) >= {"rewrite", "retrieve", "generate", "verify", "total"}


def test_ask_prints_answer_and_cited_passages_without_importing_gradio(article_index):
    code = (
        "import sys; from rag.cli import main; "
        f"rc = main(['ask', 'Who is Yun Sun?', '--generator', 'extractive', '--data-dir', {str(article_index)!r}]); "
        "print('GRADIO' if 'gradio' in sys.modules else 'NO-GRADIO'); sys.exit(rc)"
    )
    p = run("-c", code)
    assert p.returncode == 0, p.stderr
    answer_line = p.stdout.splitlines()[0]
    assert "Stimson Center" in answer_line and "[1]" in answer_line
    assert "Sources:" in p.stdout and "[1] The Elephant In The Room" in p.stdout and "chars " in p.stdout
    assert "-- extractive" in p.stdout
    assert p.stdout.strip().endswith("NO-GRADIO")


def test_errors_are_one_line_and_exit_2(tmp_path, article_index):
    p = run("-m", "rag", "ask", "   ", "--generator", "extractive", "--data-dir", str(article_index))
    assert p.returncode == 2 and p.stderr.strip().startswith("error:") and "empty" in p.stderr
    assert "Traceback" not in p.stderr
    p = run("-m", "rag", "ask", "Who is Yun Sun?", "--generator", "extractive", "--data-dir", str(tmp_path / "none"))
    assert p.returncode == 2 and "python -m index build" in p.stderr and "Traceback" not in p.stderr


def test_chat_keeps_history(article_index):
    p = run("-m", "rag", "chat", "--generator", "extractive", "--data-dir", str(article_index),
            stdin="Who is Yun Sun?\nWhat did she say about China's role?\n\n")
    assert p.returncode == 0, p.stderr
    assert "irreplaceable" in p.stdout


@pytest.mark.parametrize("argv", [["eval", "--help"]])
def test_eval_is_delegated(argv):
    p = run("-m", "rag", *argv)
    assert p.returncode == 0, p.stderr
    assert "--out" in p.stdout
