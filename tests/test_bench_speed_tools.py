"""`python -m bench.served` and `python -m bench.ingest_default` run end to end, so issue 28's figures can be
taken again. Real parts (the server over HTTP, the ONNX embedder, Chroma), tiny sizes and no timing
assertions: what is asserted is the work done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1100)


@pytest.mark.timeout(1200)
def test_served_asks_the_real_server_and_reads_its_idle_cpu(tmp_path: Path) -> None:
    out = tmp_path / "served.json"
    proc = _run(["bench.served", "--data-dir", str(tmp_path / "d"), "--idle-s", "1", "--questions", "3",
                 "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["ready_s"] > 0 and res["first_after_ready_ms"] > 0
    assert res["new_questions"]["n"] == 3  # every answer was HTTP 200 (raise_for_status)
    assert res["idle"]["cpu_pct_of_core"] >= 0
    assert "first /v1 question after ready" in proc.stdout


@pytest.mark.timeout(1200)
def test_ingest_default_indexes_and_encodes_the_same_texts(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    proc = _run(["bench.ingest_default", "--passages", "20", "--rounds", "1", "--cache", str(tmp_path / "cache"),
                 "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["backend"].startswith("onnx")
    pipe = res["pipeline"]
    assert pipe["chunks"] >= 20 and pipe["views"] >= pipe["chunks"]
    assert pipe["searchable_s"] <= pipe["total_s"]
    assert res["raw"]["chunks_s"] > 0 and res["raw"]["views_s"] > 0
    assert res["ratio_add_vs_raw_all"] > 0
