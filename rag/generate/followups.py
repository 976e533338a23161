"""What a follow-up that asks for more may bring (core.types.FollowUp): sentences the conversation has not
shown, about its subject; for "and then?" the ones right after the last shown sentence, and for a plain
"anything more?" the ones beside a shown sentence, which carry on its point.

`css` are the request passages' sentences (rag.reader.evidence.ChunkSentences: .texts), `cands` the
scorer's candidates (.passage, .sentence, .text), best first."""

from __future__ import annotations

from collections.abc import Sequence

from core.language.names import speaker_chain
from core.types import FollowUp
from rag.reader.scorer import Candidate

_MAX_NEW = 2  # a follow-up asking for more gets at most this many sentences picked by position


def about_subject(follow_up: FollowUp, texts: Sequence[str], i: int) -> bool:
    """Whether sentence i names the follow-up's subject, itself or in the sentences naming who speaks in it
    ('"...," she added.' after "Yun Sun ... said"); always true when the subject is not a name."""
    if not follow_up.names:
        return True
    return any(follow_up.names_in(texts[j]) for j in (i, *speaker_chain(list(texts), i)))


def shown_positions(follow_up: FollowUp, css: Sequence) -> list[list[int]]:
    """For each passage, the indices of the sentences the conversation showed."""
    return [[i for i, text in enumerate(cs.texts) if follow_up.has_shown(text)] for cs in css]


def following(follow_up: FollowUp, css: Sequence, cands: list[Candidate], max_chars: int) -> list[Candidate]:
    """"And then?": the sentences right after the last shown one, in the first passage holding one;
    empty when none follows there."""
    fresh = {(c.passage, c.sentence): c for c in cands}
    for p, shown in enumerate(shown_positions(follow_up, css)):
        out: list[Candidate] = []
        for i in range(shown[-1] + 1 if shown else len(css[p].texts), len(css[p].texts)):
            c = fresh.get((p, i))
            if c is None or len(out) >= _MAX_NEW or sum(len(o.text) for o in [*out, c]) > max_chars:
                break
            out.append(c)
        if out:
            return out
    return []


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
