"""One reader verdict on one answer, as the record the feedback store keeps.

A record carries everything needed to replay and judge the conversation later, without the session:
the question, the standalone query, the history, the answer with its citations, the retrieved passages
(ids, spans, text), who generated it over which index generation and settings, who said what, and when.
Verdicts are checked against the answer they are about (a marker must be one of its citations, "the
documents do answer this" only applies to an abstention), so a stored verdict always makes sense.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InputError, LimitError, RagError
from core.types import Answer, Turn

# The verdict vocabulary: kind -> what the reader said. One source for the store, CLI, export and UI.
KINDS: dict[str, str] = {
    "thumbs_up": "good answer",
    "thumbs_down": "wrong or unhelpful answer",
    "citation_rejected": "this passage does not support this sentence",
    "documents_answer": "the documents do answer this (the assistant abstained)",
    "not_in_documents": "the documents do not answer this (the assistant answered)",
}
NEGATIVE = ("thumbs_down", "not_in_documents")  # counted as thumbs-down in the signal
MAX_COMMENT = 2000
MAX_EXPECTED = 300
MAX_EVIDENCE = 500
MAX_HISTORY_TURNS = 12
# settings that change no answer: left out of the settings hash
_NOT_HASHED = ("host", "port", "ui_auth", "llm_api_key", "data_dir", "concurrency", "max_queue",
               "feedback_max_bytes", "feedback_keep")


@dataclass(frozen=True)
class Pointer:
    """A passage the reader pointed at (clicked in the viewer): chunk, span in its document, text."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Verdict:
    kind: str
    marker: int | None = None  # citation_rejected: the [n] the reader rejected
    expected: str = ""  # the expected short answer (thumbs_down, documents_answer)
    evidence: str = ""  # a verbatim phrase of the passage that answers (documents_answer, optional)
    pointer: Pointer | None = None  # documents_answer: the passage, when the reader picked one


def _text(value: str | None, limit: int, what: str) -> str:
    text = " ".join((value or "").split())
    if len(text) > limit:
        raise LimitError(f"the {what} is {len(text)} characters; the limit is {limit}. Shorten it.")
    return text


def check_verdict(answer: Answer, verdict: Verdict) -> Verdict:
    """The verdict, cleaned, if it applies to this answer; else InputError saying what would."""
    if verdict.kind not in KINDS:
        raise InputError(f"unknown feedback kind {verdict.kind!r}: use one of {', '.join(KINDS)}")
    expected = _text(verdict.expected, MAX_EXPECTED, "expected answer")
    evidence = _text(verdict.evidence, MAX_EVIDENCE, "evidence phrase")
    if verdict.kind == "citation_rejected":
        markers = [c.marker for c in answer.citations]
        if verdict.marker not in markers:
            raise InputError(f"citation [{verdict.marker}] is not in this answer; its citations are "
                             f"{', '.join(f'[{m}]' for m in markers) or 'none'}")
    if verdict.kind == "documents_answer":
        if not answer.abstained:
            raise InputError("'the documents do answer this' applies to an abstention; this answer was given: "
                             "use thumbs down with the expected answer instead")
        if not expected:
            raise InputError("say what the documents answer: fill in the expected short answer")
    if verdict.kind == "not_in_documents" and answer.abstained:
        raise InputError("the assistant already said the documents do not answer this: use thumbs up to agree")
    if evidence and verdict.pointer is not None and evidence.lower() not in " ".join(verdict.pointer.text.split()).lower():
        raise InputError("the evidence phrase is not in the passage you pointed at: copy it from that passage")
    return Verdict(verdict.kind, verdict.marker, expected, evidence, verdict.pointer)


def settings_hash(public: dict[str, Any]) -> str:
    """Short hash of the settings that shape answers (secrets, ports and paths left out)."""
    kept = {k: v for k, v in sorted(public.items()) if k not in _NOT_HASHED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def describe_index(library: Any) -> tuple[str, str]:
    """(index generation, hash of the document list). The generation comes from the store's manifest when
    there is one; else it is the document-list hash, which changes whenever a document does."""
    docs = sorted((d.doc_id, getattr(d, "content_hash", "")) for d in library.documents())
    doc_hash = hashlib.sha256(json.dumps(docs).encode()).hexdigest()[:12]
    try:
        generation = f"g{int(library.store.manifest.generation)}"
    except (AttributeError, TypeError, ValueError, RagError):  # no manifest: the list hash stands in
        generation = f"docs-{doc_hash}"
    return generation, doc_hash


def new_id(now: datetime) -> str:
    return f"fb-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _answer_dict(answer: Answer) -> dict[str, Any]:
    return {
        "text": answer.text,
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "citations": [{"marker": c.marker, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": c.title,
                       "start": c.start, "end": c.end, "text": c.text, "quote": _quote(c)}
                      for c in answer.citations],
        "sentences": [{"text": s.text, "markers": list(s.markers), "supported": s.supported}
                      for s in answer.sentences],
    }


def _quote(c: Any) -> str:
    """The cited chunk's best-supporting sentence (the part the answer leaned on), else ''."""
    if c.quote_start is None or c.quote_end is None or not c.start <= c.quote_start < c.quote_end <= c.end:
        return ""
    return c.text[c.quote_start - c.start: c.quote_end - c.start]


def build_record(answer: Answer, history: list[Turn], verdict: Verdict, *, comment: str = "",
                 user: str | None = None, conversation: str = "", turn: int = 0,
                 index_generation: str = "", documents_hash: str = "", settings_digest: str = "",
                 now: datetime | None = None) -> dict[str, Any]:
    """The stored record for `verdict` on `answer` (checked: raises InputError when it does not apply)."""
    verdict = check_verdict(answer, verdict)
    now = now or datetime.now(UTC)
    v: dict[str, Any] = {"kind": verdict.kind}
    if verdict.kind == "citation_rejected":
        cited = next(c for c in answer.citations if c.marker == verdict.marker)
        v.update(marker=cited.marker, chunk_id=cited.chunk_id, span=[cited.start, cited.end], quote=_quote(cited),
                 sentences=[s.text for s in answer.sentences if cited.marker in s.markers])
    if verdict.expected:
        v["expected"] = verdict.expected
    if verdict.evidence:
        v["evidence"] = verdict.evidence
    if verdict.pointer is not None:
        p = verdict.pointer
        v["pointer"] = {"chunk_id": p.chunk_id, "doc_id": p.doc_id, "span": [p.start, p.end], "text": p.text}
    return {
        "id": new_id(now),
        "ts": now.isoformat(timespec="seconds"),
        "user": user or None,
        "conversation": conversation,
        "turn": turn,
        "verdict": v,
        "comment": _text(comment, MAX_COMMENT, "comment"),
        "question": answer.question,
        "query": answer.query,
        "history": [{"role": t.role, "content": t.content} for t in history[-MAX_HISTORY_TURNS:]],
        "answer": _answer_dict(answer),
        "retrieved": [{"chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "title": p.chunk.title,
                       "start": p.chunk.start, "end": p.chunk.end, "rank": p.rank, "text": p.chunk.text}
                      for p in answer.retrieved],
        "generator": answer.generator,
        "index_generation": index_generation,
        "documents_hash": documents_hash,
        "settings_hash": settings_digest,
    }
