"""Turn chosen document sentences into a cited answer: one marker per claim, each pointing at its own
sentence, so two claims from one passage each highlight their own support."""

from __future__ import annotations

from dataclasses import dataclass

from core.types import NOT_COVERED, Answer, Chunk, Citation, Claim, Passage, Sentence
from core.untrusted import inert


@dataclass(frozen=True)
class Quote:
    chunk: Chunk
    start: int  # span of the sentence in the document text
    end: int
    text: str
    score: float = 0.0


def citation(marker: int, q: Quote, sentence: int | None = None) -> Citation:
    """`sentence`: the answer sentence (claim) this quote supports, recorded as the citation's one claim."""
    c = q.chunk
    claims = (Claim(sentence, q.start, q.end),) if sentence is not None else ()
    return Citation(marker=marker, chunk_id=c.chunk_id, doc_id=c.doc_id, title=c.title, start=c.start, end=c.end,
                    text=c.text, quote_start=q.start, quote_end=q.end, page=c.page_at(q.start),
                    page_end=c.page_at(max(q.start, q.end - 1)), claims=claims)


def cited_answer(question: str, groups: list[tuple[str, list[Quote]]], plan: str, lead: str = "") -> Answer:
    """Bullets of quotes under optional group headings ("" for none), numbered in reading order."""
    lines, sentences, citations, passages = ([lead] if lead else []), [], [], {}
    for heading, quotes in groups:
        if heading:
            lines.append(f"**{inert(heading)}**")
        for q in quotes:
            n = len(citations) + 1
            text = inert(q.text)
            lines.append(f"- {text} [{n}]")
            sentences.append(Sentence(text=text, markers=(n,), supported=True, support=1.0))
            citations.append(citation(n, q, len(sentences) - 1))
            passages.setdefault(q.chunk.chunk_id, q.chunk)
    retrieved = [Passage(chunk=c, score=1.0, rank=i) for i, c in enumerate(passages.values(), 1)]
    return Answer(question=question, text="\n".join(lines), sentences=sentences, citations=citations,
                  retrieved=retrieved, abstained=False, generator="extractive", plan=plan)


def abstention(question: str, reason: str, plan: str) -> Answer:
    """The product's one abstention sentence, then the plan's reason in words."""
    return Answer(question=question, text=f"{NOT_COVERED} {reason}", sentences=[], citations=[], retrieved=[], abstained=True,
                  generator="extractive", abstain_reason=reason, plan=plan)
