"""Follow-ups, read from the conversation: is this question a follow-up, does it ask for more than the
conversation has shown, about whom, and which sentences were shown already.

The one place the follow-up vocabulary lives: the referring words and leads the rewriter carries context
into ("What did she say about China?"), and the cues of a follow-up that asks for more:
  more      "what else", "anything more", "tell me more", "any other reasons?", "did she say anything else?"
  continue  "and then?", "go on", "what happened next?"  (what comes after the shown sentences)
  other     "and the other expert?", "what about Japan?", "and Liu Dongshu?", "and by ferry?"
  end       "how did it turn out in the end?"  (the best of what comes after the shown sentences)
The shown sentences are recovered from the assistant turns' text, so every client (the page, /v1,
LangChain) gets the same behaviour: they all send earlier answers back as text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.language.names import entities
from core.language.terms import content_terms, term_set, words, wordset
from core.language.words import ORGANISATION_WORDS, PLACE_ALIASES, SPEECH_VERBS, TITLES
from core.types import FollowUp, Turn, sentence_key
from index.sentences import split_sentences

PRONOUNS = wordset(
    "he she him her his hers it its they them their theirs this these those there such "
    "former latter same"
)
PERSON_PRONOUNS = wordset("he she him her his hers himself herself")
LEAD = re.compile(r"^\s*(?:(?:what|how)\s+about|and|also|but|so|then|what\s+else|anything\s+else)\b", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:what|how)\s+about\b", re.I)

_MORE = re.compile(
    r"\b(?:what|who|anything|something|nothing|where|how)\s+else\b|\banything\s+(?:more|further)\b"
    r"|\b(?:tell|give|show)\s+me\s+more\b|\bmore\s+(?:about|on|from|details?|info)\b|^\W*more\W*$"
    r"|\bany\s+(?:other|more|further)\b|\bother\s+(?:reasons?|things?|quotes?|points?|details?)\b"
    r"|\b(?:say|said|add|added|mention|mentioned)\s+anything\s+(?:else|more)\b",
    re.I)
_CONTINUE = re.compile(
    r"^\W*(?:and\s+)?then\W*$|\band\s+then\b|^\W*(?:please\s+)?(?:go\s+on|continue|keep\s+going|carry\s+on)\b"
    r"|\bwhat\s+(?:happened|happens|came|comes)\s+(?:next|after|then)\b|\bwhat\s+next\b|^\W*next\W*$",
    re.I)
# "How did it turn out in the end?": the outcome of what the conversation is about, later in the document
# than what was shown; read as such only with a pronoun referring back ("it", "they")
_END = re.compile(r"\bin\s+the\s+end\b|\bturn(?:ed|s)?\s+out\b|\bend(?:ed)?\s+up\b|\beventually\b|\bfinally\b"
                  r"|\boutcome\b", re.I)
# "and by ferry?", "and Liu Dongshu?": a short "and ..." that is not a question of its own ("and why ...?")
_OTHER = re.compile(r"\bthe\s+other\b|^\s*and\s+(?!(?:what|why|how|who|whom|when|where|which|did|does|do|is|are|was|were)\b)"
                    r"[^?.!]{1,40}\?*\s*$", re.I)
_SPOKEN = SPEECH_VERBS | wordset("say quote quoted")
# the words of a follow-up that ask for more rather than name what about ("anything more about the money?")
_ASKING_MORE = wordset("anything something else more further other another go continue next again carry keep going")


def is_follow_up(question: str) -> bool:
    """Refers back to the conversation: a pronoun, a lead ("what about ...", "and ..."), a cue asking for
    more, or a question too short to stand alone."""
    toks = words(question)
    if not toks:
        return False
    if LEAD.match(question) or follow_up_kind(question) or any(t in PRONOUNS for t in toks):
        return True
    if toks[-1] == "that":  # "What about that?", "Why did he do that"
        return True
    return len(content_terms(question)) <= 1


def replaces_topic(question: str) -> bool:
    """"What about Japan?", "And Liu Dongshu?": a new subject in the frame of the previous question."""
    return bool(_WHAT_ABOUT.match(question)) or (question.lstrip().lower().startswith("and ") and bool(entities(question)))


def follow_up_kind(question: str) -> str:
    """"more", "continue", "other", "end", or "" when the question does not ask for more than was shown."""
    for kind, cue in (("continue", _CONTINUE), ("more", _MORE), ("other", _OTHER), ("other", _WHAT_ABOUT)):
        if cue.search(question):
            return kind
    return "end" if _END.search(question) and set(words(question)) & PRONOUNS else ""


def read_follow_up(question: str, history: Sequence[Turn]) -> FollowUp:
    """The follow-up's kind, subject and the sentences the conversation showed (FollowUp() when it does
    not ask for more, or nothing was shown yet)."""
    kind = follow_up_kind(question)
    answers = [t.content for t in history if t.role == "assistant"]
    if not kind or not answers:
        return FollowUp()
    shown = tuple(k for text in answers for s, e in split_sentences(text) if (k := sentence_key(text[s:e])))
    subject, person = _subject(question, history, kind, shown)
    names = _name_words(subject) if person and kind not in ("continue", "end") else frozenset()  # what follows
    # "how did it turn out in the end?" is ranked by itself, rewritten (its referent is what was shown)
    standalone = "" if kind == "end" else _standalone(question, _referent(history),
                                                      subject if person and kind != "other" else "")
    return FollowUp(kind, subject, names, shown, standalone,
                    _topic(question, shown) if not person else "", bool(names) and _asks_said(question, history))


def _asks_said(question: str, history: Sequence[Turn]) -> bool:
    """Whether the follow-up asks for what someone said: a speech verb in it or in the question it follows
    ("What did Liu Dongshu say ...?" then "anything more?"), or "more from X"."""
    return bool(set(words(question)) & (_SPOKEN | {"from"})) or any(set(words(t)) & _SPOKEN for t in _referent(history))


def _topic(question: str, shown: tuple[str, ...]) -> str:
    """What "... about X?" asks about when the shown sentences use X's words ("anything else about the
    lid?" after a sentence on the lid); "" when X is the asker's own word ("the money" after "$214
    million"), a pronoun, or there is no "about"."""
    about = _about(question)
    if not about or set(words(about)) & PRONOUNS:
        return ""
    return about if term_set(about) & term_set(" ".join(shown)) else ""


