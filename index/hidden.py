"""Hidden HTML: text a reader never sees is not part of the document (and is the classic injection vector).

Decided from CSS, both inline `style` attributes and `<style>` rules with simple selectors (`.cls`, `#id`,
`tag`, `tag.cls`, `tag#id`, comma lists; rules inside @media blocks count too). A tag is hidden when its
declarations say display:none, visibility:hidden/collapse, font-size or opacity 0, pushed far off-screen,
clipped to nothing, a box of at most 1px with overflow hidden, scale(0), transparent text, or a text colour
equal to the background it sits on (its own, the nearest ancestor's, or white). Whitespace, comments,
case and !important inside CSS do not change the verdict.

Not decided: combinators and pseudo-classes in selectors, external stylesheets, JavaScript, text behind
images, colours that are merely close, and `currentColor`/variables.

PDF (visible_pdf_text) and DOCX (docx_hides) text drawn invisibly is decided at the end of this module.
"""

from __future__ import annotations

from typing import Any

_NAMED = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "lime": "#00ff00", "blue": "#0000ff",
          "yellow": "#ffff00", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080"}
Decls = dict[str, str]


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


def declarations(style: str) -> Decls:
    """"Display :\\tNone !important; color:#FFF" -> {"display": "none", "color": "#fff"}."""
    css = "".join(strip_css_comments(style).lower().split())  # every CSS whitespace, tabs and newlines too
    out: Decls = {}
    for part in css.split(";"):
        name, sep, value = part.partition(":")
        if sep and name:
            out[name] = value.replace("!important", "")
    return out


def style_rules(css_texts: list[str]) -> dict[str, Decls]:
    """Simple selector -> merged declarations, from the text of every <style> element."""
    rules: dict[str, Decls] = {}
    for css in css_texts:
        for block in strip_css_comments(css).split("}"):
            selectors, sep, body = block.rpartition("{")  # rpartition: "@media x { .a { ..." -> ".a"
            if not sep:
                continue
            selectors = selectors.rsplit("{", 1)[-1]
            decls = declarations(body)
            for sel in selectors.split(","):
                sel = "".join(sel.split()).lower()
                if sel and all(c.isalnum() or c in "-_.#" for c in sel):
                    rules.setdefault(sel, {}).update(decls)
    return rules


def _tag_decls(tag: Any, rules: dict[str, Decls]) -> Decls:
    decls: Decls = {}
    if rules:
        name = tag.name.lower()
        keys = [name]
        for cls in tag.get("class") or []:
            keys += [f".{cls.lower()}", f"{name}.{cls.lower()}"]
        if tag.get("id"):
            ident = str(tag.get("id")).lower()
            keys += [f"#{ident}", f"{name}#{ident}"]
        for key in keys:
            decls.update(rules.get(key, {}))
    decls.update(declarations(str(tag.get("style") or "")))
    return decls


def _number(value: str) -> float | None:
    num = ""
    for c in value:
        if c.isdigit() or c in ".-+":
            num += c
        else:
            break
    try:
        return float(num)
    except ValueError:
        return None


def colour(value: str) -> str:
    """A comparable form of a CSS colour ("#FFF", "white", "rgb(255,255,255)" -> "#ffffff"); "" if unknown."""
    v = value.strip()
    if v in _NAMED:
        return _NAMED[v]
    if v.startswith("#") and len(v) in (4, 7):
        return "#" + "".join(c * 2 for c in v[1:]) if len(v) == 4 else v
    if v.startswith(("rgb(", "rgba(")) and v.endswith(")"):
        parts = v[v.index("(") + 1: -1].split(",")
        try:
            nums = [round(float(p)) for p in parts[:3]]
        except ValueError:
            return ""
        if len(parts) == 4 and _number(parts[3]) == 0:
            return "transparent"
        return "#" + "".join(f"{max(0, min(255, n)):02x}" for n in nums) if len(nums) == 3 else ""
    return v if v == "transparent" else ""


def _background(decls: Decls) -> str:
    for key in ("background-color", "background"):
        if key in decls:
            c = colour(decls[key].split("url(")[0])
            if c and c != "transparent":
                return c
    return ""


def hides(decls: Decls, background: str) -> bool:
    """Do these declarations make the element's text invisible on `background`?"""
    get = decls.get
    if get("display") == "none" or get("visibility") in ("hidden", "collapse"):
        return True
    for key in ("font-size", "opacity"):
        if key in decls and _number(decls[key]) == 0:
            return True
    for key in ("left", "top", "text-indent", "margin-left", "margin-top"):
        n = _number(get(key, ""))
        if n is not None and n <= -1000:
            return True
    if get("clip", "").startswith("rect(0") or get("clip-path", "").startswith(("inset(50%", "inset(100%",
                                                                                "circle(0")):
        return True
    if "scale(0)" in get("transform", "") or "scale(0," in get("transform", ""):
        return True
    if get("overflow") == "hidden":
        for key in ("width", "height", "max-width", "max-height"):
            n = _number(get(key, ""))
            if n is not None and n <= 1:
                return True
    text = colour(get("color", ""))
    return text == "transparent" or (bool(text) and text == (_background(decls) or background))


