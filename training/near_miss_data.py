"""Near misses made from SQuAD (issue 27, item 2): questions the passages touch but do not settle.

Made from one split's articles (the reader's article split, seed 18: train, val or test, never mixed) with a
fixed seed, from each SQuAD question, its answer sentence and its article:

- entity-swap: a name of the question that its answer sentence holds is replaced by another of the same kind
  (a country of the alias table by another country, else a capitalised name of the same article with as many
  words) that the answer's paragraph never mentions; the pool still holds the old answer sentence;
- answer-removed: the question against its article without the paragraphs holding an answer (the pools the
  reader card already reports);
- type-mismatch: a when / what-year question against its article without the answer, kept only when those
  passages hold other dates (another event's year or month);
- hedged: the answer sentence's verb is hedged ("signed" -> "may have signed"), kept only when the question
  asks about that verb in the past: it asks what happened, the passage says what may have;
- speaker-swap: the answer sentence is given to one person of the article ("X said that ...") and the question
  asks for another's account ("According to Y, ...").

Pools: the gold paragraph (edited for hedged and speaker-swap) first, then the best answer-free paragraphs of
the article, as the retrieval-like pools of training/reader_data.py. Answerable questions keep their own
retrieval-like pools. Nothing here is a model; training/near_miss_eval.py measures the product on them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from core.language.answer_types import wh_type
from core.language.constraints import constraints, stem
from core.language.names import entities, facts, midsentence_caps
from core.language.quantities import DATE, YEAR_MENTION, normalise, tokenize
from core.language.terms import STOPWORDS
from core.language.words import IRREGULAR_VERBS, PLACE_ALIASES, SENTENCE_OPENERS
from core.types import Chunk
from training.reader_data import POOL, Article, Question, answer_sentences, rank_passages

_NAME = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*+")  # "Paul Baran", not "Commission. Since" or "X.25"
KINDS = ("entity-swap", "answer-removed", "type-mismatch", "hedged", "speaker-swap")
SEED = 27


@dataclass(frozen=True)
class Case:
    """A question and the passages it is asked against; `answerable` only for the untouched questions."""

    kind: str  # one of KINDS, or "answerable"
    qid: str
    article: str
    question: str
    chunks: tuple[Chunk, ...]
    answerable: bool = False
    gold: tuple[str, ...] = ()  # answer texts (answerable cases)


def _edited(chunk: Chunk, old: str, new: str) -> Chunk:
    text = chunk.text.replace(old, new, 1)
    return Chunk(chunk.chunk_id + ":edited", chunk.doc_id, chunk.title, chunk.ordinal, 0, len(text), text)


def _answer_free(q: Question, art: Article, k: int = POOL) -> list[Chunk]:
    answers = [a.casefold() for a, _ in q.answers]
    rest = [cs for i, cs in enumerate(art.css)
            if i != q.paragraph and not any(a in cs.chunk.text.casefold() for a in answers)]
    return [rest[i].chunk for i in rank_passages(q, rest, k)] if rest else []


def _gold_sentence(q: Question, art: Article) -> str:
    cs = art.css[q.paragraph]
    gold = sorted(answer_sentences(cs, q.answers))
    return cs.texts[gold[0]] if gold else ""


def _names_of(art: Article) -> list[str]:
    """Capitalised names of the article: runs of two or more, or one word it also capitalises mid-sentence
    (not "Engineers" opening a sentence)."""
    text = " ".join(c.text for c in art.chunks)
    known = midsentence_caps(text)
    return [e for e in entities(text) if _NAME.fullmatch(e) and (" " in e or e.lower() in known)
            and not any(w.lower() in STOPWORDS or w.lower() in SENTENCE_OPENERS for w in e.split())]


def _places_in(text: str) -> set[int]:
    low = text.lower()
    return {g for g, forms in enumerate(PLACE_ALIASES) if any(re.search(rf"\b{re.escape(f)}\b", low) for f in forms)}


def entity_swap(q: Question, art: Article, rng: random.Random) -> Case | None:
    sentence, paragraph = _gold_sentence(q, art), art.chunks[q.paragraph].text
    names = [n for n in constraints(q.text).names if n.text.lower() in sentence.lower()]
    if not sentence or not names:
        return None
    name = rng.choice(names)
    if name.groups and not name.words:  # a country: another country the paragraph never mentions
        taken = _places_in(paragraph)
        pool = [PLACE_ALIASES[g][0].title() for g in range(len(PLACE_ALIASES)) if g not in taken]
    else:
        size = len(name.text.split())
        pool = [e for e in _names_of(art)
                if len(e.split()) == size and e.lower() not in paragraph.lower()
                and not set(e.lower().split()) & set(name.text.lower().split())]
    if not pool:
        return None
    swapped = q.text.replace(name.text, rng.choice(sorted(pool)), 1)
    return Case("entity-swap", q.qid, art.title, swapped, (art.chunks[q.paragraph], *_answer_free(q, art, POOL - 1)))


def answer_removed(q: Question, art: Article) -> Case | None:
    chunks = _answer_free(q, art)
    return Case("answer-removed", q.qid, art.title, q.text, tuple(chunks)) if chunks else None


def type_mismatch(q: Question, art: Article) -> Case | None:
    if wh_type(q.text) != "when" or not any(YEAR_MENTION.search(a) or DATE.search(a) for a, _ in q.answers):
        return None
    chunks = [c for c in _answer_free(q, art, len(art.chunks)) if YEAR_MENTION.search(c.text) or DATE.search(c.text)]
    return Case("type-mismatch", q.qid, art.title, q.text, tuple(chunks[:POOL])) if chunks else None


def _past_verb(sentence: str, asked: set[str]) -> str:
    """The first past-tense word of the sentence whose stem the question asks about ("signed", "sent")."""
    for t in tokenize(normalise(sentence))[1:]:
        past = t.low in IRREGULAR_VERBS or (t.low.endswith("ed") and len(t.low) > 4)
        if past and not t.cap and stem(t.low) in asked:
            return t.text
    return ""


def hedged(q: Question, art: Article) -> Case | None:
    c = constraints(q.text)
    sentence = _gold_sentence(q, art)
    verb = _past_verb(sentence, set(c.terms)) if c.actual and sentence else ""
    if not verb:
        return None
    hedged_sentence = re.sub(rf"\b{re.escape(verb)}\b", f"may have {verb}", sentence, count=1)
    gold = _edited(art.chunks[q.paragraph], sentence, hedged_sentence)
    return Case("hedged", q.qid, art.title, q.text, (gold, *_answer_free(q, art, POOL - 1)))


def speaker_swap(q: Question, art: Article, rng: random.Random) -> Case | None:
    sentence = _gold_sentence(q, art)
    people = sorted({e for e in _names_of(art)
                     if len(e.split()) == 2 and "'" not in e and not facts(e).quantities and e.lower() not in q.text.lower()
                     and not _places_in(e)})
    if not sentence or len(people) < 2 or facts(sentence).speakers:
        return None
    said, asked = rng.sample(people, 2)
    quoted = f"{said} said that {sentence[0].lower()}{sentence[1:]}"
    gold = _edited(art.chunks[q.paragraph], sentence, quoted)
    question = f"According to {asked}, {q.text[0].lower()}{q.text[1:]}"
    return Case("speaker-swap", q.qid, art.title, question, (gold, *_answer_free(q, art, POOL - 1)))


def answerable(q: Question, art: Article) -> Case:
    chunks = tuple(art.chunks[i] for i in rank_passages(q, art.css))
    return Case("answerable", q.qid, art.title, q.text, chunks, True, tuple(a for a, _ in q.answers))


def cases(articles: list[Article], *, every: int = 1, seed: int = SEED) -> list[Case]:
    """Every kind for every `every`-th question of these articles (one split), and the answerable ones."""
    rng = random.Random(seed)
    out: list[Case] = []
    for art in articles:
        for n, q in enumerate(art.questions):
            if q.paragraph < 0 or n % every:
                continue
            made = (entity_swap(q, art, rng), answer_removed(q, art), type_mismatch(q, art), hedged(q, art),
                    speaker_swap(q, art, rng), answerable(q, art))
            out += [c for c in made if c is not None]
    return out
