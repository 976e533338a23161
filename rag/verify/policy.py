"""The draft policy: what of a generator's draft the reader sees, and what the answer finally says.

The generator's pieces stream through here. Extractive text (and any generator's when nothing can replace
it) is shown as it comes; an LLM draft is shown one verified sentence at a time (rag.verify.release). When
the draft ends it is kept (every check passes), completed (with the extractive sentences it left out) or
replaced (by the extractive answer, with a notice saying why). A generator that fails is replaced by the
fallback. Typed events (core.types) carry what is not text: NoAnswer for "the passages do not answer",
Notice for what the reader should be told beside the answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator as Gen
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import GeneratorError
from core.language.answer_types import answer_type
from core.language.markers import parse_markers
from core.types import (
    NOT_COVERED,
    Citation,
    GenerationRequest,
    NoAnswer,
    Notice,
    Piece,
    Sentence,
    TextDelta,
    text_of,
)
from rag.reader.scorer import Candidate
from rag.verify.citations import CitationVerifier, Verified, neutralise
from rag.verify.question import ConstraintGuard, QuestionGuard, evidence_of
from rag.verify.refusal import is_refusal
from rag.verify.release import DraftJudge, DraftRelease


class Writer(Protocol):
    """A generator as the policy sees it (rag.generate.protocol.Generator)."""

    name: str

    def generate(self, request: GenerationRequest) -> Iterator[Piece]:
        ...


class Reference(Writer, Protocol):
    """The extractive generator: its answer replaces a failing draft, its chosen sentences complete one."""

    def select(self, request: GenerationRequest) -> list[Candidate]:
        ...


class Clock(Protocol):
    """The pipeline's per-question timings (stage -> ms)."""

    timings: dict[str, float]
    mark: float

    def lap(self, stage: str) -> None:
        ...


