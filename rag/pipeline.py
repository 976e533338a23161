"""The pipeline: question (+ history) -> verified, cited Answer, streamed or not. It holds the stage order
and the timings, nothing else.

Stages, in the order a question flows: rewrite (rag/rewrite) -> retrieve (rag/retrieve) -> gate (rag/gate)
-> generate (rag/generate) -> verify (rag/verify). The gate runs before any generator and its verdict is
final, so a weak-evidence question never reaches an LLM. The draft policy (rag/verify/policy.py) decides
what of the generated draft is shown; citation checks run on every generator's output, the extractive one
included. The object graph is built by the composition root (rag/compose.py).
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Generator as Steps
from dataclasses import dataclass, field, replace

from core.errors import InputError, question_too_long
from core.settings import Settings
from core.types import NOT_COVERED, Answer, Final, FollowUp, GenerationRequest, Passage, TextDelta, Turn
from rag.collections import DEFAULT_COLLECTION, resolve_collections
from rag.gate.abstention import EvidenceGate
from rag.generate.protocol import Generator
from rag.plan.planner import Planner
from rag.plan.protocol import PlanRequest
from rag.retrieve.neighbours import shown_neighbours
from rag.retrieve.protocol import Retriever
from rag.rewrite.followup import read_follow_up, with_subject
from rag.rewrite.rewrite import Rewriter
from rag.verify.policy import DraftPolicy, Outcome

_SPACE = re.compile(r"\s+")
# A corpus this small has its sentences embedded at warm-up (about 8 per chunk), so no question pays for
# them: on the bundled 19 chunks that was 0.3-1.1 s of the first token (the gate's reader, issue 30).
WARM_CHUNKS = 256
STAGES = ("rewrite", "plan", "retrieve", "gate", "generate", "verify")  # in the order a question flows


def clean_question(question: str, max_chars: int) -> str:
    """Strip control characters, collapse whitespace; raise InputError / LimitError with the fix."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    if len(question) > 4 * max_chars:  # bound the cleaning work on absurd input
        raise question_too_long(len(question), max_chars)
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
        raise question_too_long(len(text), max_chars)
    return text


@dataclass
class _Run:
    """One question's state on its way through the stages, and its timings (stage -> ms)."""

    question: str
    history: list[Turn]
    collections: tuple[str, ...] = ()
    query: str = ""
    follow_up: FollowUp = field(default_factory=FollowUp)  # asks for more: the sentences not to repeat
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    mark: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self.mark) * 1000, 2)
        self.mark = now

    def planned(self, answer: Answer) -> Answer:
        """A plan's answer with this run's question (as the user asked it), query and timings."""
        self.timings["total"] = round((time.perf_counter() - self.started) * 1000, 2)
        return replace(answer, question=self.question, query=self.query, timings=self.timings)

    def answer(self, outcome: Outcome) -> Answer:
        self.timings["total"] = round((time.perf_counter() - self.started) * 1000, 2)
        return Answer(question=self.question, text=outcome.text, sentences=outcome.sentences,
                      citations=outcome.citations, retrieved=self.passages, abstained=outcome.abstained,
                      generator=outcome.generator, query=self.query, abstain_reason=outcome.abstain_reason,
                      notice=outcome.notice, timings=self.timings, draft=outcome.draft)


