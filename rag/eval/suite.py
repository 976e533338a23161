"""Evaluation suites: YAML (name + cases) or JSONL (one case per line), validated strictly.

A suite is user-written data, so every problem is reported with the file, the case and the field, and
with the fix. Unknown fields are errors rather than being ignored: a misspelt `answerable` silently
turning an unanswerable case into an answerable one would corrupt every abstention score.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import InputError
from core.types import Turn
from rag.eval.goals import GOAL_FIELDS, Goals, parse_goals

CASE_FIELDS = ("id", "question", "answers", "evidence", "history", "answerable", "tags",
               "forbidden_citations", "feedback_ids", *GOAL_FIELDS)
SUITE_FIELDS = ("name", "description", "cases")
ROLES = ("user", "assistant")


class SuiteError(InputError):
    """A suite file cannot be read or one of its cases is malformed."""


@dataclass(frozen=True)
class SuiteLimits:
    """Bounds on an uploaded suite: a suite is user data and must not fill memory or hold the LLM for hours."""

    max_bytes: int = 1024 * 1024
    max_cases: int = 500
    max_field_chars: int = 4000  # question, each answer/evidence/tag item, each history turn, name, description
    max_items: int = 50  # answers, evidence, tags or history turns per case

    @classmethod
    def from_settings(cls, settings: Any) -> SuiteLimits:
        return cls(max_bytes=settings.max_suite_bytes, max_cases=settings.max_suite_cases,
                   max_field_chars=settings.max_suite_field_chars)


class _AliasRefused(yaml.MarkedYAMLError):
    pass


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors and aliases: "&a [*b, *b, ...]" nine levels deep is 600 bytes that expand
    to gigabytes once anything walks it. Suites never need them, so both are refused outright."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _AliasRefused(problem="anchor or alias", problem_mark=event.start_mark)
        return super().compose_node(parent, index)


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    history: tuple[Turn, ...] = ()
    answerable: bool = True
    tags: tuple[str, ...] = ()
    # chunk ids ("doc::hash::00003") or verbatim passage phrases that must not be cited (reader feedback)
    forbidden_citations: tuple[str, ...] = ()
    feedback_ids: tuple[str, ...] = ()  # the feedback records this case came from (rag.feedback)
    goals: Goals = field(default_factory=Goals)  # what an open answer must hold: key points, citations, length, no repeats

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "evidence": list(self.evidence),
            "history": [{"role": t.role, "content": t.content} for t in self.history],
            "answerable": self.answerable,
            "tags": list(self.tags),
            **({"forbidden_citations": list(self.forbidden_citations)} if self.forbidden_citations else {}),
            **({"feedback_ids": list(self.feedback_ids)} if self.feedback_ids else {}),
            **self.goals.to_dict(),
        }


@dataclass(frozen=True)
class Suite:
    name: str
    cases: tuple[Case, ...]
    path: str = ""
    description: str = ""

    def all_tags(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.cases:
            for t in c.tags:
                seen.setdefault(t, None)
        return list(seen)


def load_suite(path: str | Path, limits: SuiteLimits | None = None) -> Suite:
    """Read and validate a .yaml/.yml or .jsonl suite (size checked before reading)."""
    p = Path(path)
    limits = limits or SuiteLimits()
    if not p.is_file():
        raise SuiteError(f"suite {p} does not exist: check the path (bundled suites are in suites/)")
    size = p.stat().st_size
    if size > limits.max_bytes:
        raise SuiteError(f"suite {p} is {size} bytes, over the {limits.max_bytes}-byte limit: split it, "
                         "or raise max_suite_bytes / RAG_MAX_SUITE_BYTES")
    try:
        raw = p.read_text("utf-8")
    except UnicodeDecodeError as e:
        raise SuiteError(f"suite {p} is not UTF-8 text: save it as UTF-8") from e
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return parse_jsonl(raw, name=p.stem, source=str(p), limits=limits)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(raw, default_name=p.stem, source=str(p), limits=limits)
    raise SuiteError(f"suite {p}: unsupported extension {suffix or '(none)'}; use .yaml, .yml or .jsonl")


def load_suites(paths: list[str | Path], limits: SuiteLimits | None = None) -> list[Suite]:
    suites = [load_suite(p, limits) for p in paths]
    names: dict[str, str] = {}
    for s in suites:
        if s.name in names:
            raise SuiteError(
                f"suites {names[s.name]} and {s.path} are both named {s.name!r}: "
                "give one a different `name` so their case ids stay distinct"
            )
        names[s.name] = s.path
    return suites


def parse_yaml(text: str, default_name: str = "suite", source: str = "<suite>",
               limits: SuiteLimits | None = None) -> Suite:
    limits = limits or SuiteLimits()
    _check_size(text, source, limits)
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except _AliasRefused as e:
        mark = e.problem_mark
        raise SuiteError(f"suite {source} uses a YAML anchor or alias at line {mark.line + 1}, column "
                         f"{mark.column + 1}: anchors (&name) and aliases (*name) are refused because they can "
                         "expand to gigabytes; write each value out in full") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteError(f"suite {source} is not valid YAML{where}: {e.problem or e}. Fix the syntax there") from e
    except yaml.YAMLError as e:
        raise SuiteError(f"suite {source} is not valid YAML: {e}") from e
    if isinstance(data, list):
        data = {"name": default_name, "cases": data}
    if not isinstance(data, dict):
        raise SuiteError(f"suite {source}: expected a mapping with `name` and `cases`, got {type(data).__name__}")
    unknown = [k for k in data if k not in SUITE_FIELDS]
    if unknown:
        raise SuiteError(f"suite {source}: unknown top-level field {unknown[0]!r}{_hint(unknown[0], SUITE_FIELDS)}")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise SuiteError(f"suite {source}: `cases` must be a non-empty list of cases")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(f"suite {source}: `name` must be a non-empty string")
    description = data.get("description") or ""
    if not isinstance(description, (str, int, float)):
        raise SuiteError(f"suite {source}: `description` must be text")
    _check_len(name, f"suite {source}", "name", limits)
    _check_len(str(description), f"suite {source}", "description", limits)
    return Suite(name=name.strip(), cases=_validate_cases(cases, source, limits=limits), path=source,
                 description=str(description))


def _check_size(text: str, source: str, limits: SuiteLimits) -> None:
    if len(text) > limits.max_bytes:
        raise SuiteError(f"suite {source} is {len(text)} characters, over the {limits.max_bytes} limit: split it, "
                         "or raise max_suite_bytes / RAG_MAX_SUITE_BYTES")


def _check_len(value: str, label: str, field: str, limits: SuiteLimits) -> None:
    if len(value) > limits.max_field_chars:
        raise SuiteError(f"{label}: field {field!r} is {len(value)} characters, over the "
                         f"{limits.max_field_chars} limit: shorten it, or raise max_suite_field_chars")


def parse_jsonl(text: str, name: str = "suite", source: str = "<suite>", limits: SuiteLimits | None = None) -> Suite:
    limits = limits or SuiteLimits()
    _check_size(text, source, limits)
    cases: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise SuiteError(f"suite {source}, line {lineno}: not valid JSON ({e.msg}). Each line must be one case object") from e
    if not cases:
        raise SuiteError(f"suite {source} has no cases: write one JSON object per line")
    return Suite(name=name, cases=_validate_cases(cases, source, jsonl=True, limits=limits), path=source)


def _validate_cases(items: list[Any], source: str, jsonl: bool = False,
                    limits: SuiteLimits | None = None) -> tuple[Case, ...]:
    limits = limits or SuiteLimits()
    if len(items) > limits.max_cases:
        raise SuiteError(f"suite {source} has {len(items)} cases, over the {limits.max_cases} limit: split it, "
                         "or raise max_suite_cases / RAG_MAX_SUITE_CASES")
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(items, 1):
        where = f"line {i}" if jsonl else f"case #{i}"
        case = _validate_case(item, f"suite {source}, {where}")
        _check_case_limits(case, f"suite {source}, case {case.id!r}", limits)
        if case.id in seen:
            raise SuiteError(
                f"suite {source}, case {case.id!r}: duplicate id (also case #{seen[case.id]}): ids must be unique"
            )
        seen[case.id] = i
        out.append(case)
    return tuple(out)


def _validate_case(item: Any, where: str) -> Case:
    if not isinstance(item, dict):
        raise SuiteError(f"{where}: a case must be a mapping of fields, got {type(item).__name__}")
    cid = item.get("id")
    if isinstance(cid, bool) or not isinstance(cid, (str, int)) or not str(cid).strip():
        raise SuiteError(f"{where}: field 'id' is missing or empty: give every case a unique id")
    cid = str(cid).strip()
    label = f"{where.rsplit(',', 1)[0]}, case {cid!r}"
    for key in item:
        if key not in CASE_FIELDS:
            raise SuiteError(f"{label}: unknown field {key!r}{_hint(str(key), CASE_FIELDS)}")
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SuiteError(f"{label}: field 'question' is missing or empty")
    answerable = item.get("answerable", True)
    if not isinstance(answerable, bool):
        raise SuiteError(f"{label}: field 'answerable' must be true or false, got {answerable!r}")
    answers = _strings(item.get("answers"), label, "answers")
    evidence = _strings(item.get("evidence"), label, "evidence")
    tags = _strings(item.get("tags"), label, "tags")
    forbidden = _strings(item.get("forbidden_citations"), label, "forbidden_citations")
    feedback_ids = _strings(item.get("feedback_ids"), label, "feedback_ids")
    try:
        goals = parse_goals(item)
    except ValueError as e:
        raise SuiteError(f"{label}: {e}") from None
    # a citation-only case checks what is cited; an open case checks its key points
    if answerable and not answers and not forbidden and not goals.key_points:
        raise SuiteError(
            f"{label}: field 'answers' is missing or empty for an answerable case: "
            "list accepted answers or key_points, set `answerable: false`, or give `forbidden_citations`"
        )
    if not answerable and answers:
        raise SuiteError(f"{label}: field 'answers' is set but `answerable: false`: remove one of them")
    history = _history(item.get("history"), label)
    return Case(
        id=cid,
        question=question.strip(),
        answers=answers,
        evidence=evidence,
        history=history,
        answerable=answerable,
        tags=tags,
        forbidden_citations=forbidden,
        feedback_ids=feedback_ids,
        goals=goals,
    )


def _check_case_limits(case: Case, label: str, limits: SuiteLimits) -> None:
    _check_len(case.id, label, "id", limits)
    _check_len(case.question, label, "question", limits)
    for name in ("answers", "evidence", "tags", "history"):
        items = getattr(case, name)
        if len(items) > limits.max_items:
            raise SuiteError(f"{label}: field {name!r} has {len(items)} items, over the {limits.max_items} limit")
        for item in items:
            _check_len(item.content if isinstance(item, Turn) else item, label, name, limits)


def _strings(value: Any, label: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise SuiteError(f"{label}: field {name!r} must be a list of strings")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or not str(v).strip():
            raise SuiteError(f"{label}: field {name!r} has an empty or non-text item {v!r}")
        out.append(str(v).strip())
    return tuple(out)


def _history(value: Any, label: str) -> tuple[Turn, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SuiteError(f"{label}: field 'history' must be a list of {{role, content}} turns")
    turns = []
    for j, t in enumerate(value, 1):
        if not isinstance(t, dict) or set(t) != {"role", "content"}:
            raise SuiteError(f"{label}: field 'history' turn #{j} must have exactly `role` and `content`")
        if t["role"] not in ROLES:
            raise SuiteError(f"{label}: field 'history' turn #{j} has role {t['role']!r}; use user or assistant")
        if not isinstance(t["content"], str) or not t["content"].strip():
            raise SuiteError(f"{label}: field 'history' turn #{j} has empty content")
        turns.append(Turn(role=t["role"], content=t["content"].strip()))
    return tuple(turns)


def _hint(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    tail = f"; known fields: {', '.join(known)}"
    return f" (did you mean {close[0]!r}?){tail}" if close else tail
