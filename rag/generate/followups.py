"""What a follow-up that asks for more may bring (core.types.FollowUp): sentences the conversation has not
shown, about its subject; for "and then?" the ones right after the last shown sentence (in a thread, the
next post), and for a plain "anything more?" the ones beside a shown sentence, which carry on its point.

Who a sentence is about: its names, the sentences naming who speaks in it ('"...," she added.'), and in a
forum thread or a review the author of its post (core.language.authors.author_line: "Reply from
trailrat_kim:"), so "did kim say anything else?" brings only kim's lines, "and Dave?" DialedIn_Dave's,
"anything more from the physio?" the lines of the reply signed "(physio, ...)", and "the other reviewer"
the lines of a review the conversation has not shown. Author lines are fields, never an answer sentence.
"anything else about the lid?" after a sentence on the lid keeps to sentences on the lid.

`css` are the request passages' sentences (rag.reader.evidence.ChunkSentences: .texts, .chunk), `cands`
the scorer's candidates (.passage, .sentence, .text), best first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.language.authors import Author, author_line, authors_of
from core.language.names import facts, speaker_chain
from core.language.terms import term_set, words
from core.types import FollowUp
from rag.reader.scorer import Candidate

QUOTED = re.compile(r"[\"“][^\"“”]*[\"”]")  # a quotation: what is said, not who says it
_MAX_NEW = 2  # a follow-up asking for more gets at most this many sentences picked by position


@dataclass(frozen=True)
class Scope:
    """Who a follow-up's new sentences must come from, read from the passages: `authors[p][i]` is the
    author of passage p's sentence i (None outside a post); `asked` the authors the question calls by name
    or role; `others` true when it asks for "the other" author than those the conversation showed."""

    authors: list[list[Author | None]]
    asked: frozenset[str] = frozenset()
    shown: frozenset[str] = frozenset()
    others: bool = False

    @property
    def by_author(self) -> bool:
        return bool(self.asked) or self.others

    def keeps(self, p: int, i: int) -> bool:
        """Whether sentence i of passage p comes from the author(s) the follow-up asks about."""
        who = self.authors[p][i]
        if self.asked:
            return who is not None and who.name in self.asked
        return who is not None and who.name not in self.shown


def scope_of(follow_up: FollowUp, question: str, css: Sequence) -> Scope:
    """The authors of the passages' sentences, and which of them the follow-up asks about."""
    authors = [authors_of(cs.texts) for cs in css]
    asked_words = set(words(question))
    named = {a.name for row in authors for a in row if a is not None and asked_words & a.called()}
    shown = {a.name for p, row in enumerate(shown_positions(follow_up, css)) for i in row
             if (a := authors[p][i]) is not None}
    if follow_up.kind == "other" and shown and named <= shown:  # "the other reviewer", not one shown already
        return Scope(authors, frozenset(), frozenset(shown), others=True)
    if follow_up.kind in ("continue", "end"):
        named = set()
    return Scope(authors, frozenset(named), frozenset(shown))


def keeps(follow_up: FollowUp, scope: Scope, css: Sequence, p: int, i: int) -> bool:
    """Whether sentence i of passage p may answer the follow-up: not shown, not an author line, about its
    subject (its author, its names, its topic); "and then?" takes what follows, whoever it is about."""
    text = css[p].texts[i]
    if follow_up.has_shown(text) or author_line(text) is not None:
        return False
    if follow_up.kind in ("continue", "end"):
        return True
    if scope.by_author:
        return scope.keeps(p, i)
    return on_topic(follow_up, text) and about_subject(follow_up, css[p].texts, i)


def on_topic(follow_up: FollowUp, text: str) -> bool:
    """Whether a sentence is on the follow-up's topic, in the documents' own words (the shown sentence used
    them: "the lid"); always true when the follow-up names no topic. By words, not by embedding: MiniLM puts
    every sentence of a boots review near "the laces"."""
    return not follow_up.topic or bool(term_set(follow_up.topic) & term_set(text))


def about_subject(follow_up: FollowUp, texts: Sequence[str], i: int) -> bool:
    """Whether sentence i names the follow-up's subject, itself or in the sentences naming who speaks in it
    ('"...," she added.' after "Yun Sun ... said"); for a follow-up asking what the subject said, whether
    the subject says it (said_by); always true when the subject is not a name."""
    if not follow_up.names:
        return True
    if follow_up.said:
        return said_by(follow_up, texts, i)
    return any(follow_up.names_in(texts[j]) for j in (i, *speaker_chain(list(texts), i)))


