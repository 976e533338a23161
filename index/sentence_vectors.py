"""Sentence vectors computed at index time, so a new question embeds nothing but itself.

The answer path reads a chunk as its evidence sentences (quarantined ones dropped) and each long sentence's
clause views (index.sentences.clause_views); the reader and the verifier compare the question and the
answer with those views. Embedding them at question time was most of a new question's cost (docs/benchmarks.md),
so the indexer embeds them with the chunks and keeps them in the store, in a fourth Chroma collection
`NAME-sentences` (index.shared), one record per distinct view text: id = sha256 of the text, the vector as
the record's embedding. Records are content-addressed and never change; the index's embedding model is
fixed by its recorded build info (index.manifest.check_compatible), so a stored vector is always this
model's. Removing or replacing a document deletes the records no live document still holds (drop_unused).
A view the store lacks (an index built before this, or a server without the collection) is
embedded at question time by the reader's bank, as before: a missing record costs time, never an answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from index.quarantine import flag_spans
from index.sentences import body_sentences, clause_views
from index.shared import SharedState


def evidence_spans(text: str, title: str = "") -> list[tuple[int, int]]:
    """The chunk's sentence spans that are evidence: quarantined ones (addressed to an AI) and the title line
    (a field of the document) are dropped, and a dateline is cut off its sentence."""
    flagged = set(flag_spans(text))
    return body_sentences(text, title, skip=flagged) or [(0, 0 if flagged else len(text))]


def chunk_views(text: str, title: str = "") -> tuple[list[tuple[int, int]], list[str], list[str], list[int]]:
    """(spans, sentences, views, starts): every sentence followed by its clause views, in the order the
    reader's bank stacks them; starts[i] is the index in `views` of sentence i."""
    spans = evidence_spans(text, title)
    texts = [text[s:e] for s, e in spans]
    views: list[str] = []
    starts: list[int] = []
    for t in texts:
        starts.append(len(views))
        views.append(t)
        views.extend(clause_views(t))
    return spans, texts, views, starts


def view_id(text: str) -> str:
    return "s-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class SentenceVectors:
    """The stored view vectors: `get` for the answer path, `missing` and `put` for the indexer."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of these texts (texts without one are absent from the result)."""
        if not texts or self.shared.local_missing():
            return {}
        ids = {view_id(t): t for t in texts}
        got = self._get(list(ids), include=["embeddings"])
        embs = got.get("embeddings")
        if embs is None or not len(got["ids"]):
            return {}
        return {ids[i]: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], embs, strict=True)}

    def count(self) -> int:
        """How many vectors are stored (0 on an index built before they were)."""
        if self.shared.local_missing():
            return 0
        with self.shared.call() as cols:
            return cols["sentences"].count()

    def missing(self, texts: list[str]) -> list[str]:
        """The distinct texts with no stored vector, in first-seen order."""
        distinct = list(dict.fromkeys(texts))
        have = set(self._get([view_id(t) for t in distinct], include=[])["ids"])
        return [t for t in distinct if view_id(t) not in have]

    def put(self, texts: list[str], vecs: np.ndarray) -> None:
        step = self.shared.max_batch()
        with self.shared.call() as cols:
            for b in range(0, len(texts), step):
                part = texts[b:b + step]
                cols["sentences"].upsert(ids=[view_id(t) for t in part], embeddings=np.asarray(vecs[b:b + step]))

    def drop_unused(self, chunk_texts: list[str], live_texts: Iterable[str]) -> int:
        """Delete the views of these (removed or replaced) chunks that no live document still holds; the number
        deleted. Records are shared by text, so a sentence's record and its clause views' stay while any
        live document's text contains the sentence. One substring scan per sentence over the live texts:
        linear in the index, where computing every live chunk's views would cost a re-split of it all.
        Two live sentences that differ only in quotes or spacing can share a clause view, and a writer
        committing meanwhile can share one: such a view may go, and its questions then embed it (time,
        never an answer)."""
        haystack = "\x00".join(live_texts)
        dead: dict[str, None] = {}
        for t in dict.fromkeys(chunk_texts):
            _, sents, views, starts = chunk_views(t)
            for i, sent in enumerate(sents):
                if sent not in haystack:
                    dead.update(dict.fromkeys(views[starts[i]:starts[i + 1] if i + 1 < len(starts) else None]))
        if not dead or self.shared.local_missing():
            return 0
        ids = [view_id(v) for v in dead]
        self.shared.delete("sentences", ids)
        return len(ids)

    def _get(self, ids: list[str], include: list) -> dict:
        out: dict = {"ids": [], "embeddings": []}
        step = self.shared.max_batch()
        with self.shared.call() as cols:
            for b in range(0, len(ids), step):
                got = cols["sentences"].get(ids=ids[b:b + step], include=include)
                out["ids"] += list(got["ids"])
                if "embeddings" in include and got.get("embeddings") is not None:
                    out["embeddings"] += list(got["embeddings"])
        return out
