"""DOCX: a Word file -> paragraphs, headings and table rows as text, in document order, hidden runs cut.

The file is hostile until proven otherwise. Before python-docx parses anything the zip archive is checked
from its central directory: not a zip (an encrypted or old binary Word file is an OLE container, said
apart), too many parts, or parts that would expand past a cap or at a zip-bomb ratio (zipfile never
inflates a part past the size the directory declares, so the declared sizes bound the work). A
macro-enabled document is refused: its macros would never run here, but the user should hand over the
plain .docx they mean. python-docx's XML parser resolves no entities.

Text a reader of the page never sees (hidden "vanish" runs, 1 pt text, white text on white) is cut as
hidden HTML is (index.hidden.docx_hides). Not read: headers and footers (page furniture), footnotes,
comments, text boxes, deleted tracked changes, and the results of fields that are not plain runs.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from core.errors import IngestError
from index.caps import check_chars

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: an encrypted OOXML package or a Word 97 .doc
_MAX_PARTS = 5000
_MAX_EXPANDED = 256 * 2**20  # all parts together, inflated (images included)
_MAX_XML = 64 * 2**20  # one XML part: lxml's tree takes several times the XML's size in memory
# inflated / compressed, for parts over 1 MiB: ordinary XML is 10-30:1, 20,000 identical paragraphs 195-271:1;
# only runs of identical bytes come near deflate's ceiling (about 1030:1)
_MAX_RATIO = 500
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_SKIP = {f"{_W}del", f"{_W}moveFrom", "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"}


def docx_text(raw: bytes, name: str, max_chars: int = 3_000_000) -> tuple[str, str, int]:
    """(text, title, hidden runs removed) of a DOCX file's bytes; IngestError naming the problem. Walking
    the body stops as soon as its text passes `max_chars` (a small zip can hold 60 MiB of XML)."""
    _check_package(raw, name)
    import docx


    try:
        document = docx.Document(io.BytesIO(raw))
        styles = _Styles(document.styles.element)
        blocks, title, hidden = _body_blocks(document.element.body, styles, max_chars)
        meta_title = document.core_properties.title or ""
    except MemoryError:
        raise
    except _TooLong:
        check_chars(max_chars + 1, max_chars, name)
        raise
    except Exception as e:  # zlib, zipfile, lxml, python-docx errors on hostile bytes: this file's failure
        raise IngestError(name, f"malformed DOCX ({type(e).__name__}: {str(e)[:120]})",
                          "Open it in Word or LibreOffice and save it again as .docx") from None
    text = "\n\n".join(b for b in blocks if b.strip())
    if not text.strip():
        raise IngestError(name, "DOCX has no text (empty, or only images)",
                          "Add the text, or provide a text or PDF version with selectable text")
    return text, (title or meta_title.strip()), hidden


def _check_package(raw: bytes, name: str) -> None:
    if raw.startswith(_OLE):
        raise IngestError(name, "is password-protected (encrypted) or an old binary Word file, not a plain DOCX",
                          "Remove the password, or save it as .docx (Word: File > Save As), then add it again")
    if not raw.startswith(b"PK\x03\x04"):
        raise IngestError(name, "is not a DOCX (not a zip archive)",
                          "Check the file, or save it as .docx from Word or LibreOffice")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            _check_sizes(infos, name)  # before any part is inflated
            types = zf.read("[Content_Types].xml") if "[Content_Types].xml" in zf.namelist() else b""
    except (IngestError, MemoryError):
        raise
    except Exception as e:  # zipfile, zlib, struct... on hostile bytes
        raise IngestError(name, f"damaged DOCX (zip: {str(e)[:100]})",
                          "Open it in Word or LibreOffice and save it again as .docx") from None
    names = {i.filename for i in infos}
    if "word/vbaProject.bin" in names or b"macroEnabled" in types:
        raise IngestError(name, "is a macro-enabled Word document (.docm); macros are never run here",
                          "Save it as a plain Word document (.docx) without macros, then add it again")
    if "word/document.xml" not in names:
        raise IngestError(name, "is a zip archive but not a Word document (no word/document.xml)",
                          "Check the file, or save it as .docx from Word or LibreOffice")


def _check_sizes(infos: list[zipfile.ZipInfo], name: str) -> None:
    expanded = sum(i.file_size for i in infos)
    bomb = any(i.file_size > 2**20 and i.file_size > _MAX_RATIO * max(1, i.compress_size) for i in infos)
    huge_xml = any(i.file_size > _MAX_XML and i.filename.endswith((".xml", ".rels")) for i in infos)
    if len(infos) > _MAX_PARTS or expanded > _MAX_EXPANDED or bomb or huge_xml:
        raise IngestError(name, f"DOCX expands to {expanded / 2**20:.0f} MiB in {len(infos)} parts "
                          "(a zip bomb, or far larger than a text document)",
                          "Save the text as a smaller .docx (images removed) or as plain text")


class _Styles:
    """Style id -> (name, run properties with basedOn resolved), read once per document."""

    def __init__(self, styles_el: Any) -> None:
        self._el = {s.get(f"{_W}styleId"): s for s in styles_el.iter(f"{_W}style")}
        self._props: dict[str, dict[str, str]] = {}

    def name(self, style_id: str) -> str:
        el = self._el.get(style_id)
        node = el.find(f"{_W}name") if el is not None else None
        return (node.get(f"{_W}val") or "") if node is not None else ""

    def props(self, style_id: str) -> dict[str, str]:
        if style_id not in self._props:
            chain, seen, sid = [], set(), style_id
            while sid and sid in self._el and sid not in seen and len(chain) < 32:  # basedOn may loop
                seen.add(sid)
                chain.append(self._el[sid])
                based = self._el[sid].find(f"{_W}basedOn")
                sid = based.get(f"{_W}val") if based is not None else ""
            merged: dict[str, str] = {}
            for el in reversed(chain):
                merged.update(run_props(el.find(f"{_W}rPr")))
            self._props[style_id] = merged
        return self._props[style_id]


def run_props(rpr: Any) -> dict[str, str]:
    """<w:rPr> -> {"vanish": "", "color": "FFFFFF", "sz": "2", "shd": fill, ...}."""
    if rpr is None:
        return {}
    out = {}
    for child in rpr:
        key = str(child.tag).rsplit("}", 1)[-1]
        out[key] = child.get(f"{_W}fill" if key == "shd" else f"{_W}val") or ""
    return out


def _style_of(el: Any, prop: str, style_tag: str) -> str:
    pr = el.find(f"{_W}{prop}")
    node = pr.find(f"{_W}{style_tag}") if pr is not None else None
    return (node.get(f"{_W}val") or "") if node is not None else ""


def _paragraph(p: Any, styles: _Styles) -> tuple[str, int]:
    """A paragraph's visible text and how many runs were hidden."""
    from index.hidden import docx_hides

    para_props = styles.props(_style_of(p, "pPr", "pStyle"))
    out, hidden = [], 0
    for r in p.iter(f"{_W}r"):
        if not _own_run(r, p):
            continue
        props = {**para_props, **styles.props(_style_of(r, "rPr", "rStyle")), **run_props(r.find(f"{_W}rPr"))}
        if docx_hides(props):
            hidden += 1
            continue
        for child in r:
            tag = child.tag
            if tag == f"{_W}t":
                out.append(child.text or "")
            elif tag == f"{_W}tab":
                out.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                out.append("\n")
            elif tag == f"{_W}noBreakHyphen":
                out.append("-")
    return "".join(out), hidden


