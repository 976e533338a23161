"""The composition root: builds the object graph from Settings, once, at an edge (CLI, UI, service, tests).

Two sides come out of it. The library (index.pipeline.Indexer) writes and manages documents; the
assistant only reads, through a retriever over the store's read side. Nothing else in the answer path
builds parts or reads settings files. Construction is cheap: models load in warm_up() or on first use.
The one Scorer (rag/reader) is chosen here from settings.reader and injected into the generator, the
gate and the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from core.progress import Progress
from core.settings import Settings
from index.embedding import Embedder
from index.pipeline import Indexer
from index.sentence_vectors import SentenceVectors
from index.vectors import chunk_vectors
from rag.gate.abstention import EvidenceGate
from rag.generate.chat import ChatModel, LangChainChat
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator, RankedEvidence
from rag.generate.protocol import Generator
from rag.generate.registry import build_generator
from rag.pipeline import Pipeline
from rag.plan.classify import PlanClassifier
from rag.plan.comparison import ComparisonPlan
from rag.plan.explanation import ExplanationPlan
from rag.plan.library import LibraryPlan
from rag.plan.lists import ListPlan
from rag.plan.overview import OverviewPlan
from rag.plan.planner import Planner
from rag.plan.vectors import StoredFirst
from rag.reader.evidence import SentenceBank
from rag.reader.learned import Reader
from rag.reader.scorer import Scorer
from rag.reader.scorers import CascadeScorer, HeuristicScorer, LearnedScorer
from rag.retrieve.hybrid import HybridRetriever
from rag.rewrite.rewrite import HeuristicRewriter, LLMRewriter, Rewriter
from rag.verify.citations import CitationVerifier
from rag.verify.policy import DraftPolicy


class Assistant(Pipeline):
    """The public assistant (rag.Assistant): the pipeline, plus the factories that build it."""

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None, *,
                      chat_model: Any = None) -> Assistant:
        """Build the object graph. Cheap: models load in warm_up() or on first use.
        `chat_model`: any LangChain chat model as the generator (settings.generator is then unused)."""
        return build(settings, progress, chat_model=chat_model).assistant

    def as_runnable(self) -> Any:
        """This assistant as a LangChain Runnable[str | {question, history, collection}, Answer] (rag.runnable)."""
        from rag.runnable import AssistantRunnable  # LangChain loads only for callers that want a Runnable

        return AssistantRunnable(self)


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


def build_scorer(settings: Settings, embedder: Embedder, retriever: HybridRetriever,
                 sentences: SentenceVectors | None = None) -> Scorer:
    """The one scorer, from `reader` (RAG_READER): cascade (default), learned, or heuristic. `sentences`: the
    sentence vectors stored at index time, so a new question embeds only itself."""
    bank = SentenceBank(embedder, lookup=sentences.get if sentences is not None else None)
    heuristic = HeuristicScorer.from_settings(bank, settings)
    if settings.reader == "heuristic":
        return heuristic
    reader = Reader(embedder, heuristic.bank, embed_query=retriever.embed_query, cascade=settings.reader == "cascade",
                    ce_threads=settings.reader_threads)
    # claim support: the cascade leaves it to similarity + the attribution guard, which pass the
    # perturbation gate; the trees' support check passed only 94% / 82% of true sentences of the bundled
    # documents (docs/reader.md). `learned` keeps the trees for all three uses.
    return CascadeScorer(reader, heuristic) if settings.reader == "cascade" else LearnedScorer(reader)


def build_planner(library: Indexer, retriever: HybridRetriever) -> Planner:
    """The plan stage: a classifier over the query's embedding and one plan per open kind of question.
    Explanations read wider than a fact, then keep the sentences that give reasons."""
    store = library.store
    search = lambda q, k, c: retriever.search(q, k, c).passages  # noqa: E731
    # candidate sentences' vectors are read from the index (stored at indexing time), not embedded per question
    sentences = StoredFirst(library.embedder.embed, SentenceVectors(store.shared).get)
    plans = {"explanation": ExplanationPlan(store, search, sentences, retriever.embed_query),
             "overview": OverviewPlan(store, sentences, partial(chunk_vectors, store)),
             "list": ListPlan(store), "library": LibraryPlan(store), "comparison": ComparisonPlan()}
    return Planner(PlanClassifier.load(), retriever.embed_query, plans)


def build_assistant(settings: Settings, library: Indexer, progress: Progress | None = None, *,
                    chat_model: Any = None) -> Assistant:
    retriever = build_retriever(settings, library)
    embedder = library.embedder
    scorer = build_scorer(settings, embedder, retriever, SentenceVectors(library.store.shared))
    # one sentence ranker: the extractive answer, an LLM's evidence, and the answer that replaces an
    # unverifiable LLM draft all come from it (and from its bank, which the verifier shares)
    extractive = ExtractiveGenerator(embedder, scorer, embed_query=retriever.embed_query)
    if chat_model is not None:
        chat = LangChainChat(chat_model)
        generator: Generator = LLMGenerator(chat, settings.max_answer_tokens, name=f"langchain:{chat.name}",
                                            evidence=RankedEvidence(extractive))
    else:
        generator = build_generator(settings.generator, settings, embedder, progress, extractive=extractive)
    shared: ChatModel | None = getattr(generator, "chat", None)
    rewriter: Rewriter = HeuristicRewriter() if shared is None else LLMRewriter(shared)
    llm = generator is not extractive
    policy = DraftPolicy(CitationVerifier(scorer), reference=extractive if llm else None,
                         fallback=extractive if llm and settings.llm_fallback else None)
    return Assistant(settings, retriever, rewriter, generator, EvidenceGate(scorer), policy,
                     planner=build_planner(library, retriever), open_index=library.open, warm_parts=(embedder, generator, scorer),
                     collections=library.collections)
