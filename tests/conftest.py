"""Shared fixtures. Everything runs offline against real parts in temporary data directories.

- `settings(data_dir=None, **overrides)`: a Settings factory isolated from the developer's environment.
- `article_index`: a data dir with the bundled article indexed (real model, real embedded Chroma), built
  once per session. Treat it as read-only; tests that change an index build their own.
- `article_assistant`: an extractive Assistant over `article_index`, shared for the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from core.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory: settings(data_dir=None, **overrides). The environment (RAG_*) is ignored on purpose."""

    def make(data_dir: Path | None = None, **overrides) -> Settings:
        return load_settings({"data_dir": data_dir or tmp_path / "data", **overrides}, env={})

    return make


@pytest.fixture(scope="session", autouse=True)
def onnx_graphs_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default embedder runs on ONNX, whose graph is exported per data dir (seconds). In this process,
    a fresh data dir copies the graphs exported once per session (sha256-verified on load as always).
    A call with a progress callback, and every subprocess, still exports for real (see
    tests/test_embedding_onnx.py, which tests the export itself)."""
    import shutil

    from index import embedding_onnx as eo

    real = eo.export_graph
    seed = tmp_path_factory.mktemp("onnx-seed")

    def export_or_copy(model: str, variant: str, cache_dir: Path, progress=None) -> Path:
        if progress is not None:
            return real(model, variant, cache_dir, progress)
        src = eo.graph_path(seed, model, variant)
        if eo.stale_reason(src, eo.resolve_model_path(model)):
            real(model, variant, seed)
        dst = eo.graph_path(cache_dir, model, variant)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
        return dst

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(eo, "export_graph", export_or_copy)
        yield


@pytest.fixture(scope="session")
def article_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from index.pipeline import Indexer

    data_dir = tmp_path_factory.mktemp("article-index")
    report = Indexer.from_settings(load_settings({"data_dir": data_dir}, env={})).build_bundled()
    assert not report.errors, report.errors
    return data_dir


@pytest.fixture(scope="session")
def article_library(article_index: Path):
    """The library side (documents, store) over `article_index`, for tests that inspect what was cited."""
    from index.pipeline import Indexer

    return Indexer.from_settings(load_settings({"data_dir": article_index}, env={}))


@pytest.fixture(scope="session")
def article_assistant(article_index: Path):
    from rag import Assistant

    s = load_settings({"data_dir": article_index, "generator": "extractive"}, env={})
    assistant = Assistant.from_settings(s)
    assistant.warm_up()
    return assistant
