"""Minimal valid PDFs built by hand, so tests need no PDF writer library."""

from __future__ import annotations

import io


def pdf_bytes(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF with text, built by hand."""
    return pdf_from_content("BT /F1 12 Tf 72 720 Td " + " ".join(f"({ln}) Tj 0 -16 Td" for ln in lines) + " ET")


def pdf_from_content(content: str) -> bytes:
    """A one-page PDF whose page content stream is `content` (font /F1 is Helvetica)."""
    return pdf_from_contents([content])


def pdf_pages(pages: list[list[str]]) -> bytes:
    """A PDF with one page per list of lines (lines are Latin-1 text; parentheses and backslashes escaped)."""
    def esc(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return pdf_from_contents(["BT /F1 12 Tf 72 720 Td " + " ".join(f"({esc(ln)}) Tj 0 -16 Td" for ln in lines) + " ET"
                              for lines in pages])


def pdf_from_contents(contents: list[str]) -> bytes:
    """A PDF with one page per content stream (font /F1 is Helvetica on every page)."""
    n = len(contents)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, content in enumerate(contents):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
                    "/Resources << /Font << /F1 3 0 R >> >> >>")
        objs.append(f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