def said_by(follow_up: FollowUp, texts: Sequence[str], i: int) -> bool:
    """Whether the follow-up's subject says sentence i: at the first sentence of its speaker chain that names
    a speaker (core.language.names.facts: "said Liu Dongshu"; '"...," he added.' reaches back), the speaker
    is the subject or the subject is named outside the quotes ("Marta Okafor of the Trust said ...");
    with no speaker named, the subject is named there. False for somebody else's quote that names the
    subject ('"Liu is wrong," said Yun Sun.' is not Liu's)."""
    chain = (i, *speaker_chain(list(texts), i))
    for j in chain:
        named = facts(texts[j]).speakers
        if named:
            return any(follow_up.names_in(str(s)) for s in named) or follow_up.names_in(QUOTED.sub(" ", texts[j]))
    return any(follow_up.names_in(texts[j]) for j in chain)


def shown_positions(follow_up: FollowUp, css: Sequence) -> list[list[int]]:
    """For each passage, the indices of the sentences the conversation showed."""
    return [[i for i, text in enumerate(cs.texts) if follow_up.has_shown(text)] for cs in css]


def _document_order(css: Sequence, p: int) -> list[int]:
    """Passage p and the passages after it in its document, chunk by chunk, as far as they run on."""
    at = {(cs.chunk.doc_id, cs.chunk.ordinal): q for q, cs in enumerate(css)}
    chunk, out = css[p].chunk, [p]
    while (nxt := at.get((chunk.doc_id, chunk.ordinal + len(out)))) is not None:
        out.append(nxt)
    return out


def following(follow_up: FollowUp, scope: Scope, css: Sequence, cands: list[Candidate],
              max_chars: int) -> list[Candidate]:
    """"And then?": the sentences right after the last shown one, in document order across the passages
    (in a thread, the next post's first sentences: what happened next); empty when none follows."""
    fresh = {(c.passage, c.sentence): c for c in cands}
    for p, here in enumerate(shown_positions(follow_up, css)):
        if not here:
            continue
        after = [(q, i) for q in _document_order(css, p)
                 for i in range(here[-1] + 1 if q == p else 0, len(css[q].texts))]
        if scope.authors[p][here[-1]] is not None:  # a post: the rest of it is more of the same, the reply next
            turn = next((n for n, (q, i) in enumerate(after) if author_line(css[q].texts[i])), 0)
            after = after[turn:]
        out = _run(after, fresh, max_chars)
        if out:
            return out
    return []


def later(follow_up: FollowUp, css: Sequence, cands: list[Candidate]) -> list[Candidate]:
    """"How did it turn out in the end?": the candidates after the last shown sentence in its document
    (best first, as ranked); empty when no passage holds a shown sentence."""
    for p, here in enumerate(shown_positions(follow_up, css)):
        if here:
            order = {q: n for n, q in enumerate(_document_order(css, p))}
            return [c for c in cands if c.passage in order and (c.passage != p or c.sentence > here[-1])]
    return []


def _run(after: list[tuple[int, int]], fresh: dict, max_chars: int) -> list[Candidate]:
    """The first sentences of `after` that may answer (shown ones and author lines skipped), while they
    run on, at most _MAX_NEW and max_chars."""
    out: list[Candidate] = []
    for key in after:
        c = fresh.get(key)
        if c is None:
            if out:
                break
            continue
        if len(out) >= _MAX_NEW or sum(len(o.text) for o in [*out, c]) > max_chars:
            break
        out.append(c)
    return out


def beside_shown(follow_up: FollowUp, css: Sequence, cands: list[Candidate], max_chars: int) -> list[Candidate]:
    """"Anything more?" with no name to follow: the best unshown sentences next to a shown one (the same
    passage, one sentence before or after), in source order; empty when no shown sentence was retrieved."""
    shown = shown_positions(follow_up, css)
    near = [c for c in cands if any(abs(c.sentence - i) == 1 for i in shown[c.passage])]
    out: list[Candidate] = []
    for c in near[:_MAX_NEW]:
        if sum(len(o.text) for o in [*out, c]) <= max_chars:
            out.append(c)
    return sorted(out, key=lambda c: (c.passage, c.sentence))


def naming(cands: list[Candidate], max_chars: int, redundancy: float) -> list[Candidate]:
    """A follow-up about a named subject ("What else did she say?", "what about Japan?"): the best
    sentences naming it (the candidates are filtered to those), each saying something new, in source order.
    No score floor: the sentence the conversation showed took most of the score, and the name is the evidence."""
    out: list[Candidate] = []
    for c in cands:
        if len(out) >= _MAX_NEW:
            break
        if sum(len(o.text) for o in [*out, c]) > max_chars or any(float(c.vec @ o.vec) >= redundancy for o in out):
            continue
        out.append(c)
    return sorted(out, key=lambda c: (c.passage, c.sentence))
