"""Just enough CSS to decide what a page hides: declarations, `<style>` rules and which rules hit a tag.

Selectors: compounds of a tag or `*`, classes, ids and attribute tests (`[a]`, `[a=v]`, `~=`, `*=`, `^=`,
`$=`, `|=`), joined by descendant, child (`>`) and sibling (`+`, `~`) combinators, in comma lists, inside
@media blocks too. Matching goes right to left as browsers do; the cascade orders matching rules by
specificity and source order, then the inline style, then `!important` declarations (rules, then inline).
Rules with pseudo-classes or pseudo-elements (`:hover`, `::before`) are conditional and left out.
Sibling combinators are approximated (any earlier sibling), and an ancestor is looked for at most
`_MAX_UP` levels up (a hostile page nests thousands deep); past that the rule is taken to apply, so the
approximations only ever hide more. Everything here is plain string work: linear in the CSS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Decls = dict[str, str]
# one piece of a compound selector; no "[" inside brackets, so a run of "[" fails at once at each position
_PART = re.compile(r"[.#]?[a-z0-9_-]+|\*|\[[^\][]*+\]")
_MAX_UP = 64
_MAX_PER_KEY = 64
_MAX_SELECTOR = 1000  # characters; longer selectors are not real pages' (and would only cost time)
_ROOTS = (("html",), ("body",))


def strip_css_comments(css: str) -> str:
    """Drop /* ... */ (an unclosed one runs to the end). str.find, not a lazy regex: linear on "/*/*/*"."""
    out, i = [], 0
    while True:
        j = css.find("/*", i)
        if j < 0:
            out.append(css[i:])
            return "".join(out)
        out.append(css[i:j])
        k = css.find("*/", j + 2)
        if k < 0:
            return "".join(out)
        i = k + 2


def _squash(value: str) -> str:
    """Lower case, single spaces, none next to ( ) , /: "RGB( 255 ,255 255 )" -> "rgb(255,255 255)"."""
    value = " ".join(value.lower().split())
    for c in "(),/":
        value = value.replace(f" {c}", c).replace(f"{c} ", c)
    return value


def split_declarations(style: str) -> tuple[Decls, Decls]:
    """(normal, important) declarations of a style attribute or rule body."""
    normal: Decls = {}
    important: Decls = {}
    for part in strip_css_comments(style).split(";"):
        name, sep, value = part.partition(":")
        name = "".join(name.split()).lower()
        if not (sep and name):
            continue
        value = _squash(value)
        bang = value.replace("! ", "!").endswith("!important")
        value = value.replace("! ", "!").replace("!important", "").strip()
        (important if bang else normal)[name] = value
    return normal, important


def declarations(style: str) -> Decls:
    """"Display :\\tNone !important; color:#FFF" -> {"display": "none", "color": "#fff"}."""
    normal, important = split_declarations(style)
    return {**normal, **important}


@dataclass(frozen=True)
class Rule:
    compounds: tuple[tuple[str, tuple[str, ...]], ...]  # (combinator before it, pieces), left to right
    normal: Decls
    important: Decls
    rank: tuple[int, int, int, int]  # specificity (ids, classes/attributes, tags), then source order


def _compounds(selector: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """"div > p.a.b" -> ((" ", ("div",)), (">", ("p", ".a", ".b"))); None for what is not handled."""
    if ":" in selector or not selector or len(selector) > _MAX_SELECTOR:
        return None
    out, cur, comb, depth = [], "", " ", 0
    for c in selector + " ":
        depth += (c == "[") - (c == "]")
        if depth or c not in " >+~":
            cur += c
            continue
        if cur:
            pieces = tuple(m.group() for m in _PART.finditer(cur))
            if sum(map(len, pieces)) != len(cur):
                return None
            out.append((comb, pieces))
            cur, comb = "", " "
        if c != " ":
            comb = c
    return tuple(out) or None


def _rank(compounds: tuple[tuple[str, tuple[str, ...]], ...], order: int) -> tuple[int, int, int, int]:
    pieces = [p for _, ps in compounds for p in ps]
    return (sum(p[0] == "#" for p in pieces), sum(p[0] in ".[" for p in pieces),
            sum(p[0] not in ".#[*" for p in pieces), order)


def style_rules(css_texts: list[str], hides: Callable[[Decls], bool] | None = None) -> dict[str, list[Rule]]:
    """The rules of every <style> element, filed under their subject's most specific piece (see _bounded)."""
    rules: dict[str, list[Rule]] = {}
    order = 0
    for css in css_texts:
        css = strip_css_comments(css).replace("<!--", " ").replace("-->", " ")
        for block in css.split("}"):
            selectors, sep, body = block.rpartition("{")  # rpartition: "@media x { .a { ..." -> ".a"
            if not sep:
                continue
            normal, important = split_declarations(body)
            for sel in selectors.rsplit("{", 1)[-1].split(","):
                compounds = _compounds(" ".join(sel.lower().split()))
                if compounds is None:
                    continue
                order += 1
                subject = compounds[-1][1]
                key = next((p for p in subject if p[0] == "#"), None) or next(
                    (p for p in subject if p[0] == "."), None) or next((p for p in subject if p[0] not in "[*"), "*")
                rules.setdefault(key, []).append(Rule(compounds, normal, important, _rank(compounds, order)))
    return {key: _bounded(key, found, hides) for key, found in rules.items()}


