"""The comparison plan: each side answered on its own, with its own citations, side by side.

"Compare what Yun Sun and Edward Howell say about China's role" becomes two fact questions ("What does
Yun Sun say about China's role?", and the same for Howell), each retrieved, answered and verified by the
fact path. No contrast is written that no cited sentence states: the reader sees both sides' sources.
A side the documents say nothing about is named as such; when neither side is covered, the plan abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from core.types import Answer, Citation, Sentence
from core.untrusted import inert
from rag.plan.protocol import PlanRequest
from rag.plan.quotes import abstention

_SAY = r"(?:say|says|said|think|thinks|feel|feels|argue|argues|views?|position|opinions?|advice)"
_PATTERNS = [
    re.compile(r"^compare\s+(?:what|how)\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)\s+(?P<verb>" + _SAY
               + r")(?:\s+(?:about|on|of|regarding)\s+(?P<topic>.+))?$"),
    re.compile(r"^compare\s+(?P<a>.+?)(?:'s|’s)?\s+(?:and|with|to)\s+(?P<b>.+?)(?:'s|’s)?"
               r"(?:\s+(?:on|about|regarding)\s+(?P<topic>.+))?$"),
    re.compile(r"^(?P<a>.+?)\s+(?:vs\.?|versus)\s+(?P<b>.+?)(?:\s+(?:on|about)\s+(?P<topic>.+?))?"
               r"(?:\s*[-–—:]\s*(?P<rest>.+))?$"),
    re.compile(r"^how (?:does|do|did|is|are|was|were)\s+(?P<a>.+?)\s+(?:differ|compare|different)\s+"
               r"(?:from|with|to|than)\s+(?P<b>.+?)$"),
    re.compile(r"^(?:what are\s+)?(?:the\s+)?differences?\s+between\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)$"),
    re.compile(r"^which (?:\w+ )?(?:is|was)\s+\w+(?:\s+\w+)?,\s+(?P<a>.+?)\s+or\s+(?P<b>.+?)$"),
]
_POSSESSIVE = re.compile(r"(?:'s|’s|')(?=\s|$)")


@dataclass(frozen=True)
class Sides:
    sides: tuple[str, ...]
    topic: str  # what they are compared on ("" when the question names nothing)
    speech: bool  # the question compares what people say


def split_sides(question: str) -> Sides | None:
    """The compared things of a comparison question, or None when it names fewer than two."""
    q = question.strip().rstrip("?.!").strip()
    for p in _PATTERNS:
        m = p.match(q[:160].lower())  # several lazy groups: bounded input keeps the match cheap
        if m:
            a, b = (_original(question, m.group(g)) for g in ("a", "b"))
            topic = _original(question, m.groupdict().get("topic") or "")
            return Sides((a, b), topic, bool(m.groupdict().get("verb")) or bool(re.search(_SAY, q.lower())))
    return None


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
        citations += [replace(c, marker=renumber[c.marker]) for c in a.citations]
        for s in a.sentences:
            marks = tuple(renumber.get(m, m) for m in s.markers)
            sentences.append(replace(s, markers=marks))
            lines.append(f"- {s.text} {''.join(f'[{m}]' for m in marks)}".rstrip())
        retrieved += a.retrieved
    return Answer(question=question, text="\n".join(lines), sentences=sentences, citations=citations,
                  retrieved=retrieved, abstained=False, generator=answers[0][1].generator, plan="comparison")
