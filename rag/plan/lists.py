"""The list plan: every item of one kind, gathered from every chunk of the documents in scope.

People quoted, places, numbers and dates come from the same extractors the attribution guard uses (one
source per vocabulary); any other item ("ingredients", "error codes") is gathered as the sentences that
name it. Duplicates are grouped ("Liu" is "Liu Dongshu"), each item keeps its role where the text gives
one ("Edward Howell, a lecturer in politics at the University of Oxford"), and each is cited by the
sentence it comes from. A list of things the documents never mention is an abstention that says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from core.language.names import facts
from core.language.places import country_of, place_pattern
from core.language.terms import fold, term_set
from core.types import Answer, Chunk, Document
from index.sentences import body_sentences
from rag.plan.kinds import normalize_question
from rag.plan.protocol import Library, PlanRequest
from rag.plan.quotes import Quote, abstention, cited_answer
from rag.plan.scope import resolve

MAX_ITEMS = 12
# what a list question asks for, by the words that name its items (checked in this order)
_ITEM_KINDS = (
    ("organisations", re.compile(r"\b(organi[sz]ations?|universit(y|ies)|think tanks?|institutions?|companies|"
                                 r"company|agencies|agency|firms?|groups|departments?|ministries|bodies)\b")),
    ("experts", re.compile(r"\b(experts?|analysts?|scholars?|academics?|specialists?|researchers?|professors?)\b")),
    ("people", re.compile(r"\b(who|people|persons?|speakers?|officials?|quoted|interviewed|names?)\b")),
    ("places", re.compile(r"\b(countries|country|places?|cities|city|nations?|locations?|capitals?)\b")),
    ("dates", re.compile(r"\b(dates?|years?|when|days?|months?)\b")),
    ("numbers", re.compile(r"\b(numbers?|figures?|amounts?|statistics?|percentages?|quantities|costs?)\b")),
)
# the roles that make a quoted person an expert, as news text introduces them
_EXPERT_ROLE = re.compile(r"\b(professor|lecturer|director|analyst|fellow|researcher|expert|scholar|economist|"
                          r"professor|dean|scientist|head of|chair|specialist)\b", re.IGNORECASE)
# the head words of an organisation's name, capitalised in running text
_ORG = re.compile(r"\b(?:[A-Z][\w'-]+\s+){0,4}(?:Trust|Department|Ministry|University|Center|Centre|Institute|"
                  r"Council|Agency|Authority|Commission|Association|Bank|Corporation|Company|Foundation|Office|"
                  r"Party|Program|Programme|Service|Union|Committee|Board|Academy|College|School)"
                  r"(?:\s+of(?:\s+the)?(?:\s+[A-Z][\w-]+){1,4})?")
_ORG_LOWER = re.compile(r"\bthe\s+(?:[a-z]+\s+){0,2}(?:authority|government|municipality|council|ministry|agency|"
                        r"operator|trust|commission)\b")
_YEAR = re.compile(r"\b(?:1[6-9]|20)\d{2}\b")
_ROLE_END = re.compile(r",|\bsaid\b|\bsays\b|\.\s|\.$|;")


@dataclass
class _Item:
    label: str  # what the reader sees: a name with its role, a place, a quantity
    key: str  # what duplicates share
    quote: Quote


_SAYS = re.compile(r"\b(say|says|said|saying|quoted|quotes?|claims?|argues?|told)\b")


def asks_for(question: str) -> str:
    text = normalize_question(question)
    if _SAYS.search(text) and speaker_words(question):
        return "quotes"
    return next((kind for kind, pattern in _ITEM_KINDS if pattern.search(text)), "mentions")


class ListPlan:
    kind = "list"

    def __init__(self, library: Library) -> None:
        self.library = library

    def answer(self, request: PlanRequest) -> Answer:
        infos = [d for d in self.library.documents()
                 if (request.collections is None or d.collection in request.collections)
                 and (not request.doc_ids or d.doc_id in request.doc_ids)]
        docs = {d.doc_id: self.library.document(d.doc_id) for d in infos}
        scope = resolve(request.question, infos, {k: v.text for k, v in docs.items()}, strict=False)
        if not scope.doc_ids:
            return abstention(request.question, f"Your documents never mention “{scope.missing}”.", self.kind)
        what = asks_for(request.question)
        items = [i for doc_id in scope.doc_ids for i in self._items(docs[doc_id], what, request.question)]
        items = _grouped(items)[:MAX_ITEMS]
        if not items:
            return abstention(request.question, "Your documents don't mention any such items.", self.kind)
        return cited_answer(request.question, [("", [_labelled(i) for i in items])], self.kind)

    def _items(self, doc: Document, what: str, question: str) -> Iterator[_Item]:
        for chunk in self.library.chunks_of(doc.doc_id):
            for s, e in body_sentences(doc.text, doc.title, chunk.start, chunk.end):
                quote = Quote(chunk=chunk, start=s, end=e, text=doc.text[s:e])
                yield from _found(quote, what, question, chunk)


def speaker_words(question: str) -> frozenset[str]:
    """The name words of the person a question asks about ("List everything Liu Dongshu said")."""
    # Capitalised words after the first (which is capitalised by position); a word scan, not a regex,
    # so a long run of capitalised words costs linear time
    words = [w.strip(".,;:!?'\"()“”‘’").removesuffix("'s").removesuffix("’s") for w in question.split()[1:]]
    return frozenset(w.lower() for w in words if len(w) > 1 and w[0].isupper() and w[1:].isalpha() and w[1:].islower())


def _found(quote: Quote, what: str, question: str, chunk: Chunk) -> Iterator[_Item]:
    text = quote.text
    if what == "quotes":
        person = speaker_words(question)
        if any(person & set(sp.words) for sp in facts(text).speakers):
            yield _Item(text, text, quote)
    elif what == "organisations":
        for m in (*_ORG.finditer(text), *_ORG_LOWER.finditer(text)):
            name = m.group(0).removeprefix("the ")
            yield _Item(name, name.lower(), quote)
    elif what in ("experts", "people"):
        for sp in facts(text).speakers:
            name = _name_in(text, sp.words)
            if not name or " ".join(sp.words) in country_of():
                continue
            role = _role_after(text, name)
            if what == "experts" and not _EXPERT_ROLE.search(role):
                continue
            yield _Item(f"{name}{role}", sp.words[-1] if len(sp.words) == 1 else " ".join(sp.words), quote)
    elif what == "places":
        for m in place_pattern().finditer(text):
            if m.group(0)[0].isupper():
                country = country_of()[m.group(0).lower()]
                yield _Item(country.title() if country.islower() else country, country, quote)
    elif what in ("numbers", "dates"):
        f = facts(text)
        found = (f.dates | set(_YEAR.findall(text))) if what == "dates" else {str(q) for q in f.quantities}
        for value in sorted(found):
            yield _Item(text, f"{value}", quote)
    else:
        wanted = {t for t in term_set(question) if t not in {fold("mention"), fold("list")}}
        if wanted and len(wanted & term_set(text)) >= max(1, len(wanted) - 1):
            yield _Item(text, text, quote)


def _name_in(text: str, words: tuple[str, ...]) -> str:
    m = re.search(r"\b" + r"\s+".join(re.escape(w) for w in words) + r"\b", text, re.IGNORECASE)
    return m.group(0) if m else ""


def _role_after(text: str, name: str) -> str:
    """", a lecturer in politics at the University of Oxford" when the name is followed by its appositive."""
    at = text.find(name) + len(name)
    if not text[at:].startswith(","):
        return ""
    end = _ROLE_END.search(text, at + 1)
    role = text[at:end.start() if end else len(text)].rstrip(" ,")
    return role if 2 < len(role) < 160 else ""


def _grouped(items: list[_Item]) -> list[_Item]:
    """One item per key; a one-word name joins the longer name it is part of ("Liu" -> "Liu Dongshu"); the
    label with a role wins."""
    out: dict[str, _Item] = {}
    for it in items:
        key = next((k for k in out if it.key != k and it.key in k.split()), it.key)
        have = out.get(key)
        if have is None or ("," in it.label and "," not in have.label):
            out[key] = it if have is None or len(it.key) >= len(have.key) else _Item(it.label, have.key, it.quote)
    return list(out.values())


def _labelled(it: _Item) -> Quote:
    if it.label == it.quote.text:
        return it.quote
    return Quote(chunk=it.quote.chunk, start=it.quote.start, end=it.quote.end, text=it.label)
