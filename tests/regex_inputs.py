"""Adversarial inputs for a compiled regex, built from the pattern's own parse tree.

For each unbounded repeat in the pattern, a string that follows the pattern with only that repeat
expanded many times (everything else once), in several variants (optional parts taken or skipped,
first or last alternative), each also cut short (an unclosed group: the closing part is missing) or
ended with a character the pattern never uses; and the text up to and through each repeat (or the
whole match but its last character) repeated many times, so that every start position can run a
repeat to the end of the input (a lazy `.*?` before a literal that never comes). Plus long runs of
every character of the pattern's alphabet and alternations of neighbouring ones. These are the shapes behind catastrophic backtracking:
ambiguous splits of a run between adjacent or nested quantifiers, and every start position rescanning
the same tail (quadratic under search/sub/findall/finditer).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

try:  # Python 3.11+
    from re import _constants as C
    from re import _parser as P
except ImportError:  # pragma: no cover
    import sre_constants as C
    import sre_parse as P

_CATEGORY = {
    C.CATEGORY_DIGIT: "1", C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_SPACE: " ", C.CATEGORY_NOT_SPACE: "a",
    C.CATEGORY_WORD: "a", C.CATEGORY_NOT_WORD: " ", C.CATEGORY_LINEBREAK: "\n", C.CATEGORY_NOT_LINEBREAK: "a",
}
_FOREIGN = "\x01"


@dataclass
class _Mode:
    target: int  # id of the repeat to expand (-1: none)
    times: int
    take_optional: bool
    last_branch: bool


def _char_of_set(items: list) -> str:
    negate = any(op is C.NEGATE for op, _ in items)
    if negate:
        banned = set(_alphabet_items(items))
        return next(c for c in "a1 .x_-\n" if c not in banned)
    for op, av in items:
        if op is C.LITERAL:
            return chr(av)
        if op is C.RANGE:
            return chr(av[0])
        if op is C.CATEGORY:
            return _CATEGORY.get(av, "a")
    return "a"


def _render(tree, mode: _Mode, counter: list[int]) -> str:
    out: list[str] = []
    for op, av in tree:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op is C.ANY:
            out.append("a")
        elif op is C.IN:
            out.append(_char_of_set(av))
        elif op is C.BRANCH:
            opts = av[1]
            out.append(_render(opts[-1] if mode.last_branch else opts[0], mode, counter))
        elif op is C.SUBPATTERN:
            out.append(_render(av[-1], mode, counter))
        elif op is getattr(C, "ATOMIC_GROUP", None):
            out.append(_render(av, mode, counter))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            lo, hi, item = av
            counter[0] += 1
            me = counter[0]
            if hi is C.MAXREPEAT:
                n = mode.times if me == mode.target else max(lo, 1)
            else:
                n = min(hi, max(lo, 1)) if mode.take_optional else lo
            out.append("".join(_render(item, mode, counter) for _ in range(n)) if n else "")
            if n == 0:  # keep the repeat numbering identical across renderings
                _render(item, mode, counter)
        # AT (anchors), ASSERT/ASSERT_NOT (lookarounds), GROUPREF: nothing to add
    return "".join(out)


def _count_unbounded(tree) -> int:
    n = 0
    for op, av in tree:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            n += 1 if av[1] is C.MAXREPEAT else 0
            n += _count_unbounded(av[2])
        elif op is C.BRANCH:
            n += sum(_count_unbounded(o) for o in av[1])
        elif op is C.SUBPATTERN:
            n += _count_unbounded(av[-1])
        elif op is getattr(C, "ATOMIC_GROUP", None) or op in (C.ASSERT, C.ASSERT_NOT):
            n += _count_unbounded(av if op is getattr(C, "ATOMIC_GROUP", None) else av[1])
    return n


def _unbounded_ids(tree, counter: list[int] | None = None) -> list[int]:
    """Numbering used by _render: ids of repeats with no upper bound."""
    counter = counter if counter is not None else [0]
    ids: list[int] = []
    for op, av in tree:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            counter[0] += 1
            if av[1] is C.MAXREPEAT:
                ids.append(counter[0])
            ids += _unbounded_ids(av[2], counter)
        elif op is C.BRANCH:
            # _render walks only one alternative; number the first and hope the last lines up (best effort)
            for o in av[1]:
                ids += _unbounded_ids(o, [counter[0]])
            sub = [0]
            _unbounded_ids(av[1][0], sub)
            counter[0] += sub[0]
        elif op is C.SUBPATTERN:
            ids += _unbounded_ids(av[-1], counter)
        elif op is getattr(C, "ATOMIC_GROUP", None):
            ids += _unbounded_ids(av, counter)
    return sorted(set(ids))


def _alphabet_items(items) -> list[str]:
    chars: list[str] = []
    for op, av in items:
        if op is C.LITERAL:
            chars.append(chr(av))
        elif op is C.RANGE:
            chars += [chr(av[0]), chr(av[1])]
        elif op is C.CATEGORY:
            chars.append(_CATEGORY.get(av, "a"))
    return chars


def alphabet(tree) -> list[str]:
    """Every literal/class character the pattern names, in pattern order, deduplicated."""
    chars: list[str] = []

    def walk(t) -> None:
        for op, av in t:
            if op is C.LITERAL:
                chars.append(chr(av))
            elif op is C.IN:
                chars.extend(_alphabet_items(av))
            elif op is C.ANY:
                chars.append("a")
            elif op is C.BRANCH:
                for o in av[1]:
                    walk(o)
            elif op is C.SUBPATTERN:
                walk(av[-1])
            elif op is getattr(C, "ATOMIC_GROUP", None):
                walk(av)
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
                walk(av[2])
            elif op in (C.ASSERT, C.ASSERT_NOT):
                walk(av[1])

    walk(tree)
    return list(dict.fromkeys(chars))


def _scaled(base: str, unit: str, size: int) -> str:
    return base + unit * max(1, (size - len(base)) // max(1, len(unit)))


def shapes(pattern: re.Pattern) -> Iterator[tuple[str, callable]]:
    """(name, make(size) -> str) for every adversarial shape of this pattern."""
    tree = P.parse(pattern.pattern, pattern.flags)
    for target in _unbounded_ids(tree):
        for take in (False, True):
            for last in (False, True):
                one = _render(tree, _Mode(target, 1, take, last), [0])
                two = _render(tree, _Mode(target, 2, take, last), [0])
                if len(two) <= len(one):
                    continue
                # the text around the expanded repeat: a common prefix and suffix of the two renderings
                i = 0
                while i < len(one) and one[i] == two[i]:
                    i += 1
                head, unit, tail = one[:i], two[i: i + len(two) - len(one)], one[i:]
                name = f"repeat#{target}{'+opt' if take else ''}{'+last' if last else ''}"
                yield name + " unclosed", (lambda n, h=head, u=unit: h + u * max(1, (n - len(h)) // len(u)))
                yield name + " foreign-end", (lambda n, h=head, u=unit, t=tail:
                                              h + u * max(1, (n - len(h) - len(t)) // len(u)) + _FOREIGN)
                # the text up to and through the repeat, again and again, never the rest: each start
                # position runs the repeat to the end of the input looking for what follows it
                # ("\n\nNote: a\n\nNote: a..." for `\n\n(?:Note: .*?\n\n)?Sources:`), quadratic in all
                yield name + " repeated-head", (lambda n, p=head + unit: _scaled("", p, n) + _FOREIGN)
                if len(one) > 1:  # the whole match but its last character, repeated: a near miss at every start
                    yield name + " repeated-near-miss", (lambda n, p=one[:-1]: _scaled("", p, n) + _FOREIGN)
    chars = alphabet(tree)
    for c in chars:
        yield f"run {c!r}", (lambda n, c=c: c * n + _FOREIGN)
    for a, b in itertools.pairwise(chars):
        yield f"alternate {a!r}{b!r}", (lambda n, a=a, b=b: (a + b) * (n // 2) + _FOREIGN)
