"""Dataclasses that cross stage boundaries: documents and chunks (index), passages and answers (rag).

No LangChain or Chroma object leaves a stage; these do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from core.language.markers import parse_markers
from core.language.terms import term_set, words


@dataclass(frozen=True)
class Document:
    """A cleaned document: the text every chunk span points into."""

    doc_id: str
    title: str
    source: str  # path (or upload name) it was loaded from
    text: str  # cleaned text; Chunk.start/end index into this
    content_hash: str  # sha256 of `text`
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document. Invariant: document.text[start:end] == text."""

    chunk_id: str
    doc_id: str
    title: str
    ordinal: int
    start: int
    end: int
    text: str
    page: int | None = None  # 1-based page where the chunk starts (paged documents: PDF); None otherwise
    page_breaks: tuple[int, ...] = ()  # document offsets inside the chunk where a later page begins

    def page_at(self, offset: int) -> int | None:
        """The page of a document offset inside this chunk (None for a document without pages)."""
        if self.page is None:
            return None
        return self.page + sum(1 for b in self.page_breaks if b <= offset)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score and the per-retriever signals behind it."""

    chunk: Chunk
    score: float  # fused (RRF) score, higher is better
    rank: int  # 1-based rank after fusion
    dense: float | None = None  # cosine similarity to the query, when dense search found it
    lexical: float | None = None  # BM25 score, when keyword search found it


@dataclass(frozen=True)
class Retrieval:
    """A retrieval with the signals the abstention gate needs (computed over all candidates)."""

    passages: list[Passage]
    best_dense: float  # highest cosine among dense candidates (-1 when none)
    best_bm25: float  # highest BM25 score among keyword candidates (0 when none)


@dataclass(frozen=True)
class Claim:
    """One answer sentence that cites a source, and the source sentence that supports that claim."""

    sentence: int  # index into Answer.sentences
    quote_start: int  # span of the supporting sentence inside the document
    quote_end: int


@dataclass(frozen=True)
class Citation:
    """A numbered marker in the answer, pointing at the exact span of a source."""

    marker: int  # the n of "[n]" in the answer text
    chunk_id: str
    doc_id: str
    title: str
    start: int  # span of the cited chunk in the cleaned document text
    end: int
    text: str  # the cited chunk's full text
    quote_start: int | None = None  # span of the best-supporting sentence inside the document
    quote_end: int | None = None
    page: int | None = None  # page where the cited span (the quote, else the chunk) starts; None: no pages
    page_end: int | None = None  # page where it ends (== page unless it crosses a page break)
    # one quote per claim: two answer sentences sharing this marker each keep their own supporting sentence
    # (quote_start/quote_end above stay the best one, for older readers of the record)
    claims: tuple[Claim, ...] = ()

    def claim_for(self, sentence: int | None) -> Claim | None:
        """The claim made by answer sentence `sentence` (None when this citation holds none for it)."""
        return next((c for c in self.claims if c.sentence == sentence), None)


@dataclass(frozen=True)
class Sentence:
    """One answer sentence, its markers after verification, and whether any source supports it."""

    text: str  # without markers
    markers: tuple[int, ...]
    supported: bool
    support: float  # best support score found for it (0..1)


@dataclass
class Answer:
    question: str
    text: str  # final text with verified [n] markers
    sentences: list[Sentence]
    citations: list[Citation]  # only the sources actually cited, numbered in order of first use
    retrieved: list[Passage]
    abstained: bool
    generator: str
    query: str = ""  # the standalone query used for retrieval (after follow-up rewriting)
    abstain_reason: str = ""
    notice: str = ""  # e.g. "remote LLM unreachable, answered extractively"
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    draft: str = ""  # debug: an LLM's raw output, kept when it was shown and when it was replaced
    plan: str = "fact"  # which plan answered (rag.plan.kinds.KINDS): fact, overview, list, ...

    @property
    def unsupported_sentences(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unsupported_sentences"] = self.unsupported_sentences
        return d


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


# ---------------------------------------------------------------- stream events
# A generator yields text pieces (str) and, when it has them, Notice and NoAnswer; the assistant's stream
# yields TextDelta pieces and ends with one Final. Typed, so nobody tells them apart by matching text.


@dataclass(frozen=True)
class TextDelta:
    """A streamed piece of the answer text (markers may still change)."""

    text: str


@dataclass(frozen=True)
class Notice:
    """Something the reader should be told beside the answer ("the answer was cut at ...")."""

    text: str


@dataclass(frozen=True)
class NoAnswer:
    """A generator's whole output when the passages do not answer: the assistant abstains on the type,
    not by matching prose. `text` is what to show ("The sources don't cover this question.")."""

    text: str


@dataclass(frozen=True)
class Final:
    """The last stream event: the verified answer."""

    answer: Answer


# what a generator yields: text pieces, and the typed events above that are not text
Piece = str | Notice | NoAnswer


def text_of(pieces: Iterable[object]) -> str:
    """The text a stream of pieces shows: its text pieces, or a NoAnswer's text; other events skipped."""
    return "".join(p if isinstance(p, str) else p.text for p in pieces if isinstance(p, str | NoAnswer))


