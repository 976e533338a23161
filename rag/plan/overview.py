"""The overview plan: a document's central sentences, cited, in the document's order.

Chunks are ranked by how close their stored vector lies to the document's centroid, with a bonus for the
lead (news puts the gist first) and a penalty for resembling a chunk already taken (MMR), so the summary
covers the document instead of repeating its main point. The sentences of the few chosen chunks are then
ranked by their vectors, read from the index where the indexer stored them (rag.plan.vectors.StoredFirst):
a summary embeds nothing at question time, which keeps a 300-page PDF as fast as an article. Several documents in scope
get a short summary each, under their titles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.types import Answer, Chunk, Document
from index.quarantine import flag_spans
from index.sentences import body_sentences
from rag.plan.protocol import Library, PlanRequest
from rag.plan.quotes import Quote, abstention, cited_answer
from rag.plan.scope import resolve

Embed = Callable[[list[str]], np.ndarray]
ChunkVectors = Callable[[list[str]], np.ndarray]

LEAD_BONUS = 0.12  # the first chunk of a text (a news lead) counts as this much more central
DIVERSITY = 0.35  # weight of "resembles what was taken" against centrality (MMR)
REDUNDANT = 0.82  # a sentence this similar to a taken one adds nothing
SENTENCE_CENTRALITY = 1.0  # weight of a sentence's closeness to the document's centroid, beside its headline's
PARAGRAPH_LEAD, EARLY = 0.15, 0.1  # a paragraph's opening sentence, and an early one, state more of the gist
_WORDS = (6, 70)  # a summary sentence has at least / at most this many words
_PER_CHUNK = 12  # candidate sentences read per chosen chunk
READ_ALL = 24  # a document of at most this many chunks offers every sentence to the summary


class OverviewPlan:
    kind = "overview"

    def __init__(self, library: Library, embed: Embed, chunk_vectors: ChunkVectors, *, sentences: int = 5,
                 max_documents: int = 8) -> None:
        self.library, self.embed, self.chunk_vectors = library, embed, chunk_vectors
        self.sentences, self.max_documents = sentences, max_documents

    def answer(self, request: PlanRequest) -> Answer:
        docs = [d for d in self.library.documents()
                if (request.collections is None or d.collection in request.collections)
                and (not request.doc_ids or d.doc_id in request.doc_ids)]
        texts = {d.doc_id: self.library.document(d.doc_id).text for d in docs}
        scope = resolve(request.question, docs, texts)
        if not scope.doc_ids:
            return abstention(request.question, f"No document in your library is about “{scope.missing}”, so "
                              "there is nothing to summarise. Add it, or ask about one of your documents.", self.kind)
        shown = scope.doc_ids[: self.max_documents]
        per_doc = scope.count or {1: self.sentences, 2: 3}.get(len(shown), 2)
        groups = []
        for doc_id in shown:
            doc = self.library.document(doc_id)
            groups.append((doc.title if len(shown) > 1 else "", self.central_quotes(doc, per_doc)))
        lead = _lead(len(scope.doc_ids), len(shown))
        return cited_answer(request.question, [g for g in groups if g[1]], self.kind, lead)

    def central_quotes(self, doc: Document, k: int) -> list[Quote]:
        """The k most central, mutually different sentences of `doc`, in document order."""
        chunks = self.library.chunks_of(doc.doc_id)
        if not chunks:
            return []
        vecs = self.chunk_vectors([c.chunk_id for c in chunks])
        centroid = _unit(vecs.mean(axis=0))
        headline = self._embed_units([doc.title])[0]  # a headline states the gist: the summary's query
        bonus = np.array([LEAD_BONUS if c.ordinal == 0 else 0.0 for c in chunks])
        # a short document's every chunk is read (its sentence vectors are stored); a long one's most central few
        picked = (range(len(chunks)) if len(chunks) <= READ_ALL else
                  mmr(vecs @ centroid + vecs @ headline + bonus, vecs, min(len(chunks), k + 2)))
        candidates = [q for i in sorted(picked) for q in document_sentences(doc, chunks[i])[:_PER_CHUNK]]
        if not candidates:
            return []
        svecs = self._embed_units([q.text for q in candidates])
        # central to the document (its chunks' centroid) and to its headline; the lead sentence states the gist
        lead = np.array([_lead_weight(doc.text, q.start) for q in candidates])
        chosen = mmr(svecs @ headline + SENTENCE_CENTRALITY * (svecs @ centroid) + lead, svecs, k, redundant=REDUNDANT)
        return sorted((candidates[i] for i in chosen), key=lambda q: q.start)

    def _embed_units(self, texts: list[str]) -> np.ndarray:
        v = np.asarray(self.embed(texts), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)

def mmr(scores: np.ndarray, vecs: np.ndarray, k: int, redundant: float = 1.01) -> list[int]:
    """Greedy maximal marginal relevance: indices of up to k items, each central and unlike those taken."""
    taken: list[int] = []
    sims = vecs @ vecs.T
    while len(taken) < k:
        best, best_score = -1, -np.inf
        for i in range(len(scores)):
            if i in taken or (taken and sims[i, taken].max() >= redundant):
                continue
            s = scores[i] - DIVERSITY * (sims[i, taken].max() if taken else 0.0)
            if s > best_score:
                best, best_score = i, s
        if best < 0:
            break
        taken.append(best)
    return taken


def document_sentences(doc: Document, chunk: Chunk) -> list[Quote]:
    """The chunk's summary-worthy sentences: not the title, not a dateline, not text addressed to an AI."""
    flagged = flag_spans(chunk.text)
    out = []
    for s, e in body_sentences(doc.text, doc.title, chunk.start, chunk.end):
        text = doc.text[s:e]
        n = len(text.split())
        quarantined = any(fs < e - chunk.start and fe > s - chunk.start for fs, fe in flagged)
        if not _WORDS[0] <= n <= _WORDS[1] or quarantined or text.rstrip().endswith("?"):
            continue
        out.append(Quote(chunk=chunk, start=s, end=e, text=text))
    return out


def _lead_weight(text: str, start: int) -> float:
    """A news text puts the gist in its paragraphs' opening sentences, the earlier the more: PARAGRAPH_LEAD for
    a sentence that opens its paragraph, plus up to EARLY for where it stands in the document."""
    before = text[:start].rstrip(" \t")
    opens = not before or before.endswith("\n")
    return (PARAGRAPH_LEAD if opens else 0.0) + EARLY * (1.0 - start / max(len(text), 1))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _lead(in_scope: int, shown: int) -> str:
    if in_scope <= 1:
        return ""
    more = f" (the first {shown} of {in_scope})" if shown < in_scope else ""
    return f"Your library holds {in_scope} documents{more}; the main points of each:"
