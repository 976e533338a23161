"""Governments named by their capital ("Seoul convened...") are found under the country's name.

News text says "South Korea" where a question says "Seoul", "Beijing" where the text says "China". The
lexical parts of retrieval and of the heuristic reader see the question with each mentioned place's country
name added, so the answering sentence shares its words. The vocabulary is core.language.words.PLACE_ALIASES.
"""

from __future__ import annotations

import re
from functools import lru_cache

from core.language.words import PLACE_ALIASES


@lru_cache(maxsize=1)
def place_pattern() -> re.Pattern[str]:
    forms = sorted({f for group in PLACE_ALIASES for f in group if len(f) > 2},
                   key=len, reverse=True)
    # capitalised forms only: "us" the pronoun and "rok" in lower case name no place
    return re.compile(r"\b(" + "|".join(re.escape(f) for f in forms) + r")\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def country_of() -> dict[str, str]:
    return {form: group[0] for group in PLACE_ALIASES for form in group}


def with_country_names(query: str) -> str:
    """`query` plus the country name of every capital, government seat or demonym it mentions (if missing)."""
    low = query.lower()
    extra = []
    for m in place_pattern().finditer(query):
        if not m.group(0)[0].isupper():
            continue
        country = country_of()[m.group(0).lower()]
        if country not in low and country not in extra:
            extra.append(country)
    return f"{query} {' '.join(extra)}" if extra else query
