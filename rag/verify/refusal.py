"""A model's own refusal: a generated answer that says the sources don't answer.

The gate (rag/gate) refuses before generation; this recognises a generator that refused anyway, so its
draft is treated as no answer (or replaced, for an LLM draft).
"""

from __future__ import annotations

import re

_REFUSALS = [
    r"\b(?:the\s+)?(?:provided\s+)?(?:sources?|passages?|documents?|context|texts?|articles?|excerpts?|information(?:\s+provided)?)"
    r"(?:\s+provided)?\s+(?:do(?:es)?\s+not|don'?t|doesn'?t|did\s+not|didn'?t)\s+"
    r"(?:say|mention|contain|cover|provide|include|specify|state|answer|address|discuss|give|tell)",
    r"\b(?:there\s+is|there's)\s+no\s+(?:relevant\s+)?(?:information|mention|evidence|data)\b",
    r"\bI\s+(?:do\s+not|don'?t)\s+know\b",
    r"\b(?:I\s+)?(?:cannot|can'?t|am\s+unable\s+to|unable\s+to|could\s+not|couldn'?t)\s+"
    r"(?:answer|find|determine|tell|say)\b",
    r"\bnot\s+(?:mentioned|stated|specified|covered|provided|addressed|discussed|included)\s+in\s+the\s+"
    r"(?:sources?|passages?|documents?|context|texts?|articles?)",
    r"\bno\s+(?:relevant\s+)?information\s+(?:about|on|regarding)\b",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in _REFUSALS), re.IGNORECASE)


def is_refusal(text: str, window: int = 200) -> bool:
    """A generated answer that says the sources don't answer (looked for near its start)."""
    head = re.sub(r"\s+", " ", text.strip())[:window]
    return bool(head) and bool(_REFUSAL.search(head.replace("’", "'")))
