"""Choosing a generator by name: extractive (no LLM), local (llama.cpp in-process), openai (any server).

Everything here is cheap: models are located but not hashed or loaded until the generator's warm_up().
"""

from __future__ import annotations

import importlib.util
from functools import partial
from pathlib import Path

from core.errors import ConfigError
from core.progress import Progress
from core.settings import GENERATORS, Settings
from index.embedding import Embedder
from rag.generate import models
from rag.generate.chat import ChatModel, LlamaCppChat, OpenAIChat
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator, RankedEvidence
from rag.generate.protocol import Generator
from rag.reader.evidence import SentenceBank
from rag.reader.scorers import HeuristicScorer


def local_available(settings: Settings) -> bool:
    """True when llama-cpp-python is installed (`make llm`) and the configured local model is installed (a
    registry name) or exists (a .gguf path)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    if settings.local_model.endswith(".gguf"):
        return Path(settings.local_model).expanduser().is_file()
    return settings.local_model in models.MODELS and models.is_installed(settings.local_model)


# What `auto` means: the generator that scores best on the bundled suites. `local` would be picked only if it
# beat `extractive` on correctness; with verify-or-replace it ties at best (an LLM answer differs from the
# extractive one only where its draft passes every check), is 100x slower and needs llama.cpp, so `auto`
# stays `extractive`. Figures: docs/generators.md ("Model choice").
BEST_MEASURED = "extractive"


def resolve_name(name: str, settings: Settings) -> str:
    """'auto' becomes the best-measured generator (BEST_MEASURED). Other names pass through."""
    if name not in GENERATORS:
        raise ConfigError(f"generator {name!r} is unknown: choose one of {', '.join(GENERATORS)}")
    if name == "auto":
        return BEST_MEASURED
    return name


def build_local_chat(settings: Settings, progress: Progress | None = None) -> LlamaCppChat:
    """The in-process llama.cpp model. The registry model is joined/verified lazily, in warm_up()."""
    common = {"n_ctx": settings.llm_ctx, "n_threads": settings.llm_threads, "n_batch": 512, "flash_attn": True,
              "progress": progress}
    if settings.local_model.endswith(".gguf"):
        # A user's own GGUF file: no pinned hash to check, so it is loaded as given.
        path = Path(settings.local_model).expanduser()
        return LlamaCppChat(path, name=path.name, **common)
    spec = models.get_spec(settings.local_model)
    models.part_files(spec.name)  # fail now, with the install command, if the packages are missing
    return LlamaCppChat(
        prepare=partial(models.ensure_model, spec.name, settings.models_dir, progress), name=spec.name, **common
    )


def build_openai_chat(settings: Settings) -> OpenAIChat:
    if not settings.llm_url:
        raise ConfigError(
            "the openai generator needs a server URL: set RAG_LLM_URL (or OPENAI_BASE_URL), "
            "e.g. http://127.0.0.1:8080/v1"
        )
    if not settings.llm_url.startswith(("http://", "https://")):
        raise ConfigError(f"RAG_LLM_URL={settings.llm_url!r} must look like http://127.0.0.1:8080/v1")
    if not settings.llm_model:
        raise ConfigError("the openai generator needs a model name: set RAG_LLM_MODEL (or OPENAI_MODEL)")
    return OpenAIChat(
        settings.llm_url, settings.llm_model, settings.llm_api_key,
        timeout=settings.llm_timeout, retries=settings.llm_retries,
    )


def build_generator(
    name: str,
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    chat: ChatModel | None = None,
    extractive: ExtractiveGenerator | None = None,
) -> Generator:
    """A generator by name. `chat` reuses an already built chat model (one loaded model per process);
    `extractive` is the sentence ranker an LLM's evidence comes from (and the extractive generator)."""
    name = resolve_name(name, settings)
    extractive = extractive or ExtractiveGenerator(embedder, HeuristicScorer.from_settings(SentenceBank(embedder),
                                                                                          settings))
    if name == "extractive":
        return extractive
    if chat is None:
        chat = build_local_chat(settings, progress) if name == "local" else build_openai_chat(settings)
    return LLMGenerator(chat, settings.max_answer_tokens, name=name, evidence=RankedEvidence(extractive))
