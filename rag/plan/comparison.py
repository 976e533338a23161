"""The comparison plan: each side answered on its own, with its own citations, side by side.

"Compare what Yun Sun and Edward Howell say about China's role" becomes two fact questions ("What does
Yun Sun say about China's role?", and the same for Howell), each retrieved, answered and verified by the
fact path. No contrast is written that no cited sentence states: the reader sees both sides' sources.
A side the documents say nothing about is named as such; when neither side is covered, the plan abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from core.language.terms import wordset
from core.language.words import SPEECH_VERBS
from core.types import Answer, Citation, Sentence
from core.untrusted import inert
from rag.plan.protocol import PlanRequest
from rag.plan.quotes import abstention

# words after which a comparison names what people say; plain word sets, so parsing is string work
_SAY = SPEECH_VERBS | wordset("argue think thinks feel feels view views position opinion opinions advice")
_TOPIC = (" about ", " on ", " regarding ", " of ")
_JOIN = (" and ", " with ", " to ")
_VERSUS = (" vs. ", " vs ", " versus ")
_DIFFER = (" differ from ", " differ with ", " compare with ", " compare to ", " different from ",
           " different than ", " compared with ", " compared to ")
_AUX = ("how does ", "how do ", "how did ", "how is ", "how are ", "how was ", "how were ")
_POSSESSIVE = re.compile(r"(?:'s|’s|')(?=\s|$)")


@dataclass(frozen=True)
class Sides:
    sides: tuple[str, ...]
    topic: str  # what they are compared on ("" when the question names nothing)
    speech: bool  # the question compares what people say


def split_sides(question: str) -> Sides | None:
    """The compared things of a comparison question, or None when it names fewer than two. String work
    only (no backtracking), on at most 300 characters."""
    q = question.strip().rstrip("?.!").strip()[:300]
    low = q.lower()
    found = _compare_what(low) or _compare(low) or _versus(low) or _differ(low) or _between(low) or _which(low)
    if found is None:
        return None
    a, b, topic, speech = found
    a, b, topic = (_original(q, x) for x in (a, b, topic))
    if not a or not b:
        return None
    return Sides((a, b), topic, speech or bool(_SAY & set(low.split())))


def _split_topic(text: str) -> tuple[str, str]:
    at = min((i for t in _TOPIC if (i := text.find(t)) > 0), default=-1)
    return (text, "") if at < 0 else (text[:at], text[at:].split(" ", 2)[2] if text[at:].count(" ") >= 2 else "")


def _compare_what(low: str) -> tuple[str, str, str, bool] | None:
    for head in ("compare what ", "compare how "):
        if low.startswith(head) and " and " in low:
            a, rest = low[len(head):].split(" and ", 1)
            words = rest.split()
            verb = next((i for i, w in enumerate(words) if w in _SAY), None)
            if verb:
                b, topic = " ".join(words[:verb]), _split_topic(" " + " ".join(words[verb:]))[1]
                return a, b, topic, True
    return None


def _compare(low: str) -> tuple[str, str, str, bool] | None:
    if not low.startswith("compare "):
        return None
    rest = low[len("compare "):]
    at = min(((i, j) for j in _JOIN if (i := rest.find(j)) > 0), default=None)
    if at is None:
        return None
    b, topic = _split_topic(rest[at[0] + len(at[1]):])
    return rest[:at[0]], b, topic, False


def _versus(low: str) -> tuple[str, str, str, bool] | None:
    sep = next((v for v in _VERSUS if v in low), None)
    if sep is None:
        return None
    a, rest = low.split(sep, 1)
    rest = rest.split(" - ", 1)[0].split(" — ", 1)[0].split(": ", 1)[0]
    b, topic = _split_topic(rest)
    return a, b, topic, False


def _differ(low: str) -> tuple[str, str, str, bool] | None:
    head = next((h for h in _AUX if low.startswith(h)), None)
    sep = next((d for d in _DIFFER if d in low), None)
    if head is None or sep is None:
        return None
    a, b = low[len(head):].split(sep, 1)
    return a, b, "", False


def _between(low: str) -> tuple[str, str, str, bool] | None:
    at = low.find("differences between ") if "differences between " in low else low.find("difference between ")
    if at < 0 or " and " not in low[at:]:
        return None
    a, b = low[at:].split("between ", 1)[1].split(" and ", 1)
    return a, b, "", False


def _which(low: str) -> tuple[str, str, str, bool] | None:
    if not low.startswith("which ") or ", " not in low:
        return None
    tail = low.split(", ", 1)[1]
    return (*tail.split(" or ", 1), "", False) if " or " in tail else None


def _original(question: str, lowered: str) -> str:
    """The span of `question` that `lowered` came from, so names keep their capitals."""
    if not lowered:
        return ""
    at = question.lower().find(lowered)
    text = question[at:at + len(lowered)] if at >= 0 else lowered
    return _POSSESSIVE.sub("", text).strip(" ,")


def side_question(side: str, sides: Sides) -> str:
    if sides.speech:
        return f"What does {side} say{' about ' + sides.topic if sides.topic else ''}?"
    return f"What about {side}{' and ' + sides.topic if sides.topic else ''}?"


class ComparisonPlan:
    kind = "comparison"

    def answer(self, request: PlanRequest) -> Answer:
        if request.fact is None:
            raise ValueError("a comparison needs the fact path (PlanRequest.fact)")
        sides = split_sides(request.question)
        if sides is None:
            return replace(request.fact(request.question), plan=self.kind)
        answers = [(side, request.fact(side_question(side, sides))) for side in sides.sides]
        if all(a.abstained for _, a in answers):
            names = " or ".join(f"“{inert(s)}”" for s in sides.sides)
            return abstention(request.question, f"Your documents don't say enough about {names} to compare them.",
                              self.kind)
        return _side_by_side(request.question, answers)


def _side_by_side(question: str, answers: list[tuple[str, Answer]]) -> Answer:
    lines: list[str] = []
    sentences: list[Sentence] = []
    citations: list[Citation] = []
    retrieved = []
    for side, a in answers:
        lines.append(f"**{inert(side)}**")
        if a.abstained:
            lines.append(f"- Your documents say nothing about {inert(side)} on this.")
            continue
        shift = len(citations)
        renumber = {c.marker: c.marker + shift for c in a.citations}
        first = len(sentences)  # each claim names its sentence: counted in the merged answer from here on
        citations += [replace(c, marker=renumber[c.marker],
                              claims=tuple(replace(k, sentence=k.sentence + first) for k in c.claims))
                      for c in a.citations]
        for s in a.sentences:
            marks = tuple(renumber.get(m, m) for m in s.markers)
            sentences.append(replace(s, markers=marks))
            lines.append(f"- {s.text} {''.join(f'[{m}]' for m in marks)}".rstrip())
        retrieved += a.retrieved
    return Answer(question=question, text="\n".join(lines), sentences=sentences, citations=citations,
                  retrieved=retrieved, abstained=False, generator=answers[0][1].generator, plan="comparison")
