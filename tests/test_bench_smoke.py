"""The benchmarks still run end to end (`python -m bench --smoke`), so they cannot rot between full runs.

Real parts throughout: the real embedding model, real Chroma, real bm25s, the extractive generator
and a real `python -m ui` server. Tiny sizes, and no timing assertions: speed targets live in the
benchmark report, not in the test suite. What is asserted is that every section produced its figures
and its raw counterpart, that the corpora have exactly the requested number of passages, and that the
re-index of an unchanged corpus embedded nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIZES = (40, 90)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--sizes", ",".join(map(str, SIZES)), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.timeout(1800)
def test_smoke_writes_json_markdown_and_png(smoke):
    data = json.loads((smoke / "latest.json").read_text())
    assert {"meta", "indexing", "corpora", "retrieval", "answering", "startup", "targets"} <= set(data)
    assert data["meta"]["smoke"] is True and data["meta"]["sizes"] == list(SIZES)

    idx = data["indexing"]
    assert idx["corpus_chunks"] == SIZES[0]
    assert idx["pipeline"]["chunks_per_s"] > 0 and idx["raw"]["encode_chunks_per_s"] > 0
    assert idx["ratio_vs_raw_encode"] == pytest.approx(
        idx["pipeline"]["chunks_per_s"] / idx["raw"]["encode_chunks_per_s"])
    assert idx["reindex"]["embedded_chunks"] == 0 and idx["reindex"]["skipped"] == idx["documents"]

    names = ["article", *(f"{n:,}" for n in SIZES)]
    assert list(data["retrieval"]) == names
    for name in names:
        r = data["retrieval"][name]
        assert "error" not in r, r
        assert r["ours"]["n"] == r["raw"]["n"] > 0
        assert {"p50_ms", "p95_ms"} <= set(r["ours"]) and {"embed_p50_ms", "chroma_p50_ms", "bm25_p50_ms"} <= set(r["raw"])
        assert r["rss_serving_mb"] > 0 and "ratio_p50" in r
        assert data["corpora"][name]["disk_bytes"] > 0
    # the corpus builder hits the requested size exactly, as the chunker counts passages
    assert [data["retrieval"][f"{n:,}"]["passages"] for n in SIZES] == list(SIZES)

    ext = data["answering"]["extractive"]
    assert "error" not in ext, ext
    assert ext["cases"] == 4 and ext["ours_total"]["n"] == 4
    assert ext["raw_total"]["n"] == ext["generator_called"]
    assert set(ext["stages_p50_ms"]) >= {"retrieve", "generate", "verify"}

    up = data["startup"]["extractive"]
    assert "error" not in up, up
    if "skipped" not in up:
        assert up["ready_s"] > 0 and up["peak_rss_serving_mb"] >= up["peak_rss_ready_mb"] > 0
        assert len(up["ui_answer_ms"]) == 1

    kinds = {t["target"] for t in data["targets"]}
    assert any("raw encode" in k for k in kinds) and any("extractive" in k for k in kinds)

    md = (smoke / "latest.md").read_text()
    for heading in ("## Targets", "## Indexing", "## Retrieval", "## Answering", "## Start-up"):
        assert heading in md
    assert "ratio" in md and "latest.png" in md

    png = (smoke / "latest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_smoke_compares_the_embedding_backends(smoke):
    emb = json.loads((smoke / "latest.json").read_text())["embedding"]
    assert emb["backends"] == ["torch", "onnx-fp32", "onnx-int8"]
    for b in emb["backends"]:
        assert emb["indexing"][b]["chunks_per_s"] > 0
        assert emb["query"][b]["idle"]["n"] > 0 and emb["query"][b]["load"]["users"] == 20
        assert all(emb["retrieval"][n][b]["n"] > 0 for n in emb["retrieval"])
        for suite in emb["quality"].values():
            assert 0 <= suite[b]["hybrid"]["mrr"] <= suite[b]["hybrid"]["hit@5"] <= 1
    assert emb["cosine_to_torch"]["onnx-fp32"]["min"] >= 0.9999
    assert emb["default"]["choice"] in emb["backends"]
    assert "## Embedding backends" in (smoke / "latest.md").read_text()
