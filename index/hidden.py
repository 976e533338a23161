"""Hidden HTML: text a reader never sees is not part of the document (and is the classic injection vector).

Decided from CSS, both inline `style` attributes and `<style>` rules (selectors, cascade and !important
as index.css reads them). A tag is hidden when its declarations say display:none,
visibility:hidden/collapse, opacity 0, a font size too small to read (0, <= 3px, <= 2.25pt, <= 0.2em,
<= 20%), pushed far off-screen, clipped to nothing, a box of at most 1px with overflow hidden, scale(0),
transparent text, or a text colour within `_NEAR` of the background it sits on in every channel (its own,
the nearest ancestor's, or white: `#fffffe` on white is hidden). Colours: names, #rgb(a), #rrggbb(aa),
rgb()/rgba() with commas, spaces or percentages, hsl()/hsla(). Whitespace, comments and case inside CSS
do not change the verdict.

Not decided: pseudo-classes, external stylesheets, JavaScript, text behind images, and
`currentColor`/variables.

PDF (visible_pdf_text) and DOCX (docx_hides) text drawn invisibly is decided at the end of this module.
"""

from __future__ import annotations

from typing import Any

from index import css
from index.css import declarations, strip_css_comments, tag_declarations

_NAMED = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "lime": "#00ff00", "blue": "#0000ff",
          "yellow": "#ffff00", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080"}
Decls = dict[str, str]

__all__ = ["colour", "declarations", "docx_hides", "find_hidden", "hides", "strip_css_comments", "style_rules",
           "visible_pdf_text"]


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


def _channels(parts: list[str], scale: float) -> list[float] | None:
    try:
        return [float(p[:-1]) * 255 / 100 if p.endswith("%") else float(p) * scale for p in parts]
    except ValueError:
        return None


def _hsl(h: float, s: float, light: float) -> list[float]:
    a = s * min(light, 1 - light)

    def f(n: int) -> float:
        k = (n + h / 30) % 12
        return 255 * (light - a * max(-1, min(k - 3, 9 - k, 1)))

    return [f(0), f(8), f(4)]


def _functional(v: str) -> str:
    """rgb()/rgba()/hsl()/hsla(), commas or spaces, an optional alpha after "/" or as a fourth value."""
    kind, args = v[:v.index("(")], v[v.index("(") + 1: -1]
    parts = args.replace("/", " ").replace(",", " ").split()
    if len(parts) not in (3, 4):
        return ""
    if len(parts) == 4:
        alpha = _channels([parts[3]], 1.0)
        if alpha is not None and alpha[0] == 0:
            return "transparent"
    if kind.startswith("hsl"):
        hue, sat, light = _number(parts[0]), _number(parts[1]), _number(parts[2])
        if hue is None or sat is None or light is None:
            return ""
        rgb = _hsl(hue, sat / 100, light / 100)
    else:
        got = _channels(parts[:3], 1.0)
        if got is None:
            return ""
        rgb = got
    return "#" + "".join(f"{max(0, min(255, round(n))):02x}" for n in rgb)


def colour(value: str) -> str:
    """A comparable form of a CSS colour ("#FFF", "white", "rgb(255 255 255)" -> "#ffffff"); "" if unknown."""
    v = value.strip().lower()
    if v in _NAMED:
        return _NAMED[v]
    if v.startswith("#") and len(v) in (4, 5, 7, 9) and all(c in "0123456789abcdef" for c in v[1:]):
        full = "".join(c * 2 for c in v[1:]) if len(v) in (4, 5) else v[1:]
        return "transparent" if len(full) == 8 and full[6:] == "00" else "#" + full[:6]
    if v.startswith(("rgb(", "rgba(", "hsl(", "hsla(")) and v.endswith(")"):
        return _functional(v)
    return v if v == "transparent" else ""


_NEAR = 24  # a text colour within this of its background in every channel (of 255) is not readable


def _near(a: str, b: str) -> bool:
    if not (a.startswith("#") and b.startswith("#")):
        return False
    return all(abs(int(a[i:i + 2], 16) - int(b[i:i + 2], 16)) <= _NEAR for i in (1, 3, 5))


_TINY = {"px": 3.0, "pt": 2.25, "em": 0.2, "rem": 0.2, "%": 20.0, "ex": 0.4, "ch": 0.4, "vw": 0.2, "vh": 0.2}


def _tiny_font(value: str) -> bool:
    """font-size 0, or a size no one can read ("1px", "0.1em", "5%")."""
    n = _number(value)
    if n is None:
        return False
    unit = value.lstrip("0123456789.+-").strip()
    return n <= 0 or n <= _TINY.get(unit, -1.0)


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
    if _tiny_font(get("font-size", "")) or ("opacity" in decls and _number(decls["opacity"]) == 0):
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
    return text == "transparent" or (bool(text) and _near(text, _background(decls) or background))


def style_rules(css_texts: list[str]) -> dict:
    """<style> rules by subject key (index.css), folding overflow rules by whether they hide on white."""
    return css.style_rules(css_texts, lambda decls: hides(decls, "#ffffff"))


def find_hidden(soup: Any, rules: dict) -> list[Any]:
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
        decls = tag_declarations(tag, rules)
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
