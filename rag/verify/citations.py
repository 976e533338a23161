"""Citation verification, run after generation for every generator.

The generator's markers are treated as claims to check, not as facts: each answer sentence is scored
against every retrieved passage (rag.reader.evidence.support). A marker is kept only when its passage supports
the sentence; a wrong or nonexistent marker is replaced by the passage that does support it, or dropped.
A sentence that no passage supports is flagged. Cited sources are renumbered 1..m in order of first use,
and only they become citations. Markdown links/images and raw HTML in generated text are rendered as
plain text first: documents are data, and an answer must not smuggle a URL fetch into the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.language.markers import MARKER, parse_markers, place_markers
from core.types import Chunk, Citation, Claim, Passage, Sentence
from core.untrusted import inert
from index.sentences import split_sentences
from rag.reader.evidence import ChunkSentences, SentenceBank, Support
from rag.reader.scorer import Scorer
from rag.verify.attribution import check_sentence

# markers placed after the sentence stop ("... 1961. [2]") move in front of it before splitting
_TRAILING = re.compile(rf"([.!?])((?:\s*+{MARKER.pattern})++)", re.IGNORECASE)


# Link text and target stop at the next bracket/parenthesis: "[a[a[a..." must not rescan the tail from
# every "[" (quadratic). Nested brackets inside link text are rare and then stay as plain text.
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\(([^()\[\]]*)\)")
_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()\[\]]*)\)")
_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
# "<" ends the run too (as in CommonMark): "<http:a<http:a..." must not rescan the tail from every "<"
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]++)>", re.IGNORECASE)
_SCRIPT = re.compile(r"<(script|style|iframe|object)\b[^>]*>.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")


def neutralise(text: str) -> str:
    """Render markdown links/images and raw HTML as plain text (keep the visible words, drop the fetch)."""
    text = _SCRIPT.sub(" ", text)
    text = _COMMENT.sub(" ", text)
    text = _IMAGE.sub(lambda m: m.group(1).strip(), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    # what is left is unclosed or nested ("![a](http://x... [1]"): break the openers so no renderer links it
    text = text.replace("![", "[").replace("](", "] (")
    text = _REF_DEF.sub("", text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _TAG.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text)


def parse_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence without markers, its marker numbers); marker-only bits are merged."""
    text = _TRAILING.sub(lambda m: m.group(2) + m.group(1), text)
    text = re.sub(r"\n", "\n\n", text)  # every line (list item) is its own sentence block
    out: list[tuple[str, list[int]]] = []
    for s, e in split_sentences(text):
        clean, nums = parse_markers(text[s:e])
        if not re.search(r"\w", clean):
            if out and nums:  # a dangling "[2]" belongs to the sentence before it
                prev, prev_nums = out[-1]
                out[-1] = (prev, list(dict.fromkeys(prev_nums + nums)))
            continue
        out.append((clean, nums))
    return out


@dataclass(frozen=True)
class Verified:
    text: str
    sentences: list[Sentence]
    citations: list[Citation]


class CitationVerifier:
    """Checks and repairs the [n] markers of an answer against the passages it was generated from."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer  # its support scores and threshold decide (rag/reader/scorers.py)
        self.bank: SentenceBank = scorer.bank

    def _holds(self, sent: str, sup: Support, cs: ChunkSentences, context: list[str]) -> bool:
        """Similar is not supported: the best sentence (+ the one it refers back to) must also carry the
        claim's names, numbers, dates and speaker (rag/verify/attribution.py)."""
        return sup.score >= self.scorer.support_threshold and check_sentence(sent, cs.texts, sup.sentence, context).ok

    def verify(self, text: str, passages: list[Passage]) -> Verified:
        parsed = parse_sentences(neutralise(text))
        if not parsed:
            return Verified("", [], [])
        css = self.bank.get([p.chunk for p in passages]) if passages else []
        vecs = self.bank.embed_claims([s for s, _ in parsed])
        context = [cs.chunk.text for cs in css]  # tells names from sentence openers
        chosen = [self._cite(sent, nums, vec, css, context) for (sent, nums), vec in zip(parsed, vecs, strict=True)]
        # renumber cited passages 1..m in order of first use
        new_no: dict[int, int] = {}
        for idxs, _, _ in chosen:
            for j in idxs:
                new_no.setdefault(j, len(new_no) + 1)
        sentences, parts = [], []
        quote_of: dict[int, tuple[float, int]] = {}  # passage -> (best score, sentence index in chunk)
        claims: dict[int, list[tuple[int, int]]] = {}  # passage -> (answer sentence, sentence index in chunk)
        for i, ((sent, _), (idxs, score, sups)) in enumerate(zip(parsed, chosen, strict=True)):
            markers = tuple(new_no[j] for j in idxs)
            sent = inert(sent)  # document words only: a copied "[1]" or "<img>" is never ours (core/untrusted)
            sentences.append(Sentence(text=sent, markers=markers, supported=bool(idxs), support=round(score, 4)))
            parts.append(place_markers(sent, markers))
            for j in idxs:
                s = sups[j]
                claims.setdefault(j, []).append((i, s.sentence))
                if j not in quote_of or s.score > quote_of[j][0]:
                    quote_of[j] = (s.score, s.sentence)
        citations = [_citation(passages[j].chunk, no, css[j].spans[quote_of[j][1]],
                               tuple(_claim(passages[j].chunk, i, css[j].spans[k]) for i, k in claims[j]))
                     for j, no in sorted(new_no.items(), key=lambda kv: kv[1])]
        return Verified(" ".join(parts), sentences, citations)

    def _cite(self, sent: str, nums: list[int], vec, css: list[ChunkSentences], context: list[str]
              ) -> tuple[list[int], float, list[Support]]:
        """The passages (0-based) that support one answer sentence: its own markers that hold, else the best
        passage that does; with the support score and every passage's support."""
        sups = self.scorer.support(sent, vec, css)
        keep = [n for n in nums if 1 <= n <= len(sups) and self._holds(sent, sups[n - 1], css[n - 1], context)]
        if not keep and sups:
            by_score = sorted(range(len(sups)), key=lambda j: -sups[j].score)
            keep = next(([j + 1] for j in by_score if self._holds(sent, sups[j], css[j], context)), [])
        best_score = max((s.score for s in sups), default=0.0)
        score = max((sups[n - 1].score for n in keep), default=best_score)
        return [n - 1 for n in keep], score, sups


def _claim(c: Chunk, sentence: int, quote: tuple[int, int]) -> Claim:
    """Answer sentence `sentence` is supported by the chunk's sentence at `quote` (chunk offsets)."""
    return Claim(sentence=sentence, quote_start=c.start + quote[0], quote_end=c.start + quote[1])


def _citation(c: Chunk, marker: int, quote: tuple[int, int], claims: tuple[Claim, ...] = ()) -> Citation:
    qs, qe = quote
    return Citation(
        marker=marker,
        chunk_id=c.chunk_id,
        doc_id=c.doc_id,
        title=c.title,
        start=c.start,
        end=c.end,
        text=c.text,
        quote_start=c.start + qs,
        quote_end=c.start + qe,
        page=c.page_at(c.start + qs),  # the page of the quoted sentence, not of the chunk
        page_end=c.page_at(c.start + qe - 1),
        claims=claims,
    )
