"""Regex audit: every pattern the product compiles must match in time linear in its input.

Python's `re` holds the GIL while it matches, so one pattern that backtracks catastrophically on text a
user controls freezes every session. This test finds every pattern by walking the product packages
(module- and class-level re.Pattern objects, plus string literals passed to re.compile/search/sub/...
anywhere in the source), builds adversarial inputs from each pattern's own parse tree
(tests/regex_inputs.py), and compares the CPU cost of scanning a 64 KiB input with a 1 KiB one. Linear
growth is x64; anything over x100 fails. Each pattern runs in a forked child with a time budget, so a
catastrophic pattern fails the test instead of hanging it. The shapes include a pattern's head repeated
(a lazy or greedy run before a literal that never comes, rescanned from every start: quadratic); PLANTED
holds one pattern of each super-linear shape, and the audit must flag every one of them.
"""

from __future__ import annotations

import ast
import importlib
import multiprocessing
import pkgutil
import re
import time
from pathlib import Path

import pytest

from tests.regex_inputs import shapes

PACKAGES = ("core", "index", "rag", "ui", "prompts")
SMALL, LARGE, BOUND = 1024, 64 * 1024, 100.0
CHILD_BUDGET_S = 60
_RE_FUNCS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


def _modules() -> list:
    mods = []
    for name in PACKAGES:
        try:
            pkg = importlib.import_module(name)
        except ImportError:
            continue
        mods.append(pkg)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":  # runs a program on import
                continue
            mods.append(importlib.import_module(info.name))
    return mods


def _flags(node: ast.expr | None) -> int:
    """re.I | re.M style flag expressions; anything else counts as no flags."""
    if node is None:
        return 0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
        return int(getattr(re, node.attr, 0))
    return 0


