"""Load: a file on disk -> raw text + title, with real parsers per format.

Every failure is an IngestError naming the file and what to do. Size is checked before reading so a
huge file never lands in memory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import IngestError
from index.caps import check_chars

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
# formats a user may well try, with what to do instead
CONVERT_HINTS = {".doc": "An old binary Word file: save it as .docx (File > Save As), then add it again",
                 ".docm": "A macro-enabled Word file: save it as a plain .docx without macros, then add it again"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_CHARS = 3_000_000  # core.settings.Settings.max_document_chars


@dataclass(frozen=True)
class Loaded:
    """What a loader returns: text still to be cleaned; title may be empty."""

    path: str
    text: str
    title: str
    kind: str
    raw_sha256: str
    pages: tuple[str, ...] = ()  # paged formats (PDF): the text of each page, in order; text joins them
    meta: dict = field(default_factory=dict)  # what loading removed, e.g. {"hidden_text_removed": 2}


def load_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, display_name: str = "",
              max_chars: int = DEFAULT_MAX_CHARS) -> Loaded:
    p = Path(path)
    name = display_name or str(p)
    ext = p.suffix.lower()
    if ext not in SUPPORTED:
        raise IngestError(name, f"unsupported file type {ext or '(no extension)'!r}",
                          CONVERT_HINTS.get(ext, f"Supported types: {', '.join(SUPPORTED)}"))
    if not p.exists():
        raise IngestError(name, "file not found", "Check the path")
    if not p.is_file():
        raise IngestError(name, "not a regular file", "Pass a file or a folder of files")
    size = p.stat().st_size
    if size == 0:
        raise IngestError(name, "file is empty", "Add text to it or leave it out")
    if size > max_bytes:
        raise IngestError(name, f"file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit",
                          "Split it, or raise RAG_MAX_UPLOAD_BYTES")
    raw = p.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    pages: tuple[str, ...] = ()
    meta: dict = {}
    if ext == ".pdf":
        pages, title, hidden = _pdf(raw, name)
        text, kind, meta = "\n\n".join(pg.strip() for pg in pages if pg.strip()), "pdf", {"hidden_text_removed": hidden}
        title = title or _first_line_title(text)
    elif ext == ".docx":
        from index.loading_docx import docx_text

        text, title, hidden = docx_text(raw, name, max_chars)
        kind, meta, title = "docx", {"hidden_text_removed": hidden}, title or _first_line_title(text)
    else:
        decoded = _decode_text(raw, name)
        if ext in (".html", ".htm"):
            text, title = _html(decoded)
            kind = "html"
        elif ext in (".md", ".markdown"):
            text, title = _markdown(decoded)
            kind = "markdown"
        else:
            text, title = decoded, _first_line_title(decoded)
            kind = "text"
    check_chars(len(text), max_chars, name)
    if not text.strip():
        raise IngestError(name, "no readable text found", "Is it a scanned PDF or an empty page? Provide a text version")
    return Loaded(path=name, text=text, title=title, kind=kind, raw_sha256=sha, pages=pages, meta=meta)


def _decode_text(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192]:
        raise IngestError(name, "looks like a binary file (NUL bytes), not text",
                          "Convert it to .txt, .md, .html, .pdf or .docx first")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(name, f"is not valid UTF-8 text (bad byte at offset {e.start})",
                          "Re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`") from None
    # a text file that is mostly control characters is binary in disguise
    ctrl = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if ctrl > 0.05 * max(1, min(len(text), 8192)):
        raise IngestError(name, "looks like a binary file (control characters), not text",
                          "Convert it to .txt, .md, .html, .pdf or .docx first")
    return text


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            # a heading-like first line: short and not a full sentence
            if len(line) <= 200 and not line.endswith((".", "!", "?", ",", ";")):
                return line.lstrip("# ").strip()
            return ""
    return ""


def _markdown(text: str) -> tuple[str, str]:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(text)
    body, _ = _html(f"<html><body>{html}</body></html>")
    return body, markdown_title(text) or _first_line_title(body)


# One possessive run of blanks, then the rest of the line taken whole: the old lazy title with optional
# trailing spaces and hashes tried every split of a long line (cubic). The closing "#"s are cut in Python.
_MD_H1 = re.compile(r"^[ \t]{0,3}#[ \t]++([^\n]*+)", re.MULTILINE)
_TITLE_SCAN = 64 * 1024  # a title is near the top; never run a pattern over a whole huge file


def markdown_title(text: str) -> str:
    """The first ATX level-1 heading ("# Title #"), without its optional closing hashes."""
    m = _MD_H1.search(text, 0, _TITLE_SCAN)
    if not m:
        return ""
    title = m.group(1).rstrip()
    bare = title.rstrip("#")
    if bare != title and (not bare or bare[-1] in " \t"):  # CommonMark: a closing sequence follows a blank
        title = bare.rstrip()
    return title.strip()


# Blocks that are page furniture, not the document: dropped before text extraction.
_DROP_TAGS = ("script", "style", "noscript", "template", "nav", "aside", "footer", "form", "iframe", "svg",
              "button", "select", "input", "head")
_FURNITURE = re.compile(r"(^|[-_ ])(comments?|sidebar|widget|related|popular|share|social|newsletter|"
                        r"subscribe|cookie|advert|ads|promo|breadcrumbs?|footer|menu|nav)([-_ ]|$)", re.I)
_BLOCK = ("p", "div", "section", "article", "main", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
          "blockquote", "pre", "table", "tr", "br", "hr", "figcaption", "dd", "dt", "header")


def _html(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup
    from bs4.element import Comment

    from index.hidden import find_hidden, style_rules

    soup = BeautifulSoup(html, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string.strip()
    rules = style_rules([s.get_text() for s in soup.find_all("style")])  # read before <style> is dropped
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    # hidden text is invisible to a reader, so it is not part of the document (and a classic injection vector)
    # (collected first, removed after: bs4's Tag.decomposed falls back to a subtree search, quadratic when nested)
    hidden = find_hidden(soup, rules)  # CSS: inline styles and <style> rules (index.hidden)
    by_css = {id(t) for t in hidden}
    for tag in soup.find_all(True):
        ident = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
        if id(tag) not in by_css and (tag.has_attr("hidden") or tag.get("aria-hidden") == "true"
                                      or (ident and _FURNITURE.search(ident))):
            hidden.append(tag)
    for tag in hidden:
        tag.decompose()
    # the title only now: a hidden span inside <h1> must not reach every passage's title
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        title = h1.get_text(" ", strip=True)
    root = soup.find("article") or soup.find("main") or soup.body or soup
    text = _block_text(root)
    return text, title


def _block_text(root) -> str:
    """Text with a paragraph break around every block element, in one iterative pass.

    Not tree mutation (bs4's insert_before is quadratic in nesting depth) and not recursion (deep
    nesting would overflow the stack): hostile pages stay linear.
    """
    from bs4.element import CData, NavigableString, Tag

    out: list[str] = []
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            out.append("\n\n")
        elif isinstance(node, Tag):
            if node.name in _BLOCK:
                out.append("\n\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) in (NavigableString, CData):
            out.append(str(node))
    return "".join(out)


def _pdf(raw: bytes, name: str) -> tuple[tuple[str, ...], str, int]:
    """(text of each page, title, text operations drawn invisibly and cut)."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed PDFs are reported by us, once
    if not raw.lstrip().startswith(b"%PDF"):
        raise IngestError(name, "is not a PDF (missing %PDF header)", "Check the file, or give it the right extension")
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise IngestError(name, "PDF is encrypted", "Provide an unencrypted copy")
        from index.hidden import visible_pdf_text

        seen = [visible_pdf_text(page) for page in reader.pages]  # invisible text drawn on a page is cut
        meta_title = ""
        try:
            meta_title = (reader.metadata.title or "") if reader.metadata else ""
        except Exception:  # metadata is optional; a broken info dict must not sink the text
            meta_title = ""
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as e:
        raise IngestError(name, f"malformed PDF ({type(e).__name__}: {str(e)[:120]})",
                          "Re-export it, or convert it to text") from None
    return tuple(text for text, _ in seen), meta_title.strip(), sum(n for _, n in seen)
