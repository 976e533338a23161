"""The one public object: question (+ history) -> verified, cited Answer, streamed or not.

Pipeline per question: validate -> rewrite follow-up -> hybrid retrieve -> evidence gate -> generate
(streamed) -> recognise a refusal -> verify and repair citations -> Answer with per-stage timings.
The gate runs before any generator and its verdict is final, so a weak-evidence question never reaches
an LLM. Citation checks run on every generator's output, the extractive one included.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence

from rag.abstention import NOT_COVERED, EvidenceGate, is_refusal
from rag.citations import CitationVerifier, neutralise, parse_markers
from rag.errors import GeneratorError, InputError, LimitError
from rag.evidence import SentenceBank
from rag.extractive import ExtractiveGenerator
from rag.generation import GenerationRequest, Generator, Truncated
from rag.retrieval import HybridRetriever
from rag.rewrite import HeuristicRewriter, LLMRewriter, Rewriter
from rag.settings import Settings
from rag.types import Answer, Final, TextDelta, Turn

_SPACE = re.compile(r"\s+")


def clean_question(question: str, max_chars: int) -> str:
    """Strip control characters, collapse whitespace; raise InputError / LimitError with the fix."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    if len(question) > 4 * max_chars:  # bound the cleaning work on absurd input
        raise LimitError(f"the question is {len(question)} characters; the limit is {max_chars}. Shorten it.")
    kept = []
    for ch in question:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn"):
            kept.append(" " if ch in "\t\n\r" else "")
        else:
            kept.append(ch)
    text = _SPACE.sub(" ", "".join(kept)).strip()
    # invisible format characters alone (zero-width spaces, bidi marks) are an empty question too
    if not text or all(unicodedata.category(ch) == "Cf" or ch.isspace() for ch in text):
        raise InputError("the question is empty: type a question about your documents")
    if len(text) > max_chars:
        raise LimitError(
            f"the question is {len(text)} characters; the limit is {max_chars} "
            "(setting max_question_chars / RAG_MAX_QUESTION_CHARS). Shorten it."
        )
    return text


