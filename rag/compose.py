"""The composition root: builds the object graph from Settings, once, at an edge (CLI, UI, service, tests).

Two sides come out of it. The library (index.pipeline.Indexer) writes and manages documents; the
assistant only reads, through a retriever over the store's read side. Nothing else in the answer path
builds parts or reads settings files. Construction is cheap: models load in warm_up() or on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.progress import Progress
from core.settings import Settings
from index.embedding import Embedder
from index.pipeline import Indexer
from rag.gate.abstention import EvidenceGate
from rag.generate.chat import ChatModel, LangChainChat
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator, RankedEvidence
from rag.generate.protocol import Generator
from rag.generate.registry import build_generator
from rag.pipeline import Assistant
from rag.reader.evidence import SentenceBank
from rag.retrieve.hybrid import HybridRetriever
from rag.rewrite.rewrite import HeuristicRewriter, LLMRewriter, Rewriter
from rag.verify.citations import CitationVerifier


@dataclass(frozen=True)
class Parts:
    library: Indexer  # add, remove and list documents
    assistant: Assistant  # answer questions


def build(settings: Settings, progress: Progress | None = None, *, embedder: Embedder | None = None,
          chat_model: Any = None) -> Parts:
    """The library and the assistant over one index and one embedder. `chat_model`: any LangChain chat
    model (a BaseChatModel) as the generator, instead of the one settings.generator names."""
    library = Indexer.from_settings(settings, embedder=embedder)
    return Parts(library, build_assistant(settings, library, progress, chat_model=chat_model))


def build_retriever(settings: Settings, library: Indexer) -> HybridRetriever:
    return HybridRetriever(
        library.store,
        library.embedder,
        candidates=settings.candidates,
        dense_weight=settings.dense_weight,
        bm25_weight=settings.bm25_weight,
        rrf_k=settings.rrf_k,
        dedup_jaccard=settings.dedup_jaccard,
    )


def build_assistant(settings: Settings, library: Indexer, progress: Progress | None = None, *,
                    chat_model: Any = None) -> Assistant:
    retriever = build_retriever(settings, library)
    embedder = library.embedder
    # one sentence ranker: the extractive answer, an LLM's evidence, and the answer that replaces an
    # unverifiable LLM draft all come from it (and from its bank, which the verifier shares)
    extractive = ExtractiveGenerator(embedder, embed_query=retriever.embed_query)
    bank = extractive.bank
    reader = build_reader(settings, embedder, bank, retriever)
    if reader is not None:
        extractive.reader = reader
    if chat_model is not None:
        chat = LangChainChat(chat_model)
        generator: Generator = LLMGenerator(chat, settings.max_answer_tokens, name=f"langchain:{chat.name}",
                                            evidence=RankedEvidence(extractive))
    else:
        generator = build_generator(settings.generator, settings, embedder, progress, extractive=extractive)
    shared: ChatModel | None = getattr(generator, "chat", None)
    rewriter: Rewriter = HeuristicRewriter() if shared is None else LLMRewriter(shared)
    fallback: Generator | None = None
    if generator is not extractive and settings.llm_fallback:
        fallback = extractive
    return Assistant(
        settings,
        retriever,
        rewriter,
        generator,
        EvidenceGate(settings.abstain_min_dense, settings.abstain_min_lexical, reader=reader),
        # claim support: the cascade leaves it to similarity + the attribution guard, which pass the
        # perturbation gate; the trees' support check passed only 94% / 82% of true sentences of the bundled
        # documents (docs/reader.md). `learned` keeps the trees for all three uses.
        CitationVerifier(bank, settings.support_threshold, reader if settings.reader == "learned" else None),
        fallback=fallback,
        reference=None if generator is extractive else extractive,
        open_index=library.open,
        warm_parts=(embedder, generator, reader),
        collections=library.collections,
    )


def build_reader(settings: Settings, embedder: Embedder, bank: SentenceBank, retriever: HybridRetriever):
    """The learned reader when `reader` (RAG_READER) is learned or cascade, else None (the heuristic path)."""
    if settings.reader not in ("learned", "cascade"):
        return None
    from rag.reader.learned import Reader

    return Reader(embedder, bank, embed_query=retriever.embed_query, cascade=settings.reader == "cascade")
