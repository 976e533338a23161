"""`python -m bench.new_questions --smoke` runs end to end, so the user-facing latency benchmark cannot rot.

Real parts (the embedding model, Chroma, the cascade reader, a cold `python -m rag ask`), tiny sizes and no
timing assertions: what is asserted is the work done. Every question was asked once and has its stage
timings and its raw parts beside it, the first question is reported, the concurrent users asked every
question, and the cold CLI answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.squad import SQUAD

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1200)
def test_new_questions_smoke(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    squad = SQUAD  # ../shared/data: absent on a bare CI box, where the paraphrases carry every section
    proc = subprocess.run([sys.executable, "-m", "bench.new_questions", "--smoke", "--data-dir", str(tmp_path / "d"),
                           "--out", str(tmp_path / "out"), "--squad", str(squad)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1100)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "new-questions.json").read_text())
    serial = res["serial"]
    assert "error" not in serial, serial
    n_squad = 2 if squad.is_file() else 0  # half of the 4 smoke SQuAD questions are asked serially
    assert len(serial["rows"]) == 4 + n_squad
    assert len({r["question"] for r in serial["rows"]}) == len(serial["rows"]), "each question asked once"
    for r in serial["rows"]:
        assert {"plan", "retrieve", "gate", "total"} <= set(r["timings"])
        assert {"encode_ms", "chroma_ms", "raw_ms"} <= set(r["raw"])
    assert any("reader_ms" in r["raw"] for r in serial["rows"]), "the reader's raw call on the same pairs"
    assert serial["first_question"]["question"] == serial["rows"][0]["question"] and serial["start_s"] > 0
    assert res["stages"]["end_to_end"]["n"] == len(serial["rows"])
    conc = res["concurrent"]
    assert "error" not in conc, conc
    assert conc["users"] == 10 and conc["asks"]["n"] == (2 if squad.is_file() else 4)
    assert [c["ok"] for c in res["cli"]] == [True], res["cli"]
    md = (tmp_path / "out" / "new-questions.md").read_text()
    assert "load" in md and "ours / raw parts" in md and "concurrent users" in md
