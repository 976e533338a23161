"""Neutralising untrusted text (documents, and model text that may echo them) for every output format.

Document text is data. Wherever it leaves the server (the page, /v1 content and its sources footnote, MCP
results, the Markdown export) it goes through `inert`, which swaps the few characters that give text a
meaning beyond its words for lookalikes that have none:

- `[` `]` become fullwidth `［` `］`: a document's "[1]" can never look like (or be parsed as) one of the
  product's citation markers, and Markdown links, images and reference definitions (`![x](http://...)`,
  `[x](javascript:...)`, `[x]: url`) stop being syntax, so no tracking pixel loads and no link runs;
- `<` `>` become `‹` `›`: no HTML tag (`<script>`, `<img onerror=...>`) or autolink (`<http://...>`)
  survives a Markdown or HTML renderer that lets raw HTML through;
- bidirectional overrides and isolates become U+FFFD, so text cannot reorder itself on screen.

One character for one: the result has the same length, so offsets (highlights, citation spans) still
point at the same characters. Only the product writes ASCII "[n]" markers, on its own text; so only the
product's own footnote ("Sources:" then "[n] ..." lines) can look like one.
"""

from __future__ import annotations

_SWAP = {
    "[": "\uff3b", "]": "\uff3d",  # fullwidth square brackets
    "<": "\u2039", ">": "\u203a",  # single angle quotation marks
    **{chr(c): "\ufffd" for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}
_TABLE = str.maketrans(_SWAP)


def inert(text: str) -> str:
    """`text` with markup, fake markers and bidi controls made plain; same length, same offsets."""
    return text.translate(_TABLE) if text else text

