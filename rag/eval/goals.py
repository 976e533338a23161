"""Goals of an open answer: what a summary, list or follow-up must contain, since "contains the answer
string" cannot score free-form text.

A case may state its plan kind, key points (each a list of acceptable phrasings), how many must be
covered, a minimum of distinct citations, a maximum length, and that it must not repeat what the
conversation already showed. Parsing raises ValueError with the fix; the suite loader names the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.eval.matching import contains_any, normalize, strip_markers
from rag.plan.kinds import KINDS as PLANS

GOAL_FIELDS = ("plan", "key_points", "min_key_points", "min_citations", "max_chars", "not_repeat")
# an answer sentence shorter than this (in words) may legitimately recur ("Yes.")
_REPEAT_MIN_WORDS = 5


@dataclass(frozen=True)
class Goals:
    plan: str = ""
    key_points: tuple[tuple[str, ...], ...] = ()
    min_key_points: int | None = None
    min_citations: int = 0
    max_chars: int | None = None
    not_repeat: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.plan:
            out["plan"] = self.plan
        if self.key_points:
            out["key_points"] = [list(p) for p in self.key_points]
            out["min_key_points"] = self.needed()
        if self.min_citations:
            out["min_citations"] = self.min_citations
        if self.max_chars is not None:
            out["max_chars"] = self.max_chars
        if self.not_repeat:
            out["not_repeat"] = True
        return out

    def needed(self) -> int:
        return len(self.key_points) if self.min_key_points is None else self.min_key_points


def parse_goals(item: dict[str, Any]) -> Goals:
    """The goal fields of one case; ValueError names the field and the fix."""
    plan = item.get("plan", "")
    if plan and plan not in PLANS:
        raise ValueError(f"field 'plan' is {plan!r}; use one of {', '.join(PLANS)}")
    points = _key_points(item.get("key_points"))
    need = _count(item.get("min_key_points"), "min_key_points")
    if need is not None and need > len(points):
        raise ValueError(f"field 'min_key_points' is {need} but only {len(points)} key points are listed")
    max_chars = _count(item.get("max_chars"), "max_chars")
    not_repeat = item.get("not_repeat", False)
    if not isinstance(not_repeat, bool):
        raise ValueError(f"field 'not_repeat' must be true or false, got {not_repeat!r}")
    return Goals(plan=plan or "", key_points=points, min_key_points=need,
                 min_citations=_count(item.get("min_citations"), "min_citations") or 0,
                 max_chars=max_chars, not_repeat=not_repeat)


def _key_points(value: Any) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("field 'key_points' must be a list of key points, each a list of phrasings")
    points = []
    for i, point in enumerate(value, 1):
        phrasings = point if isinstance(point, list) else [point]
        clean = tuple(str(p).strip() for p in phrasings if isinstance(p, (str, int, float)) and str(p).strip())
        if not clean or len(clean) != len(phrasings):
            raise ValueError(f"field 'key_points' item #{i} must be a non-empty list of non-empty phrasings")
        points.append(clean)
    return tuple(points)


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"field {name!r} must be a whole number >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class GoalScore:
    covered: int  # key points covered
    total: int  # key points listed
    reasons: tuple[str, ...]  # each unmet goal, in words

    @property
    def met(self) -> bool:
        return not self.reasons

    @property
    def share(self) -> float | None:
        return self.covered / self.total if self.total else None


def score_goals(record: dict[str, Any]) -> GoalScore:
    """Check a result record against the goals the runner copied into it (see Goals.to_dict)."""
    answer = record.get("answer", "")
    points = record.get("key_points") or []
    reasons: list[str] = []
    covered = sum(contains_any(strip_markers(answer), p) for p in points) if not record.get("abstained") else 0
    need = record.get("min_key_points", len(points))
    if points and covered < need:
        reasons.append(f"covers {covered} of the {need} key points needed")
    cited = {c.get("marker") for c in record.get("citations") or []}
    if not record.get("abstained") and len(cited) < record.get("min_citations", 0):
        reasons.append(f"{len(cited)} distinct citations, fewer than the {record['min_citations']} asked")
    if record.get("max_chars") is not None and len(answer) > record["max_chars"]:
        reasons.append(f"{len(answer)} characters, over the {record['max_chars']} allowed")
    if record.get("not_repeat") and (repeated := repeats(record)):
        reasons.append(f"repeats what the conversation already showed: {repeated[:80]!r}")
    return GoalScore(covered=covered, total=len(points), reasons=tuple(reasons))


def repeats(record: dict[str, Any]) -> str:
    """The first answer sentence already shown by an assistant turn of the history ("" when none)."""
    shown = " ".join(normalize(strip_markers(t["content"])) for t in record.get("history") or []
                     if t.get("role") == "assistant")
    if not shown:
        return ""
    for s in record.get("sentences") or []:
        text = normalize(strip_markers(s.get("text", "")))
        if len(text.split()) >= _REPEAT_MIN_WORDS and f" {text} " in f" {shown} ":
            return s.get("text", "")
    return ""