def _own_run(r: Any, p: Any) -> bool:
    """The run belongs to this paragraph (not a text box's), and is not deleted or a duplicate fallback."""
    node = r.getparent()
    while node is not None and node is not p:
        if node.tag in _SKIP or node.tag == f"{_W}p":
            return False
        node = node.getparent()
    return node is p


def _table(tbl: Any, styles: _Styles) -> tuple[str, int]:
    """One line per row, cells separated by " | " (a nested table's text stays inside its cell)."""
    rows, hidden = [], 0
    for tr in tbl.iter(f"{_W}tr"):
        if tr.getparent() is not tbl:
            continue
        cells = []
        for tc in tr.iter(f"{_W}tc"):
            if tc.getparent() is not tr:
                continue
            parts = []
            for p in tc.iter(f"{_W}p"):
                text, h = _paragraph(p, styles)
                hidden += h
                parts.append(" ".join(text.split()))
            cells.append(" ".join(x for x in parts if x))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows), hidden


class _TooLong(Exception):
    """The body's text passed the per-document character cap: stop walking it."""


def _body_blocks(body: Any, styles: _Styles, max_chars: int) -> tuple[list[str], str, int]:
    """Paragraphs and tables of the body in order (content controls opened), the title, hidden run count."""
    blocks, title, hidden, size = [], "", 0, 0
    stack = list(reversed(body))
    while stack:
        el = stack.pop()
        if el.tag == f"{_W}sdt":
            content = el.find(f"{_W}sdtContent")
            stack.extend(reversed(content) if content is not None else [])
            continue
        if el.tag == f"{_W}p":
            text, h = _paragraph(el, styles)
            style = styles.name(_style_of(el, "pPr", "pStyle")).lower()
            if not title and style in ("title", "heading 1") and text.strip():
                title = " ".join(text.split())
        elif el.tag == f"{_W}tbl":
            text, h = _table(el, styles)
        else:
            continue
        hidden += h
        blocks.append(text)
        size += len(text) + 2
        if size > max_chars + 2:  # counted as it grows: no need to read the rest of a huge body
            raise _TooLong
    return blocks, title, hidden