def with_subject(query: str, follow_up: FollowUp) -> str:
    """The retrieval query of a follow-up asking for more about a named subject, with the subject's name
    when the rewritten query lacks it (the person may be two turns back)."""
    if not follow_up.names or follow_up.names_in(query):
        return query
    return f"{query} {follow_up.subject}"


def _standalone(question: str, referent: list[str], person: str) -> str:
    """The question a follow-up asks more answers to: the conversation's last question that stood alone,
    with the follow-up's new name in place of the old one ("what about Japan?" after "How did South Korea
    react?") or its other words added ("anything more about the money?": + money)."""
    if not referent:
        return question
    base = referent[0]
    if person and not entities(question) and not any(f" {n} " in f" {sentence_key(base)} " for n in _name_words(person)):
        base = f"What did {person} say?"  # "What else did he say?", the person two turns back
    own, old = entities(question), entities(base)
    if own and old and replaces_topic(question):
        return base.replace(old[0], own[0])
    have = set(content_terms(base))
    asked = " ".join(w for w in words(question) if w not in _ASKING_MORE)
    extra = [t for t in content_terms(asked) if t not in have]
    return " ".join([base, *extra])


def _referent(history: Sequence[Turn]) -> list[str]:
    """The user turns the follow-up refers to: the last one, and back while each was itself a follow-up."""
    out: list[str] = []
    for turn in reversed(history):
        if turn.role == "user":
            out.insert(0, turn.content)
            if not is_follow_up(turn.content):
                break
    return out


def _subject(question: str, history: Sequence[Turn], kind: str, shown: tuple[str, ...]) -> tuple[str, bool]:
    """(subject, whether it is a name a new sentence must hold): the question's own name ("what about
    Japan?"); "the other" of the names asked about, the one not shown yet; a person referred to ("she",
    "the minister", "did ... say"); else the topic asked about."""
    own = entities(question)
    if own:
        return own[0], True
    toks = set(words(question))
    referent = _referent(history)
    if kind == "other":
        seen = f" {' '.join(shown)} "
        unseen = [e for t in referent for e in entities(t) if not any(f" {n} " in seen for n in _name_words(e))]
        return (unseen[0], True) if unseen else ("", False)
    spoken = bool(toks & (PERSON_PRONOUNS | _SPOKEN)) or any(set(words(t)) & _SPOKEN for t in referent)
    titled = toks & TITLES
    if (spoken or titled) and (person := _last_person(history, titled)):
        return person, True
    about = _about(question)
    if about and not set(words(about)) & PRONOUNS:
        return about, False
    names = [e for t in reversed(referent) for e in entities(t)]
    return (names[0] if names else ""), False


def _about(question: str) -> str:
    """What "... about X?" ends on ("anything more about the money?": the money); "" when none. String
    operations, not a regex: a lazy pattern anchored at the end backtracked on long input."""
    low = f" {question.lower()}"
    i = low.rfind(" about ")
    if i < 0:
        return ""
    tail = question[i + len(" about ") - 1:].strip().rstrip("?!. ").strip()
    return tail if 2 <= len(tail) <= 40 and all(ch.isalnum() or ch in " '-" for ch in tail) else ""


def _last_person(history: Sequence[Turn], titled: set[str]) -> str:
    """The person the conversation named last (a name of two or more words, not a place or an
    organisation), holding the title asked about when there is one ("the mayor": Mayor Dana Whitcombe)."""
    places = {" ".join(words(f)) for forms in PLACE_ALIASES for f in forms}
    for turn in reversed(history):
        for e in entities(turn.content):
            low = words(e)
            if len(low) < 2 or " ".join(low) in places or set(low) & (ORGANISATION_WORDS | places):
                continue
            if not titled or set(low) & titled:
                return e
    return ""


def _name_words(subject: str) -> frozenset[str]:
    """How a sentence names the subject: a place by any of its names as a phrase ("South Korea": "south
    korea", "seoul", ...), a person by any word of the name after the title ("Liu" for Liu Dongshu)."""
    low = " ".join(words(subject))
    for forms in PLACE_ALIASES:
        if low in forms:
            return frozenset(" ".join(words(f)) for f in forms)
    names = words(subject)
    titled = [i for i, w in enumerate(names) if w in TITLES]  # "Infrastructure Minister Paul Desrosiers"
    return frozenset(w for w in names[titled[-1] + 1 if titled else 0:] if len(w) > 1)
