"""The extractive generator: answers with the source's own sentences, so it needs no LLM and cannot invent.

The scorer (rag/reader: heuristic, learned or cascade) ranks every sentence of the retrieved passages
against the question; this takes the best sentence and up to two more that score nearly as well and say
something new (MMR-style diversity), by the scorer's Selection. When even the best sentence is a weak match
it yields NoAnswer, on which the assistant abstains: a plausible question the documents touch but do not
settle gets no answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np

from core.language.markers import place_markers
from core.language.names import asks_for_speaker, speaker_chain
from core.types import FollowUp, GenerationRequest, NoAnswer, Piece
from rag.generate.followups import about_subject, beside_shown, following, naming
from rag.reader.evidence import SentenceBank
from rag.reader.scorer import Candidate, Scorer

_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*$")


class ExtractiveGenerator:
    name = "extractive"

    def __init__(
        self,
        embedder,
        scorer: Scorer,
        *,
        max_sentences: int = 3,
        redundancy: float = 0.8,
        max_chars: int = 600,
        embed_query: Callable[[str], np.ndarray] | None = None,
    ) -> None:
        self.embedder = embedder
        self.scorer = scorer  # ranks the sentences and sets the selection's thresholds (rag/reader/scorers.py)
        # the retriever's cached query embedding, when the assistant wires it in: one encode per question
        self.embed_query = embed_query or (lambda q: self.embedder.embed([q])[0])
        self.bank: SentenceBank = scorer.bank
        self.max_sentences = max_sentences
        self.redundancy = redundancy  # cosine to an already chosen sentence that makes one redundant
        self.max_chars = max_chars

    def warm_up(self) -> None:
        self.embedder.embed(["warm up"])

    def candidates(self, request: GenerationRequest) -> list[Candidate]:
        """The passages' sentences, best first; for a follow-up that asks for more, only those the
        conversation has not shown and that are about its subject."""
        if not request.passages:
            return []
        follow_up = request.follow_up
        # a follow-up asking for more is ranked by the question it asks more answers to
        question = follow_up.question or request.query or request.question
        ranked = self.scorer.rank(question, follow_up.question or request.question,
                                  [p.chunk for p in request.passages], self.embed_query(question))
        if not follow_up:
            return ranked
        css = self.bank.get([p.chunk for p in request.passages])
        return [c for c in ranked if not follow_up.has_shown(c.text)
                and about_subject(follow_up, css[c.passage].texts, c.sentence)]

    def select(self, request: GenerationRequest) -> list[Candidate]:
        cands = self.candidates(request)
        if request.follow_up and (by_place := self._by_place(request, cands)):
            return by_place
        rule = self.scorer.selection()
        if not cands or cands[0].score < rule.min_score:
            return []
        best = cands[0]
        chosen = [best]
        length = len(best.text)
        for c in cands[1:]:
            if len(chosen) >= self.max_sentences or c.score < max(rule.floor, rule.keep * best.score):
                break
            # another passage's sentence must be nearly as good: it is less likely to be on the same point
            if c.passage != best.passage and c.score < rule.other * best.score:
                continue
            if length + len(c.text) > self.max_chars:
                continue
            if any(float(c.vec @ o.vec) >= self.redundancy for o in chosen):
                continue
            chosen.append(c)
            length += len(c.text)
        if asks_for_speaker(request.question):
            chosen = self._with_speakers(chosen, self.bank.get([p.chunk for p in request.passages]),
                                         request.follow_up)
        # read in source order within a passage, passages in rank order
        return sorted(chosen, key=lambda c: (c.passage, c.sentence))

    def _by_place(self, request: GenerationRequest, cands: list[Candidate]) -> list[Candidate]:
        """A follow-up's sentences picked by where the shown ones stand: after them for "and then?", beside
        them for "anything more?" about no name; empty when that finds none (rank as usual)."""
        follow_up = request.follow_up
        css = self.bank.get([p.chunk for p in request.passages])
        if follow_up.kind == "continue":
            return following(follow_up, css, cands, self.max_chars)
        if follow_up.kind == "more" and not follow_up.names:
            return beside_shown(follow_up, css, cands, self.max_chars)
        return naming(cands, self.max_chars, self.redundancy) if follow_up.names else []

    def _with_speakers(self, chosen: list[Candidate], css: list, follow_up: FollowUp) -> list[Candidate]:
        """For "who said..." questions: a quote ending in "she added" needs the sentence naming her (unless
        the conversation already showed that sentence: a follow-up asking what else she said)."""
        out = list(chosen)
        for c in chosen:
            chain = [i for i in speaker_chain(css[c.passage].texts, c.sentence)
                     if not any(o.passage == c.passage and o.sentence == i for o in out)
                     and not follow_up.has_shown(css[c.passage].texts[i])]
            if not chain:
                continue
            keep = [o for o in out if o is c or o.score >= c.score][: max(1, self.max_sentences - len(chain))]
            if not any(o is c for o in keep):  # identity: Candidate holds an array, == would be ambiguous
                keep[-1] = c
            cs = css[c.passage]
            out = [*keep, *(Candidate(c.passage, i, cs.texts[i], c.score, cs.sentence_vec(i)) for i in chain)]
        return out

    def generate(self, request: GenerationRequest) -> Iterator[Piece]:
        chosen = self.select(request)
        if not chosen:
            yield NoAnswer(request.no_answer)
            return
        for n, c in enumerate(chosen):
            # a headline or "Reply from X:" line has no full stop: a space would glue it to the next sentence
            # and the verifier would then check (and reject) the pair as one
            gap = "" if n == 0 else (" " if _ENDS_SENTENCE.search(chosen[n - 1].text) else "\n")
            yield gap + place_markers(c.text, (c.passage + 1,))