def find_hidden(soup: Any, rules: dict[str, Decls]) -> list[Any]:
    """Tags whose CSS hides them, outermost first (children of a hidden tag are not listed)."""
    from bs4.element import Tag

    hidden: list[Any] = []
    gone: set[int] = set()
    bg_of: dict[int, str] = {}
    for tag in soup.find_all(True):
        parent = tag.parent
        if parent is not None and id(parent) in gone:
            gone.add(id(tag))
            continue
        decls = _tag_decls(tag, rules)
        inherited = bg_of.get(id(parent), "#ffffff") if isinstance(parent, Tag) else "#ffffff"
        bg_of[id(tag)] = _background(decls) or inherited
        if hides(decls, inherited):
            hidden.append(tag)
            gone.add(id(tag))
    return hidden


# --- PDF -------------------------------------------------------------------------------------------------
_SHOW_TEXT = (b"Tj", b"TJ", b"'", b'"')
_INVISIBLE_MODES = (3, 7)  # 3: neither fill nor stroke; 7: clip only


def _is_white(op: bytes, operands: list) -> bool:
    try:
        vals = [float(v) for v in operands if not hasattr(v, "startswith")]
    except (TypeError, ValueError):
        return False
    if op in (b"g", b"rg") or (op in (b"sc", b"scn") and len(vals) in (1, 3)):
        return bool(vals) and all(v >= 0.99 for v in vals)
    if op == b"k" or (op in (b"sc", b"scn") and len(vals) == 4):
        return len(vals) == 4 and all(v <= 0.01 for v in vals)
    return False


def _visible_operations(operations: list) -> tuple[list, int]:
    """The page's operations without text drawn invisibly; and how many text-showing operations were cut."""
    state = {"mode": 0, "white": False, "size0": False}
    stack: list[dict] = []
    kept, dropped = [], 0
    for operands, op in operations:
        if op == b"q":
            stack.append(dict(state))
        elif op == b"Q" and stack:
            state = stack.pop()
        elif op == b"Tr" and operands:
            state["mode"] = int(operands[0])
        elif op in (b"g", b"rg", b"k", b"sc", b"scn"):
            state["white"] = _is_white(op, operands)
        elif op == b"cs":  # a new colour space starts at its default colour (black)
            state["white"] = False
        elif op == b"Tf" and len(operands) > 1:
            state["size0"] = float(operands[1]) == 0
        elif op in _SHOW_TEXT and (state["mode"] in _INVISIBLE_MODES or state["white"] or state["size0"]):
            dropped += 1
            if op != b"Tj" and op != b"TJ":
                kept.append(([], b"T*"))  # ' and " also move to the next line
            continue
        kept.append((operands, op))
    return kept, dropped


def visible_pdf_text(page: Any) -> tuple[str, int]:
    """A page's text without what is drawn invisibly: render mode 3/7, white fill (a white page is
    assumed), or a zero font size. Returns (text, text operations dropped).

    Not covered: text inside form XObjects, text under images or coloured boxes, clipped or off-page text,
    colours set through patterns or ICC spaces other than plain gray/RGB/CMYK values."""
    from pypdf.generic import ContentStream, NameObject

    contents = page.get_contents()
    if contents is None:
        return page.extract_text() or "", 0
    stream = ContentStream(contents, page.pdf)
    kept, dropped = _visible_operations(stream.operations)
    if dropped:
        stream.operations = kept
        # set in place (replace_contents needs a writer in pypdf 7); the reader's page is only read after this
        page[NameObject("/Contents")] = stream
    return page.extract_text() or "", dropped


# --- DOCX ------------------------------------------------------------------------------------------------
_DOCX_HIDING = ("vanish", "specVanish", "webHidden")  # hidden text, and text shown only in web layout
_DOCX_MIN_HALF_POINTS = 2  # w:sz is in half-points: 1 pt or less is unreadable, the DOCX "font-size: 0"


def _docx_on(props: dict[str, str], key: str) -> bool:
    """An OOXML toggle: present and not switched off with w:val="0"/"false"/"off"."""
    return key in props and props[key].lower() not in ("0", "false", "off")


def docx_hides(props: dict[str, str]) -> bool:
    """Is a DOCX run with these effective run properties invisible on a white page?

    props: run-property name -> its w:val (w:fill for "shd"), styles resolved and direct formatting last,
    e.g. {"vanish": "", "color": "FFFFFF", "sz": "2", "highlight": "yellow"}. Hidden: the vanish family,
    a size of 1 pt or less, white text with no coloured highlight or shading behind it, or text coloured
    like its own shading."""
    if any(_docx_on(props, k) for k in _DOCX_HIDING):
        return True
    size = _number(props.get("sz", ""))
    if size is not None and size <= _DOCX_MIN_HALF_POINTS:
        return True
    text = props.get("color", "").lower()
    if not text or text == "auto":
        return False
    shade = props.get("shd", "").lower()
    if shade in ("", "auto") and props.get("highlight", "none").lower() not in ("none", "white"):
        return False  # a coloured highlight behind the text: readable (named highlight colours are not compared)
    return text == (shade if shade not in ("", "auto") else "ffffff")