def _literal_patterns(path: Path) -> list[tuple[str, int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCS and node.args):
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue  # a name or f-string: the compiled object is collected from the module instead
        flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
        if flag_node is None and node.func.attr == "compile" and len(node.args) > 1:
            flag_node = node.args[1]
        out.append((first.value, _flags(flag_node), f"{path.name}:{node.lineno}"))
    return out


def collect() -> dict[tuple[str, int], str]:
    """(pattern, flags) -> where it was found, for every product pattern."""
    found: dict[tuple[str, int], str] = {}

    def add(p: re.Pattern, where: str) -> None:
        if isinstance(p.pattern, str):
            found.setdefault((p.pattern, p.flags & ~re.UNICODE), where)

    for mod in _modules():
        for attr, value in vars(mod).items():
            values = list(value.values()) if isinstance(value, dict) else value
            values = values if isinstance(values, (tuple, list)) else [value]
            for v in values:
                if isinstance(v, re.Pattern):
                    add(v, f"{mod.__name__}.{attr}")
            if isinstance(value, type) and value.__module__ == mod.__name__:
                for cattr, cv in vars(value).items():
                    if isinstance(cv, re.Pattern):
                        add(cv, f"{mod.__name__}.{attr}.{cattr}")
        src = getattr(mod, "__file__", None)
        if src and src.endswith(".py"):
            for pat, flags, where in _literal_patterns(Path(src)):
                try:
                    add(re.compile(pat, flags), where)
                except re.error:
                    continue
    return found


def _scan(pattern: re.Pattern, text: str) -> None:
    for _ in pattern.finditer(text):  # every start position, as search/sub/findall do
        pass


def _cost(pattern: re.Pattern, text: str, reps: int = 2) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        _scan(pattern, text)
        best = min(best, time.process_time() - t0)
    return best


def _careful(pattern: re.Pattern, text: str) -> float:
    from tests.complexity import cpu_per_call

    return cpu_per_call(lambda t: _scan(pattern, t), text)


def _confirmed(pattern: re.Pattern, small: str, large: str, tries: int = 3) -> float:
    """The lowest of a few careful ratios: a super-linear pattern is slow every time, a busy machine is not
    (CI at load 10 once measured a linear pattern at x114)."""
    best = float("inf")
    for _ in range(tries):
        best = min(best, _careful(pattern, large) / max(_careful(pattern, small), 1e-9))
        if best <= BOUND:
            break
    return best


def worst_growth(pattern: re.Pattern) -> tuple[float, str]:
    """The largest 64 KiB / 1 KiB cost ratio over this pattern's adversarial shapes."""
    worst, worst_name, seen = 0.0, "", set()
    for name, make in shapes(pattern):
        small, large = make(SMALL), make(LARGE)
        if small in seen:
            continue
        seen.add(small)
        ratio = _cost(pattern, large) / max(_cost(pattern, small), 1e-7)
        if ratio > BOUND:  # a quick look says super-linear: measure properly before blaming the pattern
            ratio = _confirmed(pattern, small, large)
        if ratio > worst:
            worst, worst_name = ratio, name
    return worst, worst_name


def _child(pattern: str, flags: int, conn) -> None:
    conn.send(worst_growth(re.compile(pattern, flags)))
    conn.close()


PATTERNS = collect()


def test_audit_finds_the_known_patterns() -> None:
    """The walk reaches module-level, class-level and inline patterns in every product package."""
    from index import sentences
    from rag.verify import citations

    keys = set(PATTERNS)
    assert (citations.MARKER.pattern, citations.MARKER.flags & ~re.UNICODE) in keys
    assert (sentences._END.pattern, sentences._END.flags & ~re.UNICODE) in keys
    assert any(w.startswith("citations.py:") for w in PATTERNS.values())  # inline re.sub(r"...") literals
    assert {w.split(".")[0] for w in PATTERNS.values()} >= {"index", "rag"}
    assert len(PATTERNS) > 40


def verdict(pattern: str, flags: int, budget_s: float = CHILD_BUDGET_S) -> str | None:
    """None when the pattern grows linearly on all its adversarial shapes, else what is wrong and the fix.
    Runs in a forked child, so a catastrophic pattern is a verdict after `budget_s`, not a hang."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(pattern, flags, child), daemon=True)
    proc.start()
    child.close()
    if not parent.poll(budget_s):
        proc.kill()
        proc.join()
        return (f"{pattern!r} did not finish its adversarial inputs in {budget_s:g} s (catastrophic "
                "backtracking): make its quantifiers unambiguous (possessive/atomic) or bound its input")
    worst, name = parent.recv()
    proc.join()
    if worst <= BOUND:
        return None
    return (f"{pattern!r} costs x{worst:.0f} on 64 KiB vs 1 KiB of shape {name!r} (linear is x64, allowed "
            f"x{BOUND:g}): make its quantifiers unambiguous, use string operations (find/rfind), or bound its input")


@pytest.mark.parametrize("key", sorted(PATTERNS), ids=lambda k: PATTERNS[k])
def test_pattern_grows_linearly(key: tuple[str, int]) -> None:
    problem = verdict(*key)
    assert problem is None, f"{PATTERNS[key]}: {problem}"


# The audit audits itself: each shape of super-linear pattern it must catch, planted. The first is the /v1
# footnote pattern that froze the server for 25 s (issue 24 #3) and that the audit used to pass.
PLANTED = {
    "lazy DOTALL .*? before a literal, optional context (old /v1 footnote)":
        (r"\n\n(?:Note: .*?\n\n)?Sources:\n.*\Z", re.S),
    "lazy DOTALL .*? before a literal": (r"<!--.*?-->", re.S),
    "greedy .* before a literal": (r"BEGIN:.*END", re.S),
    "negated class run before a literal": (r"\[[^\]]*\]\(", 0),
    "nested quantifiers": (r"(?:a+)+$", 0),
    "adjacent overlapping quantifiers": (r"\d+\d+x", 0),
    "separator runs around an optional item": (r"(?:\s*,\s*)+;", 0),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_audit_flags_a_planted_bad_pattern(name: str) -> None:
    assert verdict(*PLANTED[name], budget_s=20) is not None, f"the audit passes {name}: {PLANTED[name][0]!r}"


def test_audit_collects_a_planted_inline_pattern(tmp_path: Path) -> None:
    """A pattern written inline at a call (re.findall/sub over client text) is collected with its flags."""
    src = tmp_path / "planted.py"
    src.write_text("import re\n\ndef strip(text):\n    return re.sub(r'\\n\\nSources:.*?\\n\\n', '', text,"
                   " flags=re.S | re.I)\n\nre.findall(r'<b>.*</b>', 'x')\n")
    found = {(p, f) for p, f, _ in _literal_patterns(src)}
    assert found == {(r"\n\nSources:.*?\n\n", re.S | re.I), (r"<b>.*</b>", 0)}
