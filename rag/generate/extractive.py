"""The extractive generator: answers with the source's own sentences, so it needs no LLM and cannot invent.

It scores every sentence of the retrieved passages against the question by embedding similarity and by
how many of the question's content words the sentence (and its passage) contains, then takes the best
sentence and up to two more that score nearly as well and say something new (MMR-style diversity).
When even the best sentence is a weak match it says the sources do not answer, which the assistant
recognises as an abstention: a plausible question the documents touch but do not settle gets no answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.language.answer_types import TIME, NewName, answer_type
from core.language.names import REFERS_BACK, asks_for_speaker, speaker_chain
from core.language.places import with_country_names
from core.language.terms import coverage, term_set
from rag.generate.protocol import NOT_COVERED, GenerationRequest, NoAnswer
from rag.reader.evidence import SentenceBank
from rag.verify.citations import place_markers

_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*$")


# A reader's scores are probabilities, far more spread than the heuristic's (a second sentence at 0.2 beside
# a best at 0.6 still often holds the rest of the answer): extra sentences need this share of the best one's
# probability (same passage, another passage), and the answer threshold. Picked on the bundled suites with
# the cascade (docs/reader.md), so those suites' figures for the learned readers are not clean test figures.
READER_KEEP = (0.2, 0.5)


@dataclass(frozen=True)
class Candidate:
    passage: int  # 0-based index into request.passages
    sentence: int
    text: str
    score: float
    vec: np.ndarray


class ExtractiveGenerator:
    name = "extractive"

    def __init__(
        self,
        embedder,
        *,
        bank: SentenceBank | None = None,
        max_sentences: int = 3,
        min_score: float = 0.40,
        keep_ratio: float = 0.85,
        other_ratio: float = 0.95,
        redundancy: float = 0.8,
        max_chars: int = 600,
        embed_query: Callable[[str], np.ndarray] | None = None,
        reader=None,
    ) -> None:
        self.embedder = embedder
        self.reader = reader  # rag.reader.learned.Reader: ranks sentences and sets min_score when given
        # the retriever's cached query embedding, when the assistant wires it in: one encode per question
        self.embed_query = embed_query or (lambda q: self.embedder.embed([q])[0])
        self.bank = bank or SentenceBank(embedder)
        self.max_sentences = max_sentences
        self.min_score = min_score  # below this the best sentence does not answer the question
        self.keep_ratio = keep_ratio  # extra sentences must score this close to the best one
        self.other_ratio = other_ratio  # ... and this close when they come from another passage
        self.redundancy = redundancy  # cosine to an already chosen sentence that makes one redundant
        self.max_chars = max_chars

    def warm_up(self) -> None:
        self.embedder.embed(["warm up"])

    def candidates(self, request: GenerationRequest) -> list[Candidate]:
        if not request.passages:
            return []
        question = request.query or request.question
        q_vec = self.embed_query(question)
        if self.reader is not None:
            return self._read(request, question, q_vec)
        q_terms = term_set(with_country_names(question))
        wants = answer_type(request.question)
        out, best = [], 0.0
        for j, cs in enumerate(self.bank.get([p.chunk for p in request.passages])):
            cos = cs.cosines(q_vec)
            for i, text in enumerate(cs.texts):
                if len(text) < 20 or len(text) > 1000:
                    continue
                terms = cs.terms[i]
                if i > 0 and REFERS_BACK.search(text):  # "..., she added": the name is one sentence back
                    terms = terms | cs.terms[i - 1]
                # the sentence's own words count most; its passage's words give context credit
                lex = 0.75 * coverage(q_terms, terms) + 0.25 * coverage(q_terms, cs.chunk_terms)
                score = 0.6 * float(cos[i]) + 0.4 * lex
                best = max(best, score)
                if wants and not wants.search(text):
                    continue  # "how many" answered without a number is wrong, however similar it reads
                out.append(Candidate(j, i, text, score, cs.sentence_vec(i)))
        if isinstance(wants, NewName):  # a name is asked of the sentence about that role, not of any other one
            out = [c for c in out if c.score >= self.keep_ratio * best]
        out.sort(key=lambda c: -c.score)
        return out

    def _read(self, request: GenerationRequest, question: str, q_vec: np.ndarray) -> list[Candidate]:
        """The learned reader's ranking; a candidate's score is its probability of holding the answer."""
        chunks = [p.chunk for p in request.passages]
        css = self.bank.get(chunks)
        # the answer types still apply, except the broad time-word rule for "when": the reader weighs that itself
        wants = answer_type(request.question)
        wants = None if wants is TIME else wants
        out = []
        for s in self.reader.rank(question, chunks, q_vec):
            text = css[s.passage].texts[s.sentence]
            if 20 <= len(text) <= 1000 and not (wants and not wants.search(text)):
                out.append(Candidate(s.passage, s.sentence, text, s.prob, css[s.passage].sentence_vec(s.sentence)))
        return out

    def select(self, request: GenerationRequest) -> list[Candidate]:
        cands = self.candidates(request)
        min_score = self.reader.answer_threshold if self.reader is not None else self.min_score
        if not cands or cands[0].score < min_score:
            return []
        best = cands[0]
        chosen = [best]
        length = len(best.text)
        keep, other = (READER_KEEP if self.reader is not None else (self.keep_ratio, self.other_ratio))
        floor = min_score if self.reader is not None else 0.0
        for c in cands[1:]:
            if len(chosen) >= self.max_sentences or c.score < max(floor, keep * best.score):
                break
            # another passage's sentence must be nearly as good: it is less likely to be on the same point
            if c.passage != best.passage and c.score < other * best.score:
                continue
            if length + len(c.text) > self.max_chars:
                continue
            if any(float(c.vec @ o.vec) >= self.redundancy for o in chosen):
                continue
            chosen.append(c)
            length += len(c.text)
        if asks_for_speaker(request.question):
            chosen = self._with_speakers(chosen, self.bank.get([p.chunk for p in request.passages]))
        # read in source order within a passage, passages in rank order
        return sorted(chosen, key=lambda c: (c.passage, c.sentence))

    def _with_speakers(self, chosen: list[Candidate], css: list) -> list[Candidate]:
        """For "who said..." questions: a quote ending in "she added" needs the sentence naming her."""
        out = list(chosen)
        for c in chosen:
            chain = [i for i in speaker_chain(css[c.passage].texts, c.sentence)
                     if not any(o.passage == c.passage and o.sentence == i for o in out)]
            if not chain:
                continue
            keep = [o for o in out if o is c or o.score >= c.score][: max(1, self.max_sentences - len(chain))]
            if not any(o is c for o in keep):  # identity: Candidate holds an array, == would be ambiguous
                keep[-1] = c
            cs = css[c.passage]
            out = [*keep, *(Candidate(c.passage, i, cs.texts[i], c.score, cs.sentence_vec(i)) for i in chain)]
        return out

    def generate(self, request: GenerationRequest) -> Iterator[str]:
        chosen = self.select(request)
        if not chosen:
            yield NoAnswer(NOT_COVERED)
            return
        for n, c in enumerate(chosen):
            # a headline or "Reply from X:" line has no full stop: a space would glue it to the next sentence
            # and the verifier would then check (and reject) the pair as one
            gap = "" if n == 0 else (" " if _ENDS_SENTENCE.search(chosen[n - 1].text) else "\n")
            yield gap + place_markers(c.text, (c.passage + 1,))