def _bounded(key: str, found: list[Rule], hides: Callable[[Decls], bool] | None) -> list[Rule]:
    """At most _MAX_PER_KEY rules are matched per tag for one key: thousands of rules on one tag made the
    work rules x elements (77 KB took 7 s). Past that, the earliest rules are folded into one rule on the
    bare key that hides if any of them would (deny by default: more is hidden, never less)."""
    if len(found) <= _MAX_PER_KEY:
        return found
    extra, kept = found[:-_MAX_PER_KEY], found[-_MAX_PER_KEY:]
    if hides is not None and any(hides({**r.normal, **r.important}) for r in extra):
        kept.append(Rule(((" ", (key,)),), {}, {"display": "none"}, (1 << 30, 0, 0, 0)))
    return kept


def _attr_ok(tag: Any, test: str) -> bool:
    name, op, want = test[1:-1].partition("=")
    want = want.strip("\"'")
    op_char = name[-1] if op and name and name[-1] in "~*^$|" else ""
    name = name.rstrip("~*^$|").strip()
    if not tag.has_attr(name):
        return False
    raw = tag.get(name)
    have = (" ".join(raw) if isinstance(raw, list) else str(raw)).lower()
    if not op:
        return True
    return {"": have == want, "~": want in have.split(), "*": want in have, "^": have.startswith(want),
            "$": have.endswith(want), "|": have == want or have.startswith(want + "-")}[op_char]


def _matches(tag: Any, pieces: tuple[str, ...]) -> bool:
    classes = {c.lower() for c in tag.get("class") or []}
    ident = str(tag.get("id") or "").lower()
    for p in pieces:
        ok = (p == "*" or (p[0] == "." and p[1:] in classes) or (p[0] == "#" and p[1:] == ident)
              or (p[0] == "[" and _attr_ok(tag, p)) or (p[0] not in ".#[" and tag.name.lower() == p))
        if not ok:
            return False
    return True


def _up(node: Any) -> Any:
    return node.parent


def _before(node: Any) -> Any:
    return node.find_previous_sibling(True)


def _element(node: Any) -> bool:
    return node is not None and getattr(node, "name", None) not in (None, "[document]")


def _applies(tag: Any, compounds: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    """Right to left: the subject, then each earlier compound on an ancestor (or an earlier sibling)."""
    if not _matches(tag, compounds[-1][1]):
        return False
    node = tag
    for i in range(len(compounds) - 1, 0, -1):
        comb, pieces = compounds[i][0], compounds[i - 1][1]
        step = _before if comb in "+~" else _up
        limit = _MAX_UP if comb in " ~" else 1
        node = step(node)
        for _ in range(limit):
            if not _element(node):  # at the top: a page without <html>/<body> tags still has them
                return pieces in _ROOTS
            if _matches(node, pieces):
                break
            node = step(node)
        else:  # no match in reach: past _MAX_UP levels it is taken as applying (hide more, never less)
            return limit > 1 and _element(node)
    return True


def tag_declarations(tag: Any, rules: dict[str, list[Rule]]) -> Decls:
    """The tag's own declarations after the cascade: matching rules, inline style, then !important."""
    keys = ["*", tag.name.lower(), *(f".{c.lower()}" for c in tag.get("class") or [])]
    if tag.get("id"):
        keys.append(f"#{str(tag.get('id')).lower()}")
    hits = sorted((r for k in dict.fromkeys(keys) for r in rules.get(k, ()) if _applies(tag, r.compounds)),
                  key=lambda r: r.rank)
    inline, inline_important = split_declarations(str(tag.get("style") or ""))
    out: Decls = {}
    for r in hits:
        out.update(r.normal)
    out.update(inline)
    for r in hits:
        out.update(r.important)
    out.update(inline_important)
    return out
