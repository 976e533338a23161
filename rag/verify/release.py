"""An LLM draft reaches the reader one verified sentence at a time, never unverified (issue 15).

The model streams tokens; the user sees a sentence only once it is complete (the next one has begun, or
the stream ended) and the draft up to and including it passes every check a whole draft must pass
(rag.verify.citations, then rag.verify.draft). A sentence that fails is held back, and so is everything
after it, until the end of the draft decides: shown, completed with the extractive sentences it left
out, or replaced by the extractive answer with a notice. A failure no later sentence can undo (an
unsupported sentence, a loop, two complete sentences that still fail) stops the model at once: the extractive answer shows without waiting for the
rest of a draft that will be replaced. So time to first character is the model's first
sentence plus one verification (tens of ms), not the whole draft.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.language.markers import parse_markers, place_markers
from core.types import Passage, Piece, text_of
from rag.verify.citations import CitationVerifier, Verified, neutralise, parse_sentences
from rag.verify.draft import draft_problem, repeats, uncovered
from rag.verify.refusal import is_refusal

_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class DraftJudge:
    """The checks one question's draft is judged by, against the extractive answer computed once, on first use.

    `reference()` returns (the extractive generator's pieces, its chosen sentences: objects with .passage,
    .text and .score); `question` holds the question and its standalone query, whose words are not news.
    """

    verifier: CitationVerifier
    passages: list[Passage]
    question: str
    reference: Callable[[], tuple[list[Piece], list[Any]]]
    wants: re.Pattern | None = None
    # the question-side guard (rag/verify/question.py): what of the question the draft's evidence leaves unmet
    unmet: Callable[[Verified], str] = lambda verified: ""
    # set when a prefix fails in a way no later sentence can undo (an unsupported sentence, a loop, two
    # failing sentences): the draft will be replaced, so the model stops and the extractive answer shows now
    doomed: str = field(default="", init=False)
    _ref: tuple[list[Piece], list[Any]] | None = field(default=None, init=False, repr=False)

    def extractive(self) -> tuple[list[Piece], list[Any]]:
        if self._ref is None:
            self._ref = self.reference()
        return self._ref

    def problem(self, verified: Verified, raw: str) -> str:
        """Why this (verified) draft must not be shown, or ""."""
        if is_refusal(raw):
            return "the model said the sources do not answer"
        pieces, chosen = self.extractive()
        best = max(chosen, key=lambda c: c.score).text if chosen else ""
        evidence = " ".join(p.chunk.text for p in self.passages)
        problem = draft_problem(verified.sentences, " ".join(s.text for s in verified.sentences), self.question,
                                evidence, reference=parse_markers(text_of(pieces))[0], wants=self.wants, best=best)
        if problem:
            return problem
        unmet = self.unmet(verified)
        return f"it does not answer the question asked: {unmet}" if unmet else ""

    def showable(self, prefix: str) -> str | None:
        """The verified text of a draft's complete first sentences, or None while they must stay hidden."""
        verified = self.verifier.verify(prefix, self.passages)
        problem = self.problem(verified, prefix)
        # the prompt asks for one or two sentences: two complete sentences that still fail will not be saved
        # by a third, and waiting for the rest of a rambling draft kept the first character 20-50 s away
        if problem and (len(verified.sentences) >= 2 or any(not s.supported for s in verified.sentences)
                        or repeats(prefix)):
            self.doomed = problem
        return None if problem else verified.text

    def complete(self, raw: str, verified: Verified) -> Verified:
        """A shown draft plus the extractive answer's sentences it leaves out, cited and verified together:
        the draft may reword or join the sources, but never answer with less than the extractive answer."""
        _, chosen = self.extractive()
        missing = uncovered(" ".join(s.text for s in verified.sentences), self.question, [c.text for c in chosen])
        if not missing:
            return verified
        # rebuilt sentence by sentence, each ending with a stop: a draft "[1] February" followed by a quoted
        # sentence must not read as one sentence "February According to ..."
        parts = [place_markers(s if s[-1] in ".!?\"”'" else s + ".", tuple(nums))
                 for s, nums in parse_sentences(neutralise(raw))]
        parts += [place_markers(chosen[i].text, (chosen[i].passage + 1,)) for i in missing]
        return self.verifier.verify(" ".join(parts), self.passages)


class DraftRelease:
    """Turns streamed draft pieces into the text the reader may see now (see the module docstring)."""

    def __init__(self, showable: Callable[[str], str | None], doomed: Callable[[], bool] = lambda: False) -> None:
        self.showable = showable
        self.doomed = doomed  # True once the draft cannot pass whatever follows: stop generating
        self.raw = ""
        self.shown = ""
        self._judged = 0  # complete sentences already judged

    def feed(self, piece: str) -> str:
        """Add a piece of the draft; return the newly releasable text ("" when nothing new may be shown)."""
        self.raw += piece
        parsed = parse_sentences(neutralise(self.raw))
        n = len(parsed)
        if n and not _LETTER.search(parsed[-1][0]):
            n -= 1  # "[1" or "10": a marker or number still arriving, maybe the sentence before's
        complete = n - 1  # the last sentence may still grow, or get its marker
        if complete <= self._judged:
            return ""
        self._judged = complete
        prefix = " ".join(place_markers(s, tuple(nums)) for s, nums in parsed[:complete])
        text = self.showable(prefix)
        return "" if text is None else self.advance(text)

    def advance(self, text: str) -> str:
        """What to append so the reader sees `text`; "" when that would rewrite what is already shown."""
        if not text.startswith(self.shown):
            return ""
        delta, self.shown = text[len(self.shown):], text
        return delta