class Pipeline:
    """Question (+ history) -> verified, cited Answer. Sees the index only through its retriever.
    The public rag.Assistant is this pipeline with its factories (rag/compose.py)."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        rewriter: Rewriter,
        generator: Generator,
        gate: EvidenceGate,
        policy: DraftPolicy,
        *,
        planner: Planner,
        open_index: Callable[[], None] | None = None,
        warm_parts: Sequence[object] = (),
        collections: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.rewriter = rewriter
        self.generator = generator
        self.gate = gate
        self.policy = policy  # keep, complete or replace the draft; its verifier checks every answer
        self.planner = planner  # which plan answers: a summary, a list, the library's records, or the fact path
        self.verifier = policy.verifier
        self._open_index = open_index
        self._collections = collections  # the index's collections now (library.collections); None: default only
        self._warm_parts = tuple(warm_parts)
        self._opened = False
        self._open_lock = threading.Lock()

    def with_generator(self, generator: Generator, fallback: Generator | None = None,
                       reference: Generator | None = None) -> Pipeline:
        """The same pipeline and index with another generator (a per-request choice, or a test's).
        `reference`: the extractive generator whose answer replaces an LLM draft that fails verification."""
        policy = DraftPolicy(self.verifier, reference=reference, fallback=fallback)  # type: ignore[arg-type]
        return type(self)(self.settings, self.retriever, self.rewriter, generator, self.gate, policy,
                          planner=self.planner, open_index=self._open_index, warm_parts=self._warm_parts, collections=self._collections)

    @property
    def fallback(self) -> Generator | None:
        return self.policy.fallback

    @property
    def reference(self) -> Generator | None:
        return self.policy.reference

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
        for part in self._warm_parts:  # embedders, generators and scorers; a test's fake may have no warm_up
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()
        passages = self.retriever.search("warm up", self.settings.k).passages
        self.verifier.bank.get(_small_corpus(getattr(self.retriever, "store", None)) or [p.chunk for p in passages])

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
        run.follow_up = read_follow_up(run.question, run.history)
        run.query = with_subject(run.query, run.follow_up)  # "What else did he say?": he, two turns back
        run.lap("rewrite")
        guess = self.planner.route(run.query)
        # a follow-up asking for more goes on to the fact path, where the sentences already shown are left out
        plan = None if run.follow_up else self.planner.plan_for(guess.kind)
        run.lap("plan")
        if plan is not None:
            answer = plan.answer(PlanRequest(run.query, guess.kind, run.history, run.collections,
                                              fact=lambda q: self._fact_answer(q, run.collections)))
            if answer.abstained and not answer.retrieved:  # offer the closest passages, as the gate does
                answer = replace(answer, retrieved=self.retriever.search(run.query, k or self.settings.k,
                                                                         run.collections).passages)
            yield TextDelta(answer.text)
            yield Final(run.planned(answer))
            return
        outcome = yield from self._fact(run, k)
        yield Final(replace(run.answer(outcome), plan="fact" if run.follow_up else guess.kind))

    def _fact(self, run: _Run, k: int | None) -> Steps[TextDelta, None, Outcome]:
        """The fact path: retrieve, gate, generate, verify."""
        retrieval = self.retriever.search(run.query, k or self.settings.k, run.collections)
        # a follow-up asking for more also reads the chunk that holds what was shown, and the next ones
        run.passages = shown_neighbours(self.retriever, run.follow_up, retrieval.passages, run.collections)
        run.lap("retrieve")
        decision = self.gate.check(run.query, retrieval)
        run.lap("gate")  # the gate reads the passages' sentences: on a new question it can be the biggest stage
        # a follow-up asking for more about what the retrieved passages showed is on the conversation's subject
        on_subject = bool(run.follow_up) and any(run.follow_up.found_in(p.chunk.text) for p in run.passages)
        if decision.abstain and not on_subject:
            text = f"{NOT_COVERED} The closest passages are listed below." if run.passages else NOT_COVERED
            text = run.follow_up.no_answer() if run.follow_up else text
            yield TextDelta(text)
            run.timings.update(generate=0.0, verify=0.0)
            return Outcome(text, self.generator.name, abstained=True, abstain_reason=decision.reason)
        request = GenerationRequest(question=run.question, query=run.query, passages=run.passages,
                                    history=run.history, max_tokens=self.settings.max_answer_tokens,
                                    follow_up=run.follow_up)
        outcome = yield from self.policy.answer(request, self.generator, run)
        if run.follow_up and outcome.abstained:
            outcome = replace(outcome, abstain_reason="the conversation has already shown every sentence the "
                              f"retrieved passages hold about {run.follow_up.subject or 'this'}")
        return outcome

    def _fact_answer(self, question: str, collections: tuple[str, ...]) -> Answer:
        """One standalone question through the fact path (a plan's part question: one side of a comparison)."""
        run = _Run(question, [], collections, query=question)
        gen = self._fact(run, None)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return run.answer(stop.value)


def _small_corpus(store) -> list:
    """Every chunk of an index of at most WARM_CHUNKS chunks; [] for a larger one or another retriever."""
    if store is None or not all(hasattr(store, a) for a in ("count", "documents", "chunks_of")):
        return []
    if store.count() > WARM_CHUNKS:
        return []
    return [c for d in store.documents() for c in store.chunks_of(d.doc_id)]