# ---------------------------------------------------------------- generation seam
# The one sentence every abstention starts with, whoever decides it (the gate or a generator).
NOT_COVERED = "The sources don't cover this question."
# what a follow-up that asks for more is told when the conversation has shown everything on its subject
NOTHING_MORE = "The documents say nothing more about {subject}."

# a shown sentence of at least this many words is matched by its words; shorter ones ("Yes.") may recur
_SHOWN_MIN_WORDS = 4
_PARAPHRASE_COVER = 0.85  # share of a sentence's content terms one shown sentence must hold to count as it


def sentence_key(text: str) -> str:
    """A sentence as the words it shows: markers removed, lower case, punctuation dropped."""
    return " ".join(words(parse_markers(text)[0]))


@dataclass(frozen=True)
class FollowUp:
    """A follow-up that asks for more than the conversation has shown ("What else did she say?").

    `kind`: "" (not such a follow-up), "more", "continue" ("and then?", "go on": what comes next in the
    document), "end" ("how did it turn out in the end?": the best of what comes later) or "other" ("and
    the other expert?", "what about Japan?"). `subject`: who or what it is about, for the reply that
    nothing more is said. `names`: lower-case name words of which a new sentence
    (or the sentence naming its speaker) must hold one; empty when the subject is not a name. `shown`: the
    sentences the conversation's assistant turns showed, as sentence keys (from their text, so it works
    for every client: the page, /v1 and LangChain all send earlier answers as text)."""

    kind: str = ""
    subject: str = ""
    names: frozenset[str] = frozenset()  # lower-case words or phrases (core.types.sentence_key form)
    shown: tuple[str, ...] = ()
    question: str = ""  # the standalone question it asks more answers to; sentences are ranked by it
    # "anything else about the lid?": the topic a new sentence must be on ("the lid"); set only when a shown
    # sentence uses its words (the documents' own word for it, not the asker's paraphrase)
    topic: str = ""
    said: bool = False  # asks what the named person said ("did she say anything else?", "more from Liu?")

    def found_in(self, text: str) -> bool:
        """Whether a passage holds a sentence the conversation showed (the follow-up's subject is there)."""
        key = f" {sentence_key(text)} "
        return any(len(s.split()) >= _SHOWN_MIN_WORDS and f" {s} " in key for s in self.shown)

    def __bool__(self) -> bool:
        return bool(self.kind)

    def has_shown(self, sentence: str) -> bool:
        """Whether the conversation already showed this document sentence (verbatim, or nearly all its
        content words in one shown sentence: an LLM's light paraphrase)."""
        key = sentence_key(sentence)
        if not key or len(key.split()) < _SHOWN_MIN_WORDS:  # a short one only when shown as it stands
            return len(key.split()) > 1 and key in self.shown
        if f" {key} " in f" {' '.join(self.shown)} ":  # joined: a sentence split elsewhere still matches
            return True
        terms = term_set(key)
        return len(terms) >= _SHOWN_MIN_WORDS and any(
            len(terms & term_set(s)) >= _PARAPHRASE_COVER * len(terms) for s in self.shown)

    def names_in(self, sentence: str) -> bool:
        """Whether the sentence names the subject (one of `names`, as whole words)."""
        key = f" {sentence_key(sentence)} "
        return any(f" {n} " in key for n in self.names)

    def no_answer(self) -> str:
        """The reply when nothing new remains: the documents say nothing more (not the generic abstention)."""
        return NOTHING_MORE.format(subject=self.subject or "this")


@dataclass(frozen=True)
class GenerationRequest:
    """What a generator is asked: the pipeline builds it, generators and the draft policy read it."""

    question: str  # the user's question as asked
    query: str  # the standalone (rewritten) question used for retrieval
    passages: list[Passage]  # evidence, numbered [1]..[n] in this order
    history: list[Turn] = field(default_factory=list)
    max_tokens: int = 256
    follow_up: FollowUp = field(default_factory=FollowUp)  # a follow-up asking for more: what not to repeat

    @property
    def no_answer(self) -> str:
        """What a generator says when the passages do not answer (NoAnswer's text)."""
        return self.follow_up.no_answer() if self.follow_up else NOT_COVERED
