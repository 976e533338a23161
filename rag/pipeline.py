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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import GeneratorError, InputError, LimitError
from core.progress import Progress
from core.settings import Settings
from core.types import Answer, Final, Passage, TextDelta, Turn
from rag.collections import DEFAULT_COLLECTION, resolve_collections
from rag.gate.abstention import EvidenceGate, is_refusal
from rag.generate.extractive import answer_type
from rag.generate.protocol import NOT_COVERED, GenerationRequest, Generator, NoAnswer, Truncated
from rag.retrieve.protocol import Retriever
from rag.rewrite.rewrite import Rewriter
from rag.verify.citations import CitationVerifier, Verified, neutralise, parse_markers
from rag.verify.release import DraftJudge, DraftRelease

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


@dataclass
class _Run:
    """One question's state on its way through the stages."""

    question: str
    history: list[Turn]
    collections: tuple[str, ...] = ()
    query: str = ""
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    mark: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self.mark) * 1000, 2)
        self.mark = now

    def answer(self, text: str, generator: str, **fields) -> Answer:
        self.timings["total"] = round((time.perf_counter() - self.started) * 1000, 2)
        base = {"sentences": [], "citations": [], "abstained": False}
        return Answer(question=self.question, text=text, retrieved=self.passages, generator=generator,
                      query=self.query, timings=self.timings, **{**base, **fields})


