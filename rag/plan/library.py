"""The library plan: questions about the documents themselves, answered from the library's own records.

Titles, counts, lengths, formats, collections and added dates come from the index's records, not from
retrieved text, and each document named is cited by its title line, so a click shows the document. A
record the library does not keep ("Who wrote the bridge report?") is an abstention that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.types import Answer, Chunk, Citation, Passage, Sentence
from core.untrusted import inert
from rag.plan.kinds import LIBRARY_ASKS, normalize_question
from rag.plan.protocol import Library, PlanRequest
from rag.plan.quotes import abstention
from rag.plan.scope import resolve, subject_terms


@dataclass(frozen=True)
class _Doc:
    info: Any
    chunk: Chunk  # the first chunk: where the title line is
    chars: int
    words: int


def asks_for(question: str) -> str:
    text = normalize_question(question)
    return next((name for name, pattern in LIBRARY_ASKS if pattern.search(text)), "list")


class LibraryPlan:
    kind = "library"

    def __init__(self, library: Library) -> None:
        self.library = library

    def answer(self, request: PlanRequest) -> Answer:
        infos = [d for d in self.library.documents()
                 if request.collections is None or d.collection in request.collections]
        ask = asks_for(request.question)
        if not infos:
            return abstention(request.question, "Your library is empty: add documents first.", self.kind)
        if ask == "unknown":
            return abstention(request.question, "The library keeps each document's title, length, format, "
                              "collection and date added, but not who wrote it or where it was published.", self.kind)
        docs = self._docs(request, infos, ask)
        if not docs:
            return abstention(request.question, "No document in your library matches that.", self.kind)
        return _render(request.question, ask, docs, len(infos))

    def _docs(self, request: PlanRequest, infos: list[Any], ask: str) -> list[_Doc]:
        texts = {d.doc_id: self.library.document(d.doc_id).text for d in infos}
        named = subject_terms(request.question) and ask in ("title", "size", "added", "format", "collection")
        ids = resolve(request.question, infos, texts).doc_ids if named else tuple(d.doc_id for d in infos)
        out = []
        for d in infos:
            if d.doc_id in ids and (chunks := self.library.chunks_of(d.doc_id)):
                out.append(_Doc(d, chunks[0], len(texts[d.doc_id]), len(texts[d.doc_id].split())))
        return out


def _fact(d: _Doc, ask: str) -> str:
    title = f"“{inert(d.info.title)}”"
    if ask in ("size", "longer"):
        return f"{title}: {d.words:,} words ({d.chars:,} characters)"
    if ask == "added":
        added = d.info.meta.get("added", "")
        return f"{title} was added {added}" if added else f"{title}: the library has no date recorded for it"
    if ask == "format":
        return f"{title} is a {d.info.kind or 'text'} file"
    if ask == "collection":
        return f"{title} is in the collection “{inert(d.info.collection)}”"
    return title


def _render(question: str, ask: str, docs: list[_Doc], total: int) -> Answer:
    if ask == "longer":
        docs = sorted(docs, key=lambda d: d.words, reverse=True)
        lead = f"“{inert(docs[0].info.title)}” is the longest."
    elif ask == "count":
        lead = f"Your library holds {total} document{'s' if total != 1 else ''}:"
    elif ask == "title" and len(docs) == 1:
        lead = "The title is:"
    else:
        lead = f"Your library holds {total} document{'s' if total != 1 else ''}:" if ask == "list" else ""
    lines = [lead] if lead else []
    sentences, citations = [], []
    for n, d in enumerate(docs, 1):
        fact = _fact(d, ask)
        lines.append(f"- {fact} [{n}]")
        sentences.append(Sentence(text=fact, markers=(n,), supported=True, support=1.0))
        citations.append(_title_citation(n, d))
    retrieved = [Passage(chunk=d.chunk, score=1.0, rank=i) for i, d in enumerate(docs, 1)]
    return Answer(question=question, text="\n".join(lines), sentences=sentences, citations=citations,
                  retrieved=retrieved, abstained=False, generator="extractive", plan="library")


def _title_citation(marker: int, d: _Doc) -> Citation:
    """Cite the document by its title line when the text starts with it, else by its first chunk."""
    c, title = d.chunk, d.info.title.strip()
    at = c.text.find(title) if title else -1
    start, end = (c.start + at, c.start + at + len(title)) if at >= 0 else (c.start, c.end)
    return Citation(marker=marker, chunk_id=c.chunk_id, doc_id=c.doc_id, title=c.title, start=c.start, end=c.end,
                    text=c.text, quote_start=start, quote_end=end, page=c.page_at(start), page_end=c.page_at(start))
