"""Chunk: paragraph- and sentence-aware passages with exact character spans into the cleaned text.

Chunks grow sentence by sentence up to `size` characters and end at a paragraph end when the next
paragraph would not fit whole. When a
chunk has to end inside a paragraph, the next one repeats up to `overlap` characters of trailing sentences
so that no statement loses its context. Paragraph breaks are natural topic breaks and get no overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import IngestError
from core.types import Chunk, Document
from index.pages import chunk_pages
from index.sentences import split_sentences

_PARA_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class ChunkerConfig:
    size: int = 700
    overlap: int = 150

    def as_dict(self) -> dict:
        return {"chunker": "sentence-paragraph-v1", "size": self.size, "overlap": self.overlap}


def _units(text: str, size: int) -> list[tuple[int, int, bool]]:
    """Sentence spans, with over-long sentences hard-split at spaces; flag = ends a paragraph."""
    text_end = len(text.rstrip())
    para_ends = {m.start() for m in _PARA_BREAK.finditer(text)} | {text_end}
    out: list[tuple[int, int, bool]] = []
    for s, e in split_sentences(text):
        while e - s > size:
            cut = text.rfind(" ", s + size // 2, s + size)
            cut = cut if cut > s else s + size
            out.append((s, cut, False))
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if e > s:
            # a sentence ends its paragraph when only whitespace separates it from a paragraph break
            # count in place: slicing text[e:] per sentence made chunking quadratic in the document length
            tail = 0
            while e + tail < len(text) and text[e + tail] in " \t":
                tail += 1
            out.append((s, e, (e + tail) in para_ends or e >= text_end))
    return out


def chunk_spans(text: str, cfg: ChunkerConfig) -> list[tuple[int, int]]:
    units = _units(text, cfg.size)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        start = units[i][0]
        j = i
        # take sentences while they fit; at a paragraph end, stop if the whole next paragraph would not fit
        # (unless this chunk is still small), so chunks split between paragraphs rather than inside them
        while j + 1 < len(units) and units[j + 1][1] - start <= cfg.size:
            if units[j][2] and units[j][1] - start >= cfg.size // 4:
                p = j + 1
                while p < len(units) - 1 and not units[p][2]:
                    p += 1
                if units[p][1] - start > cfg.size:
                    break
            j += 1
        spans.append((start, units[j][1]))
        nxt = j + 1
        if nxt < len(units) and not units[j][2] and cfg.overlap > 0:
            # mid-paragraph split: back up over trailing sentences that fit in the overlap budget
            k = j
            while k > i and units[j][1] - units[k][0] <= cfg.overlap:
                k -= 1
            if k < j and units[j][1] - units[k + 1][0] <= cfg.overlap:
                nxt = k + 1
        i = max(nxt, i + 1)
    return spans


DEFAULT_MAX_CHUNKS = 5_000  # core.settings.Settings.max_document_chunks


def check_chunks(n: int, max_chunks: int, name: str) -> None:
    """Refuse a document of more than `max_chunks` chunks before any of them is embedded."""
    if n > max_chunks:
        raise IngestError(name, f"makes {n:,} chunks, over the limit of {max_chunks:,} chunks per document "
                          "(setting max_document_chunks)",
                          "Split it into smaller files and add them one at a time, or raise RAG_MAX_DOCUMENT_CHUNKS")


def chunk_document(doc: Document, cfg: ChunkerConfig) -> list[Chunk]:
    starts = doc.meta.get("page_starts")
    return [
        Chunk(
            chunk_id=f"{doc.doc_id}::{doc.content_hash[:12]}::{n:05d}",
            doc_id=doc.doc_id,
            title=doc.title,
            ordinal=n,
            start=s,
            end=e,
            text=doc.text[s:e],
            **chunk_pages(starts, s, e),
        )
        for n, (s, e) in enumerate(chunk_spans(doc.text, cfg))
    ]
