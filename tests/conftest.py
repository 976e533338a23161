"""Shared fixtures. Everything runs offline against real parts in temporary data directories.

- `settings(data_dir=None, **overrides)`: a Settings factory isolated from the developer's environment.
- `article_index`: a data dir with the bundled article indexed (real model, real embedded Chroma), built
  once per session. Treat it as read-only; tests that change an index build their own.
- `article_assistant`: an extractive Assistant over `article_index`, shared for the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
    from rag.assistant import Assistant

    s = load_settings({"data_dir": article_index, "generator": "extractive"}, env={})
    assistant = Assistant.from_settings(s)
    assistant.warm_up()
    return assistant