class Assistant:
    """Question (+ history) -> verified, cited Answer. Sees the index only through its retriever."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        rewriter: Rewriter,
        generator: Generator,
        gate: EvidenceGate,
        verifier: CitationVerifier,
        *,
        fallback: Generator | None = None,
        reference: Generator | None = None,
        open_index: Callable[[], None] | None = None,
        warm_parts: Sequence[object] = (),
        collections: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.rewriter = rewriter
        self.generator = generator
        self.gate = gate
        self.verifier = verifier
        self.fallback = fallback
        # the extractive generator whose answer replaces an LLM draft that fails verification
        self.reference = reference
        self._open_index = open_index
        self._collections = collections  # the index's collections now (library.collections); None: default only
        self._warm_parts = tuple(warm_parts)
        self._opened = False
        self._open_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None, *,
                      chat_model: Any = None) -> Assistant:
        """Build the object graph (see rag.compose). Cheap: models load in warm_up() or on first use.
        `chat_model`: any LangChain chat model as the generator (settings.generator is then unused)."""
        from rag.compose import build

        return build(settings, progress, chat_model=chat_model).assistant

    def as_runnable(self) -> Any:
        """This assistant as a LangChain Runnable[str | {question, history, collection}, Answer] (rag.runnable)."""
        from rag.runnable import AssistantRunnable

        return AssistantRunnable(self)

    def with_generator(self, generator: Generator, fallback: Generator | None = None,
                       reference: Generator | None = None) -> Assistant:
        """The same pipeline and index with another generator (a per-request choice, or a test's)."""
        return Assistant(self.settings, self.retriever, self.rewriter, generator, self.gate, self.verifier,
                         fallback=fallback, reference=reference, open_index=self._open_index,
                         warm_parts=self._warm_parts, collections=self._collections)

    def collections(self) -> list[str]:
        """The collections a question may name: those holding documents, and "default"."""
        return sorted({DEFAULT_COLLECTION, *(self._collections() if self._collections else ())})

    def resolve(self, collections: str | Sequence[str] | None) -> tuple[str, ...]:
        """Checked collection names; none given means settings.collection_names (RAG_COLLECTION).
        Raises UnknownCollectionError naming the choices."""
        return resolve_collections(collections, self.collections(), self.settings.collection_names)

    @property
    def generator_name(self) -> str:
        return self.generator.name

    def open(self) -> None:
        """Open the index (raises IndexMissingError saying how to build it, or IndexMismatchError)."""
        with self._open_lock:
            if not self._opened:
                if self._open_index is not None:
                    self._open_index()
                self._opened = True

    def warm_up(self) -> None:
        """Load the embedding model, the index and the generator's model, so the first answer is fast."""
        self.open()
        for part in self._warm_parts:
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()
        passages = self.retriever.search("warm up", self.settings.k).passages
        self.verifier.bank.get([p.chunk for p in passages])

    def ask(self, question: str, history: Sequence[Turn] | None = None, *, k: int | None = None,
            collections: Sequence[str] | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, k=k, collections=collections):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None
        return final

    def stream(
        self, question: str, history: Sequence[Turn] | None = None, *, k: int | None = None,
        collections: Sequence[str] | None = None,
    ) -> Iterator[TextDelta | Final]:
        """Yield the answer text as it is generated (TextDelta), then the verified answer (Final).
        `collections`: the document collections to search (default: settings.collection_names), checked
        here (an unknown one raises UnknownCollectionError) and enforced by the store's query."""
        run = _Run(clean_question(question, self.settings.max_question_chars),
                   [t for t in (history or []) if t.content and t.content.strip()])
        self.open()  # one-time index/model loading is not part of an answer's timings
        run.collections = self.resolve(collections)
        run.started = run.mark = time.perf_counter()
        run.query = self.rewriter.rewrite(run.question, run.history)
        run.lap("rewrite")
        retrieval = self.retriever.search(run.query, k or self.settings.k, run.collections)
        run.passages = retrieval.passages
        run.lap("retrieve")
        decision = self.gate.check(run.query, retrieval)
        if decision.abstain:
            text = f"{NOT_COVERED} The closest passages are listed below." if run.passages else NOT_COVERED
            yield TextDelta(text)
            run.timings.update(generate=0.0, verify=0.0)
            yield Final(run.answer(text, self.generator.name, abstained=True, abstain_reason=decision.reason))
            return
        yield from self._generate_and_verify(run)

    def _generate_and_verify(self, run: _Run) -> Iterator[TextDelta | Final]:
        request = GenerationRequest(question=run.question, query=run.query, passages=run.passages,
                                    history=run.history, max_tokens=self.settings.max_answer_tokens)
        judge = self._judge(run, request)
        # an LLM draft is streamed one verified sentence at a time; other generators' text as it comes
        release = DraftRelease(judge.showable, lambda: bool(judge.doomed)) if judge is not None else None
        pieces: list[str] = []
        generator, notice = yield from self._generate(request, run, pieces, release)
        raw = "".join(pieces)
        if any(isinstance(p, Truncated) for p in pieces):
            notice = (notice + " " if notice else "") + (
                f"The answer was cut at max_answer_tokens={self.settings.max_answer_tokens} "
                "(raise RAG_MAX_ANSWER_TOKENS for longer answers).")
        run.lap("generate")
        bare = parse_markers(neutralise(raw))[0]
        no_answer = any(isinstance(p, NoAnswer) for p in pieces)
        # an LLM's refusal or empty draft is replaced like any failing draft; the extractive one is final
        replaceable = judge is not None and generator is not self.reference and not no_answer
        if not replaceable and (no_answer or is_refusal(raw) or not re.search(r"\w", bare)):
            run.timings["verify"] = 0.0  # a refusal, or only markers (a bare "[1]"), answers nothing
            reason = f"the {generator.name} generator found no answer in the passages"
            yield Final(run.answer(bare or NOT_COVERED, generator.name, abstained=True, abstain_reason=reason,
                                   notice=notice))
            return
        verified = self.verifier.verify(raw, run.passages)
        run.lap("verify")
        if replaceable:
            assert judge is not None and release is not None
            yield from self._keep_or_replace(run, judge, release, generator, verified, raw, notice)
            return
        yield Final(run.answer(verified.text, generator.name, sentences=verified.sentences,
                               citations=verified.citations, notice=notice))

    def _judge(self, run: _Run, request: GenerationRequest) -> DraftJudge | None:
        """The checks an LLM draft must pass, against the extractive answer; None when nothing replaces it."""
        reference = self.reference
        if reference is None or self.generator is reference:
            return None

        def extractive() -> tuple[list[str], list]:  # cheap: the ranking is cached
            return list(reference.generate(request)), getattr(reference, "select", lambda _r: [])(request)

        return DraftJudge(self.verifier, run.passages, f"{run.question} {run.query}", extractive,
                          answer_type(run.question))

    def _keep_or_replace(self, run: _Run, judge: DraftJudge, release: DraftRelease, generator: Generator,
                         verified: Verified, raw: str, notice: str) -> Iterator[TextDelta | Final]:
        """Show an LLM draft only when it passes every check; else the extractive answer, with a notice."""
        assert self.reference is not None
        problem = judge.problem(verified, raw)
        shown = judge.complete(raw, verified) if not problem else verified
        if not problem and any(not s.supported for s in shown.sentences):
            problem = "with the source sentences it left out, a sentence is not supported"
        if not problem:
            if tail := release.advance(shown.text):
                yield TextDelta(tail)
            yield Final(run.answer(shown.text, generator.name, sentences=shown.sentences,
                                   citations=shown.citations, notice=notice, draft=raw))
            return
        warning = (f"The {generator.name} model's wording could not be verified ({problem}); "
                   "showing the source sentences instead.")
        notice = f"{notice} {warning}".strip()
        pieces = judge.extractive()[0]
        lead = "\n\n" if release.shown else ""  # after the sentences already shown, which stay verified
        if any(isinstance(p, NoAnswer) for p in pieces):
            run.lap("replace")
            yield TextDelta(lead + NOT_COVERED)
            yield Final(run.answer(NOT_COVERED, self.reference.name, abstained=True, notice=notice, draft=raw,
                                   abstain_reason=f"the {generator.name} draft failed verification: {problem}"))
            return
        replaced = self.verifier.verify("".join(pieces), run.passages)
        run.lap("replace")
        yield TextDelta(lead + replaced.text)
        yield Final(run.answer(replaced.text, self.reference.name, sentences=replaced.sentences,
                               citations=replaced.citations, notice=notice, draft=raw))

    def _generate(self, request: GenerationRequest, run: _Run, pieces: list[str],
                  release: DraftRelease | None = None):
        """Stream the generator's pieces into `pieces`; on failure, the fallback's. Returns (generator, notice).
        With `release`, only the draft's verified sentences are yielded (our own NoAnswer text passes)."""
        generator, notice = self.generator, ""
        try:
            stream = iter(generator.generate(request))
            for piece in stream:
                if not pieces:
                    run.timings["first_token"] = round((time.perf_counter() - run.mark) * 1000, 2)
                pieces.append(piece)
                text = piece if release is None or isinstance(piece, NoAnswer) else release.feed(piece)
                if text:
                    run.timings.setdefault("first_shown", round((time.perf_counter() - run.mark) * 1000, 2))
                    yield TextDelta(text)
                if release is not None and release.doomed():
                    getattr(stream, "close", lambda: None)()  # stops the model: the draft will be replaced
                    break
        except GeneratorError as e:
            if self.fallback is None:
                raise
            notice = f"The {generator.name} generator failed ({e}); answered extractively instead."
            generator = self.fallback
            pieces.clear()
            for piece in generator.generate(request):
                pieces.append(piece)
                yield TextDelta(piece)
        return generator, notice