@dataclass
class Outcome:
    """What the answer says and who said it; the pipeline turns it into an Answer."""

    text: str
    generator: str
    sentences: list[Sentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    abstain_reason: str = ""
    notice: str = ""
    draft: str = ""


@dataclass(frozen=True)
class DraftPolicy:
    """Keep, complete or replace a draft; stream only what may be shown (see the module docstring)."""

    verifier: CitationVerifier
    reference: Reference | None = None  # the extractive generator, when the answering one is an LLM
    fallback: Writer | None = None  # answers when the generator fails (settings.llm_fallback)
    # does the answer's evidence meet the question's names, numbers, dates and qualifiers (rag/verify/question.py)
    guard: QuestionGuard = field(default_factory=ConstraintGuard)

    def answer(self, request: GenerationRequest, generator: Writer, clock: Clock) -> Gen[TextDelta, None, Outcome]:
        judge = self._judge(request, generator)
        if judge is None:  # the extractive answer comes at once: shown after the question-side guard passed it
            outcome = yield from self._answer(request, generator, clock, None, None)
            clock.timings.setdefault("first_shown", _since(clock))
            yield TextDelta(outcome.text)
            return outcome
        # an LLM draft is streamed one verified sentence at a time
        release = DraftRelease(judge.showable, lambda: bool(judge.doomed))
        return (yield from self._answer(request, generator, clock, judge, release))

    def unmet(self, request: GenerationRequest, verified: Verified) -> str:
        """The part of the question that the verified answer's evidence does not settle ("" when none)."""
        return self.guard.unmet(request.query or request.question, evidence_of(verified))

    def _answer(self, request: GenerationRequest, generator: Writer, clock: Clock, judge: DraftJudge | None,
                release: DraftRelease | None) -> Gen[TextDelta, None, Outcome]:
        pieces: list[Piece] = []
        used, notice = yield from self._generate(request, generator, clock, pieces, release, hold=judge is None)
        raw = text_of(pieces)
        notice = " ".join([notice, *(p.text for p in pieces if isinstance(p, Notice))]).strip()
        clock.lap("generate")
        bare = parse_markers(neutralise(raw))[0]
        no_answer = any(isinstance(p, NoAnswer) for p in pieces)
        # an LLM's refusal or empty draft is replaced like any failing draft; the extractive one is final
        replaceable = judge is not None and used is not self.reference and not no_answer
        if not replaceable and (no_answer or is_refusal(raw) or not re.search(r"\w", bare)):
            clock.timings["verify"] = 0.0  # a refusal, or only markers (a bare "[1]"), answers nothing
            return Outcome(bare or NOT_COVERED, used.name, abstained=True, notice=notice,
                           abstain_reason=f"the {used.name} generator found no answer in the passages")
        verified = self.verifier.verify(raw, request.passages)
        if replaceable:
            clock.lap("verify")
            assert judge is not None and release is not None
            return (yield from self._keep_or_replace(request, judge, release, used, verified, raw, notice, clock))
        unmet = self.unmet(request, verified)
        clock.lap("verify")
        if unmet:
            return Outcome(NOT_COVERED, used.name, abstained=True, abstain_reason=unmet, notice=notice)
        return Outcome(verified.text, used.name, verified.sentences, verified.citations, notice=notice)

    def _judge(self, request: GenerationRequest, generator: Writer) -> DraftJudge | None:
        """The checks an LLM draft must pass, against the extractive answer; None when nothing replaces it."""
        reference = self.reference
        if reference is None or generator is reference:
            return None

        def extractive() -> tuple[list[Piece], list[Candidate]]:  # cheap: the ranking is cached
            return list(reference.generate(request)), reference.select(request)

        return DraftJudge(self.verifier, request.passages, f"{request.question} {request.query}", extractive,
                          answer_type(request.question), unmet=lambda verified: self.unmet(request, verified))

    def _keep_or_replace(self, request: GenerationRequest, judge: DraftJudge, release: DraftRelease,
                         generator: Writer, verified: Verified, raw: str, notice: str,
                         clock: Clock) -> Gen[TextDelta, None, Outcome]:
        """Show an LLM draft only when it passes every check; else the extractive answer, with a notice."""
        assert self.reference is not None
        problem = judge.problem(verified, raw)
        shown = judge.complete(raw, verified) if not problem else verified
        if not problem and any(not s.supported for s in shown.sentences):
            problem = "with the source sentences it left out, a sentence is not supported"
        if not problem:
            if tail := release.advance(shown.text):
                yield TextDelta(tail)
            return Outcome(shown.text, generator.name, shown.sentences, shown.citations, notice=notice, draft=raw)
        warning = (f"The {generator.name} model's wording could not be verified ({problem}); "
                   "showing the source sentences instead.")
        notice = f"{notice} {warning}".strip()
        pieces = judge.extractive()[0]
        lead = "\n\n" if release.shown else ""  # after the sentences already shown, which stay verified
        if any(isinstance(p, NoAnswer) for p in pieces):
            clock.lap("replace")
            yield TextDelta(lead + request.no_answer)
            return Outcome(request.no_answer, self.reference.name, abstained=True, notice=notice, draft=raw,
                           abstain_reason=f"the {generator.name} draft failed verification: {problem}")
        replaced = self.verifier.verify(text_of(pieces), request.passages)
        unmet = self.unmet(request, replaced)
        clock.lap("replace")
        if unmet:
            yield TextDelta(lead + NOT_COVERED)
            return Outcome(NOT_COVERED, self.reference.name, abstained=True, notice=notice, draft=raw,
                           abstain_reason=unmet)
        yield TextDelta(lead + replaced.text)
        return Outcome(replaced.text, self.reference.name, replaced.sentences, replaced.citations, notice=notice,
                       draft=raw)

    def _generate(self, request: GenerationRequest, generator: Writer, clock: Clock, pieces: list[Piece],
                  release: DraftRelease | None, hold: bool = False) -> Gen[TextDelta, None, tuple[Writer, str]]:
        """Stream the generator's pieces into `pieces`; on failure, the fallback's. Returns (generator, notice).
        With `release`, only the draft's verified sentences are yielded (a NoAnswer's text passes); with
        `hold`, nothing is (the caller shows the outcome)."""
        try:
            stream = iter(generator.generate(request))
            for piece in stream:
                if not pieces:
                    clock.timings["first_token"] = _since(clock)
                pieces.append(piece)
                text = "" if hold else _shown(piece, release)
                if text:
                    clock.timings.setdefault("first_shown", _since(clock))
                    yield TextDelta(text)
                if release is not None and release.doomed():
                    getattr(stream, "close", lambda: None)()  # stops the model: the draft will be replaced
                    break
        except GeneratorError as e:
            if self.fallback is None:
                raise
            pieces.clear()
            for piece in self.fallback.generate(request):
                pieces.append(piece)
                if not hold and (text := _shown(piece, None)):
                    yield TextDelta(text)
            return self.fallback, f"The {generator.name} generator failed ({e}); answered extractively instead."
        return generator, ""


def _shown(piece: Piece, release: DraftRelease | None) -> str:
    """The text a piece lets the reader see now: a NoAnswer's text, a text piece (through the release when
    the draft is an LLM's), nothing for a Notice (it goes beside the answer)."""
    if isinstance(piece, NoAnswer):
        return piece.text
    if isinstance(piece, Notice):
        return ""
    return piece if release is None else release.feed(piece)


def _since(clock: Clock) -> float:
    return round((time.perf_counter() - clock.mark) * 1000, 2)
