"""The explanation plan: the 2-4 sentences that give the reasons a "why" or "how come" question asks for.

Retrieval reaches wider than a fact's top k; every sentence of the retrieved chunks is then ranked by its
relevance to the question (embedding similarity, plus the question's words in the sentence and in its
paragraph, so "Why does Liu think ..." keeps to Liu's paragraph) times its reason cue (core.language.reasons:
"because", "due to", "concerned that", "could allow" ...). A sentence that only names the topic ranks below
one that explains it. Each chosen sentence is quoted and cited, in document order. The question first goes
through the fact path: where it abstains (the documents are silent), the explanation abstains with it, and
where no sentence gives a reason, the fact path's answer stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from core.language.reasons import reason_weight
from core.language.terms import term_set
from core.types import Answer, Passage
from rag.plan.overview import document_sentences, mmr
from rag.plan.protocol import Library, PlanRequest
from rag.plan.quotes import Quote, abstention, cited_answer
from rag.plan.scope import resolve, subject_terms

Search = Callable[[str, int, "tuple[str, ...] | None"], list[Passage]]
Embed = Callable[[list[str]], np.ndarray]

BROAD_K = 12  # chunks read per question (a fact reads the top k)
CUE_WEIGHT = 0.15  # added to relevance, times the sentence's reason weight (core.language.reasons)
# a claim's reasons follow it: the sentences after the one that restates the question, in its paragraph
NEAR_AFTER, NEAR_BEFORE = 0.2, 0.1
WORDS_IN_SENTENCE, WORDS_IN_PARAGRAPH = 0.25, 0.12  # share of the question's words found there
RELEVANT = 0.5  # a reason is at least this relevant, as a share of the sentence closest to the question
RELEVANT_WEAK = 0.8  # the same for a sentence with only a weak cue (a need, a risk, a consequence)
KEEP = 0.75  # a reason is kept when it scores at least this share of the best one
REDUNDANT = 0.85  # a sentence this similar to a kept one says nothing new
MAX_REASONS, MAX_CHARS = 4, 700
RESTATES = 0.65  # share of the question's subject words a claim holds when it restates the question
FOLLOWING = 2  # sentences after a claim that gives no reason itself, read as its explanation
_PARAGRAPH = re.compile(r"\n\s*\n")


class ExplanationPlan:
    kind = "explanation"

    def __init__(self, library: Library, search: Search, embed: Embed, embed_query: Callable[[str], np.ndarray]) -> None:
        self.library, self.search, self.embed, self.embed_query = library, search, embed, embed_query

    def answer(self, request: PlanRequest) -> Answer:
        fact = request.fact(request.question) if request.fact else None
        if fact is not None and fact.abstained:
            return _labelled(fact)
        quotes = self.reasons(request)
        if not quotes:
            return _labelled(fact) if fact is not None else abstention(
                request.question, "No passage in your documents gives a reason for this.", self.kind)
        return cited_answer(request.question, [("", quotes)], self.kind)

    def reasons(self, request: PlanRequest) -> list[Quote]:
        """The sentences that give the question's reasons, at most MAX_REASONS, in document order."""
        candidates = self._candidates(request)
        if not candidates:
            return []
        scores, cue, near = self.scores(request.question, candidates)
        svecs = self._unit(self.embed([q.text for q in candidates]))
        best = float(scores.max()) if np.isfinite(scores).any() else 0.0
        picked = [i for i in mmr(scores, svecs, MAX_REASONS, redundant=REDUNDANT) if scores[i] >= KEEP * best]
        anchor = int(np.argmax(near < 0))
        follows = _following(candidates, near) if _restates(request.question, candidates[anchor].text) else []
        if not any(cue[i] > 0 and np.isfinite(scores[i]) for i in picked) and not follows:
            return []
        # the claim opens the answer when its own next sentences explain it
        if anchor not in picked and any(near[i] >= NEAR_AFTER for i in picked):
            picked = [anchor, *picked][:MAX_REASONS]
        if follows:
            # the claim restates the question without a reason: news text gives it around it, mostly in the
            # next sentences ("Federal officials see the bridge as a model." then the minister's words)
            picked = [anchor, *(i for i in follows if i not in picked), *(i for i in picked if i != anchor)]
            picked = picked[:MAX_REASONS]
        chosen, chars = [], 0
        for i in picked:
            if chosen and chars + len(candidates[i].text) > MAX_CHARS:
                break
            chosen.append(candidates[i])
            chars += len(candidates[i].text)
        return sorted(chosen, key=lambda q: (q.chunk.doc_id, q.start))

    def scores(self, question: str, candidates: list[Quote]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each candidate's score (relevance, reason cue, nearness to the sentence closest to the question,
        the claim), its reason cue weight and its nearness (-1 for the claim itself)."""
        relevance = self._relevance(question, candidates)
        cue = np.array([reason_weight(q.text) for q in candidates])
        anchor = candidates[int(np.argmax(relevance))]
        text = self.library.document(anchor.chunk.doc_id).text
        span = _paragraph_span(text, anchor.start)
        near = np.array([0.0 if q.chunk.doc_id != anchor.chunk.doc_id or not span[0] <= q.start < span[1]
                         else NEAR_AFTER if q.start > anchor.start else NEAR_BEFORE if q.start < anchor.start
                         else -1.0 for q in candidates])
        # a sentence that gives no reason only names the topic; one far less relevant than the sentence
        # closest to the question gives the reason for something else
        # a need or a risk (a weak cue) explains only when it is nearly as close to the question as that
        # (or follows the claim in its paragraph)
        floor = np.where((cue >= 1.0) | (near >= NEAR_AFTER), RELEVANT, RELEVANT_WEAK) * relevance.max()
        topical = (cue == 0) | (relevance < floor)
        return np.where(topical, -np.inf, relevance + CUE_WEIGHT * cue + np.maximum(near, 0.0)), cue, near

    def _candidates(self, request: PlanRequest) -> list[Quote]:
        """Every sentence of the chunks retrieved for the question, within the documents it is about."""
        passages = self.search(request.question, BROAD_K, request.collections)
        docs = {p.chunk.doc_id: self.library.document(p.chunk.doc_id) for p in passages}
        infos = [d for d in self.library.documents() if d.doc_id in docs]
        scope = resolve(request.question, infos, {i: d.text for i, d in docs.items()}, strict=False)
        allowed = set(scope.doc_ids) & (set(request.doc_ids) if request.doc_ids else set(docs))
        seen, out = set(), []
        for p in passages:
            for q in document_sentences(docs[p.chunk.doc_id], p.chunk) if p.chunk.doc_id in allowed else []:
                if (q.chunk.doc_id, q.start) not in seen:
                    seen.add((q.chunk.doc_id, q.start))
                    out.append(q)
        return out

    def _relevance(self, question: str, candidates: list[Quote]) -> np.ndarray:
        q = self._unit(np.asarray(self.embed_query(question), dtype=np.float32)[None, :])[0]
        sims = self._unit(self.embed([c.text for c in candidates])) @ q
        wanted = subject_terms(question)
        if not wanted:
            return sims
        texts = {c.chunk.doc_id: self.library.document(c.chunk.doc_id).text for c in candidates}
        share = [(len(wanted & term_set(c.text)) / len(wanted),
                  len(wanted & term_set(_paragraph(texts[c.chunk.doc_id], c.start))) / len(wanted)) for c in candidates]
        return sims + np.array([WORDS_IN_SENTENCE * s + WORDS_IN_PARAGRAPH * p for s, p in share])

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


def _restates(question: str, claim: str) -> bool:
    """The claim says what the question asks about (most of its subject words), so it is the statement
    the question asks the reason for."""
    wanted = subject_terms(question)
    return bool(wanted) and len(wanted & term_set(claim)) >= RESTATES * len(wanted)


def _following(candidates: list[Quote], near: np.ndarray, anchor: int | None = None) -> list[int]:
    """The sentence before the claim in its paragraph (the background it follows from) and the FOLLOWING
    sentences after it, in document order; none when the claim gives a reason itself (`anchor` given: the
    claim's index, else found from `near`)."""
    anchor = int(np.argmax(near < 0)) if anchor is None else anchor
    if reason_weight(candidates[anchor].text) > 0:
        return []
    after = sorted((i for i in range(len(candidates)) if near[i] >= NEAR_AFTER), key=lambda i: candidates[i].start)
    before = sorted((i for i in range(len(candidates)) if 0 < near[i] < NEAR_AFTER), key=lambda i: candidates[i].start)
    return before[-1:] + after[:FOLLOWING]


def _paragraph_span(text: str, at: int) -> tuple[int, int]:
    """The span of the paragraph of `text` that holds offset `at`."""
    start = max((m.end() for m in _PARAGRAPH.finditer(text, 0, at)), default=0)
    end = _PARAGRAPH.search(text, at)
    return start, end.start() if end else len(text)


def _paragraph(text: str, at: int) -> str:
    s, e = _paragraph_span(text, at)
    return text[s:e]


def _labelled(answer: Answer) -> Answer:
    return replace(answer, plan=ExplanationPlan.kind)