class Assistant:
    def __init__(
        self,
        settings: Settings,
        indexer,
        retriever: HybridRetriever,
        rewriter: Rewriter,
        generator: Generator,
        gate: EvidenceGate,
        verifier: CitationVerifier,
        fallback: Generator | None = None,
    ) -> None:
        self.settings = settings
        self.indexer = indexer
        self.retriever = retriever
        self.rewriter = rewriter
        self.generator = generator
        self.gate = gate
        self.verifier = verifier
        self.fallback = fallback
        self._opened = False
        self._open_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, progress=None) -> Assistant:
        """Build the object graph once. Cheap: models load in warm_up() or on the first question."""
        from index.pipeline import Indexer
        from rag.generators import build_generator

        indexer = Indexer.from_settings(settings)
        embedder = indexer.embedder
        retriever = HybridRetriever(
            indexer.store,
            embedder,
            candidates=settings.candidates,
            dense_weight=settings.dense_weight,
            bm25_weight=settings.bm25_weight,
            rrf_k=settings.rrf_k,
            dedup_jaccard=settings.dedup_jaccard,
        )
        generator = build_generator(settings.generator, settings, embedder, progress)
        if isinstance(generator, ExtractiveGenerator):
            generator.embed_query = retriever.embed_query
            bank = generator.bank
        else:
            bank = SentenceBank(embedder)
        reader = None
        if settings.reader == "learned":
            from rag.verify.reader import Reader

            reader = Reader(embedder, bank, embed_query=retriever.embed_query)
            if isinstance(generator, ExtractiveGenerator):
                generator.reader = reader
        chat = getattr(generator, "chat", None)
        rewriter: Rewriter = LLMRewriter(chat) if chat is not None else HeuristicRewriter()
        fallback = None
        if not isinstance(generator, ExtractiveGenerator) and settings.llm_fallback:
            fallback = ExtractiveGenerator(embedder, bank=bank, embed_query=retriever.embed_query, reader=reader)
        return cls(
            settings,
            indexer,
            retriever,
            rewriter,
            generator,
            EvidenceGate(settings.abstain_min_dense, settings.abstain_min_lexical, reader=reader),
            CitationVerifier(bank, settings.support_threshold, reader),
            fallback,
        )

    @property
    def generator_name(self) -> str:
        return self.generator.name

    def open(self) -> None:
        """Open the index (raises IndexMissingError saying how to build it, or IndexMismatchError)."""
        with self._open_lock:
            if not self._opened:
                self.indexer.open()
                self._opened = True

    def warm_up(self) -> None:
        """Load the embedding model, the index and the generator's model, so the first answer is fast."""
        self.open()
        for part in (self.indexer.embedder, self.generator, getattr(self.gate, "reader", None)):
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()
        passages = self.retriever.retrieve("warm up", self.settings.k)
        self.verifier.bank.get([p.chunk for p in passages])

    def ask(self, question: str, history: Sequence[Turn] | None = None, *, k: int | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, k=k):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None
        return final

    def stream(
        self, question: str, history: Sequence[Turn] | None = None, *, k: int | None = None
    ) -> Iterator[TextDelta | Final]:
        """Yield the answer text as it is generated (TextDelta), then the verified answer (Final)."""
        question = clean_question(question, self.settings.max_question_chars)
        history = [t for t in (history or []) if t.content and t.content.strip()]
        k = k or self.settings.k
        self.open()  # one-time index/model loading is not part of an answer's timings
        t_start = time.perf_counter()
        timings: dict[str, float] = {}

        def lap(stage: str, since: float) -> float:
            now = time.perf_counter()
            timings[stage] = round((now - since) * 1000, 2)
            return now

        t = time.perf_counter()
        query = self.rewriter.rewrite(question, history)
        t = lap("rewrite", t)
        retrieval = self.retriever.search(query, k)
        t = lap("retrieve", t)
        passages = retrieval.passages
        decision = self.gate.check(query, retrieval)
        if decision.abstain:
            text = f"{NOT_COVERED} The closest passages are listed below." if passages else NOT_COVERED
            yield TextDelta(text)
            timings.update(generate=0.0, verify=0.0)
            lap("total", t_start)
            yield Final(
                Answer(question=question, text=text, sentences=[], citations=[], retrieved=passages,
                       abstained=True, generator=self.generator.name, query=query,
                       abstain_reason=decision.reason, timings=timings)
            )
            return

        request = GenerationRequest(question=question, query=query, passages=passages, history=history,
                                    max_tokens=self.settings.max_answer_tokens)
        generator, notice, pieces = self.generator, "", []
        try:
            for piece in generator.generate(request):
                if not pieces:
                    timings["first_token"] = round((time.perf_counter() - t) * 1000, 2)
                pieces.append(piece)
                yield TextDelta(piece)
        except GeneratorError as e:
            if self.fallback is None:
                raise
            notice = f"The {generator.name} generator failed ({e}); answered extractively instead."
            generator, pieces = self.fallback, []
            for piece in generator.generate(request):
                pieces.append(piece)
                yield TextDelta(piece)
        raw = "".join(pieces)
        if any(isinstance(p, Truncated) for p in pieces):
            notice = (notice + " " if notice else "") + (
                f"The answer was cut at max_answer_tokens={self.settings.max_answer_tokens} "
                "(raise RAG_MAX_ANSWER_TOKENS for longer answers).")
        t = lap("generate", t)

        if is_refusal(raw) or not re.search(r"\w", parse_markers(neutralise(raw))[0]):  # e.g. a bare "[1]"
            text = parse_markers(neutralise(raw))[0] or NOT_COVERED
            timings["verify"] = 0.0
            lap("total", t_start)
            yield Final(
                Answer(question=question, text=text, sentences=[], citations=[], retrieved=passages,
                       abstained=True, generator=generator.name, query=query,
                       abstain_reason=f"the {generator.name} generator found no answer in the passages",
                       notice=notice, timings=timings)
            )
            return
        verified = self.verifier.verify(raw, passages)
        lap("verify", t)
        lap("total", t_start)
        yield Final(
            Answer(question=question, text=verified.text, sentences=verified.sentences,
                   citations=verified.citations, retrieved=passages, abstained=False,
                   generator=generator.name, query=query, notice=notice, timings=timings)
        )
