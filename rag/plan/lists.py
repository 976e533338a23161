"""The list plan: every item of one kind, gathered from every chunk of the documents in scope.

People quoted, places, numbers and dates come from the same extractors the attribution guard uses (one
source per vocabulary); any other item ("ingredients", "error codes") is gathered as the sentences that
name it. Duplicates are grouped ("Liu" is "Liu Dongshu"), each item keeps its role where the text gives
one ("Edward Howell, a lecturer in politics at the University of Oxford"), and each is cited by the
sentence it comes from. A list of things the documents never mention is an abstention that says so.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise

from core.language.names import facts
from core.language.people import lower_case_words, people
from core.language.places import country_of, place_pattern
from core.language.terms import STOPWORDS, fold, term_set
from core.language.words import MONTHS, NUMBER_WORDS, ORGANISATION_WORDS, SPEECH_VERBS, TITLES, WEEKDAYS
from core.types import Answer, Document
from index.sentences import body_sentences
from rag.plan.kinds import normalize_question
from rag.plan.protocol import Library, PlanRequest
from rag.plan.quotes import Quote, abstention, cited_answer
from rag.plan.scope import resolve

MAX_ITEMS = 12
MAX_VALUES = 20  # numbers and dates: one short clause each, so a list may hold more of them
# what a list question asks for, by the words that name its items (checked in this order)
_ITEM_KINDS = (
    ("organisations", re.compile(r"\b(organi[sz]ations?|universit(y|ies)|think tanks?|institutions?|companies|"
                                 r"company|agencies|agency|firms?|groups|departments?|ministries|bodies)\b")),
    ("experts", re.compile(r"\b(experts?|analysts?|scholars?|academics?|specialists?|researchers?|professors?)\b")),
    ("officials", re.compile(r"\b(officials?|politicians?|authorities|leaders?|ministers?|mayors?)\b")),
    ("people", re.compile(r"\b(who|people|persons?|speakers?|quoted|interviewed|names?|individuals?)\b")),
    ("places", re.compile(r"\b(countries|country|places?|cities|city|nations?|locations?|capitals?|regions?)\b")),
    ("dates", re.compile(r"\b(dates?|years?|when|days?|months?|times?)\b")),
    ("numbers", re.compile(r"\b(numbers?|figures?|amounts?|statistics?|stats|percentages?|percents?|quantities|"
                           r"costs?|measurements?|sizes?|distances?|numerical)\b")),
)
_QUOTED = re.compile(r"\b(quoted|quotes?|said|say|says|interviewed|spoke|speak|speaks|speakers?|cited)\b")
_LIST_WORDS = re.compile(r"\b(mention(s|ed)?|named?|given|listed|list|all|every|each|give|gives|provide[sd]?)\b")
_COUNTRIES = re.compile(r"\b(countries|country|nations?)\b")
# the roles that make a quoted person an expert, as news text introduces them
_EXPERT_ROLE = re.compile(r"\b(professor|lecturer|director|analyst|fellow|researcher|expert|scholar|economist|"
                          r"dean|scientist|head of|chair|specialist)\b", re.IGNORECASE)
# the roles of a person who holds public office
_OFFICIAL_ROLE = re.compile(r"\b(mayor|minister|president|official|spokes\w+|governor|secretary|ambassador|"
                            r"senator|commissioner|chancellor|premier|councill?or|leader|deputy|diplomat)\b",
                            re.IGNORECASE)
# what a numbers question may narrow the list to
_UNITS = (
    (re.compile(r"\bpercent(age)?s?\b"), re.compile(r"%|\bper ?cent\b", re.IGNORECASE)),
    (re.compile(r"\b(costs?|money|amounts?|spending|budgets?)\b"),
     re.compile(r"[$€£¥]|\b(dollars?|euros?|pounds|yuan|yen|cost|paid|million|billion)\b", re.IGNORECASE)),
)
# the head words of an organisation's name, capitalised in running text
_ORG = re.compile(r"\b(?:[A-Z][\w'-]+\s+){0,4}(?:Trust|Department|Ministry|University|Center|Centre|Institute|"
                  r"Council|Agency|Authority|Commission|Association|Bank|Corporation|Company|Foundation|Office|"
                  r"Party|Program|Programme|Service|Union|Committee|Board|Academy|College|School)"
                  r"(?:\s+of(?:\s+the)?(?:\s+[A-Z][\w-]+){1,4})?")
_ORG_LOWER = re.compile(r"\bthe\s+(?:[a-z]+\s+){0,2}(?:authority|government|municipality|council|ministry|agency|"
                        r"operator|trust|commission)\b")
_YEAR = re.compile(r"\b(?:1[6-9]|20)\d{2}\b")
_RELATIVE_DATE = re.compile(r"\b(?:\w+ (?:years?|months?|weeks?|days?) (?:ago|earlier|later)|"
                            r"an? (?:year|month|week|day) (?:ago|earlier|later)|(?:\d{1,2}:\d{2}|\d{1,2}) ?[ap]\.m\b)",
                            re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_QUOTE_MARKS = "\"“”«»"
_LOWER_WORD = re.compile(r"[^\W\d_]+")
# number words that state an amount; "one" and "two" are mostly articles of speech ("the two regimes")
_AMOUNT_WORDS = re.compile(r"\b(?:" + "|".join(sorted(NUMBER_WORDS - {"one", "two"})) + r")\b", re.IGNORECASE)
# an appositive that is a clause of its own ("Kim Jong Un, their most crucial partner was watching"), not a role
_NOT_ROLE = re.compile(r"^,\s++(?!who\b).*\b(?:was|were|is|are)\b")  # possessive: one way to split
# cuts are match ends, so a dash needs only a space before it (a lookbehind: no rescan of a space run)
_CLAUSE = re.compile(r",\s+|;\s+|(?<=\s)[—–]\s+")
# a place named after a word of place or motion, as news text names towns that no vocabulary holds
_PLACE_AFTER = re.compile(r"\b(?:in|at|from|near|leaving|to|outside|across)\s+((?:[A-Z][\w'-]+\s){0,2}[A-Z][\w'-]+)")
_ROLE_END = re.compile(r",|\bsaid\b|\bsays\b|\.\s|\.$|;")


_normalized = lru_cache(maxsize=64)(normalize_question)  # asked once per sentence of a long document


@dataclass
class _Item:
    label: str  # what the reader sees: a name with its role, a place, a quantity
    key: str  # what duplicates share
    quote: Quote


_SAYS = re.compile(r"\b(say|says|said|saying|quoted|quotes?|claims?|argues?|told)\b")


def asks_for(question: str, speakers: Container[str] = frozenset()) -> str:
    """The kind of item a list question asks for; "quotes" when it asks what a person in `speakers` (the
    name words of the people the documents quote) said."""
    text = normalize_question(question)
    if _SAYS.search(text) and any(w in speakers for w in speaker_words(question)):
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
        # the words naming the items ("times", "organisations") name no document: "the times in the bridge
        # report" is about the bridge report, whatever else mentions a time
        scope = resolve(_without_item_words(request.question), infos, {k: v.text for k, v in docs.items()},
                        strict=False)
        if not scope.doc_ids:
            return abstention(request.question, f"Your documents never mention “{scope.missing}”.", self.kind)
        what = asks_for(request.question, _AnySpeaker([docs[d].text for d in scope.doc_ids]))
        items = [i for doc_id in scope.doc_ids for i in self._items(docs[doc_id], what, request.question)]
        items = _grouped(items)[:MAX_VALUES if what in ("numbers", "dates") else MAX_ITEMS]
        if not items:
            return abstention(request.question, "Your documents don't mention any such items.", self.kind)
        return cited_answer(request.question, [("", [_labelled(i) for i in items])], self.kind)

    def _items(self, doc: Document, what: str, question: str) -> Iterator[_Item]:
        reading = _Reading(doc.text, question, follows=what in ("experts", "people", "officials", "quotes"))
        seen: set[tuple[int, int]] = set()  # chunks overlap: a sentence they share is read once
        for chunk in self.library.chunks_of(doc.doc_id):
            for s, e in body_sentences(doc.text, doc.title, chunk.start, chunk.end):
                if (s, e) in seen:
                    continue
                seen.add((s, e))
                quote = Quote(chunk=chunk, start=s, end=e, text=doc.text[s:e])
                yield from _found(quote, what, question, reading)
                reading.read(quote)


class _Reading:
    """What a list remembers while it reads a document in order: the people named in the paragraph so far
    (so '"...," she said' is the last one's quote), the words the document writes in lower case."""

    def __init__(self, text: str, question: str, follows: bool = True) -> None:
        self.text, self.follows = text, follows  # follows: who is named (only lists of people and quotes)
        self.quoted = bool(_QUOTED.search(normalize_question(question)))
        self.last: _Item | None = None
        self.paragraph_end = -1
        self.quoting = False  # the sentence before was a quote of the person asked about
        self._seen: tuple[int, list[_Item]] = (-1, [])

    def persons(self, quote: Quote) -> list[_Item]:
        if quote.start > self.paragraph_end:
            self.last = None
            self.paragraph_end = _paragraph_end(self.text, quote.start)
        if self._seen[0] != quote.start:  # asked twice per sentence: for its items, then to follow who is named
            self._seen = (quote.start, [_Item(quote.text[p.start:p.end] + _role_after(quote.text, p.name),
                                              p.name.lower(), quote) for p in people(quote.text, self.common)])
        return self._seen[1]

    @cached_property
    def common(self) -> frozenset[str]:
        return lower_case_words(self.text)

    def read(self, quote: Quote) -> None:
        if not self.follows:
            return
        named = self.persons(quote)
        if named:
            self.last = named[-1]


class _AnySpeaker:
    """The name words of the people these texts quote, read only when a question names someone (reading
    every sentence's speakers costs seconds on a long document)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(w for t in self.texts for s, e in body_sentences(t) for sp in facts(t[s:e]).speakers
                         for w in sp.words)

    def __contains__(self, word: object) -> bool:
        return word in self.words


def _without_item_words(question: str) -> str:
    """The question without the words that name the items it lists, its capitals kept (a name no document
    holds, "Taiwanese", still means nothing is in scope)."""
    text = question
    for pattern in (*(p for _, p in _ITEM_KINDS), _QUOTED, _LIST_WORDS):
        text = re.compile(pattern.pattern, re.IGNORECASE).sub(" ", text)
    return text


def speaker_words(question: str) -> frozenset[str]:
    """The name words of the person a question asks about ("List everything Liu Dongshu said")."""
    # Capitalised words after the first (which is capitalised by position); a word scan, not a regex,
    # so a long run of capitalised words costs linear time
    words = [w.strip(".,;:!?'\"()“”‘’").removesuffix("'s").removesuffix("’s") for w in question.split()[1:]]
    return frozenset(w.lower() for w in words if len(w) > 1 and w[0].isupper() and w[1:].isalpha() and w[1:].islower())


def _found(quote: Quote, what: str, question: str, reading: _Reading) -> Iterator[_Item]:
    text = quote.text
    if what == "quotes":
        person = speaker_words(question)
        f = facts(text)
        own = any(person & set(sp.words) for sp in f.speakers)
        told = not f.speakers and f.pronoun_speaker and reading.last is not None and person & set(reading.last.key.split())
        # a quotation that names no speaker goes on from the one before it ('"Now they will drive past."')
        more = reading.quoting and not f.speakers and not f.pronoun_speaker and text.lstrip().startswith(("\"", "“"))
        reading.quoting = bool(own or told or more)
        if reading.quoting:
            yield _Item(text, text, quote)
    elif what == "organisations":
        for m in (*_ORG.finditer(text), *_ORG_LOWER.finditer(text)):
            name = m.group(0).removeprefix("the ")
            yield _Item(name, name.lower(), quote)
    elif what in ("experts", "people", "officials"):
        for it in _persons(quote, reading):
            if what == "experts" and not _EXPERT_ROLE.search(it.label):
                continue
            if what == "officials" and not _OFFICIAL_ROLE.search(it.label):
                continue
            yield it
    elif what == "places":
        yield from _places(quote, question, reading)
    elif what in ("numbers", "dates"):
        yield from _values(quote, what, question)
    else:
        wanted = {t for t in term_set(question) if t not in {fold("mention"), fold("list")}}
        if wanted and len(wanted & term_set(text)) >= max(1, len(wanted) - 1):
            yield _Item(text, text, quote)


def _persons(quote: Quote, reading: _Reading) -> list[_Item]:
    """The people of a sentence: when the question asks who is quoted, those it quotes (a named speaker, the
    one person named beside a quotation, or the last person named in the paragraph for "she said")."""
    text, named = quote.text, reading.persons(quote)
    if reading.quoted and not _may_quote(text):
        return []  # no quotation mark and no speech verb: nobody is quoted here (and reading its facts costs)
    f = facts(text)
    if not reading.quoted:
        return named + [_one_word(text, sp.words, quote) for sp in f.speakers if len(sp.words) == 1
                        and not _is_place_or_org(sp.words)]
    out = []
    for sp in f.speakers:
        match = next((p for p in named if set(sp.words) <= set(p.key.split())), None)
        if match is None and _is_place_or_org(sp.words):
            match = named[0] if named else None
            if match is None:
                continue
        if match is None and len(sp.words) == 1:
            match = _one_word(text, sp.words, quote)
        if match is not None:
            out.append(match)
    quoting = bool(re.search(r"[\"“”]", text))
    if not out and quoting and named:
        out.append(named[0])
    if not out and f.pronoun_speaker and not named and reading.last is not None:
        out.append(reading.last)
    return out


def _may_quote(text: str) -> bool:
    """A quotation mark, "according to" or a speech verb: a sentence that may quote someone. A word-set
    check: the alternation of 79 verbs searched at every position was a third of a long list's time."""
    if any(c in text for c in _QUOTE_MARKS):
        return True
    low = _LOWER_WORD.findall(text.lower())
    return not SPEECH_VERBS.isdisjoint(low) or any(a == "according" and b == "to" for a, b in pairwise(low))


def _one_word(text: str, words: tuple[str, ...], quote: Quote) -> _Item:
    name = _name_in(text, words) or words[0].title()
    return _Item(f"{name}{_role_after(text, name)}", words[0], quote)


def _is_place_or_org(words: tuple[str, ...]) -> bool:
    return " ".join(words) in country_of() or bool(set(words) & ORGANISATION_WORDS)


def _places(quote: Quote, question: str, reading: _Reading) -> Iterator[_Item]:
    """Countries (a capital counts as its country) or, asked for places, each place as the text names it."""
    text = quote.text
    countries = bool(_COUNTRIES.search(_normalized(question)))
    for m in place_pattern().finditer(text):
        if m.group(0)[0].isupper():
            country = country_of()[m.group(0).lower()]
            label = country.title() if country.islower() else country
            if countries or m.group(0).lower() == country:
                yield _Item(label, country, quote)
            else:
                yield _Item(f"{m.group(0)} ({label})", m.group(0).lower(), quote)
    if countries:
        return
    persons = {w for p in people(text, reading.common) for w in p.name.lower().split()}
    for m in _PLACE_AFTER.finditer(text):
        name = m.group(1)
        low = name.lower().split()
        if (place_pattern().fullmatch(name) or set(low) & (persons | TITLES | MONTHS.keys() | WEEKDAYS)
                or low[0] in STOPWORDS):
            continue
        yield _Item(name, name.lower(), quote)


def _values(quote: Quote, what: str, question: str) -> Iterator[_Item]:
    """One item per clause that states a number (or a date): "the provincial government covered 35 percent"."""
    unit = next((u for asked, u in _UNITS if asked.search(_normalized(question))), None)
    for s, e in _clauses(quote.text):
        clause = quote.text[s:e]
        f = facts(clause)
        if what == "dates":
            found = bool(f.dates or _YEAR.search(clause) or _RELATIVE_DATE.search(clause))
        else:
            found = bool(_DIGIT.search(clause) or _AMOUNT_WORDS.search(clause)) and (unit is None or bool(unit.search(clause)))
        if found:
            yield _Item(clause, f"{quote.start}:{s}", quote)


def _clauses(text: str) -> list[tuple[int, int]]:
    """The clauses of a sentence, split at commas, semicolons and dashes; a short piece joins the clause
    before it (", 84," stays with its name)."""
    cuts = [0, *(m.end() for m in _CLAUSE.finditer(text)), len(text)]
    spans: list[tuple[int, int]] = []
    for a, b in pairwise(cuts):
        if spans and len(text[a:b].split()) < 4:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return [(a, len(text[:b].rstrip(" ,;—–"))) for a, b in spans]


def _paragraph_end(text: str, at: int) -> int:
    end = text.find("\n\n", at)
    return len(text) if end < 0 else end


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
    return role if 2 < len(role) < 160 and not _NOT_ROLE.search(role) else ""


def _grouped(items: list[_Item]) -> list[_Item]:
    """One item per key; a one-word name joins the longer name it is part of ("Liu" -> "Liu Dongshu"),
    wherever that name appears; the label with a role wins."""
    long_keys = [it.key for it in items if " " in it.key]
    out: dict[str, _Item] = {}
    for it in items:
        key = it.key if " " in it.key else next((k for k in long_keys if it.key in k.split()), it.key)
        have = out.get(key)
        if have is None:
            out[key] = it if key == it.key else _Item(next(i.label for i in items if i.key == key), key,
                                                       next(i.quote for i in items if i.key == key))
        elif "," in it.label and "," not in have.label and key == it.key:
            out[key] = it
    return list(out.values())


def _labelled(it: _Item) -> Quote:
    if it.label == it.quote.text:
        return it.quote
    return Quote(chunk=it.quote.chunk, start=it.quote.start, end=it.quote.end, text=it.label)
