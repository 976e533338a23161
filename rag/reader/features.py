"""The reader's feature columns: named, computed identically for training and at runtime.

A row is built as {column name: value} and laid out in FEATURES order, so adding or reordering a column
cannot silently shift the others; the saved model's column list (reader.json "features") must equal
FEATURES, which rag.reader.model checks when it loads.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from core.language.answer_types import WH_TYPES, wh_type
from core.language.names import MIDSENTENCE_CAP, QUOTE_MARK, SAID_MENTION, entity_terms
from core.language.quantities import CLOCK_MENTION, DATE, MONEY_MENTION, NUMBER, UNIT_MENTION, YEAR_MENTION
from core.language.terms import content_terms, coverage, term_set, words
from rag.reader.evidence import ChunkSentences

SENT_TYPES = ("number", "year", "day", "clock", "unit", "money", "new_name", "said", "quote")
# the patterns behind SENT_TYPES other than new_name, in SENT_TYPES order
_TYPE_PATTERNS = (NUMBER, YEAR_MENTION, DATE, CLOCK_MENTION, UNIT_MENTION, MONEY_MENTION, SAID_MENTION, QUOTE_MARK)

BASE_FEATURES = (
    "cos", "cos_full", "cos_prev", "cos_next", "cos_passage_best", "cos_minus_pool_best", "cos_rank",
    "lex", "lex_ctx", "lex_chunk", "lex_idf", "lex_idf_ctx", "lex_idf_minus_pool_best", "lex_idf_rank",
    "bigram", "entity", "entity_ctx", "novel", "log_terms", "sent_pos", "is_first", "passage_rank",
    "pool_best_cos", "pool_best_lex_idf", "log_pool", "q_terms",
)
# filled in by _with_pool_features, once the whole pool is known
_POOL_COLUMNS = frozenset({"cos_minus_pool_best", "cos_rank", "lex_idf_minus_pool_best", "lex_idf_rank",
                           "pool_best_cos", "pool_best_lex_idf", "log_pool"})
FEATURES = (
    BASE_FEATURES
    + tuple(f"wh_{w}" for w in WH_TYPES)
    + tuple(f"has_{s}" for s in SENT_TYPES)
    + tuple(f"wh_{w}_x_{s}" for w in WH_TYPES for s in SENT_TYPES)
)
_COL = {name: k for k, name in enumerate(FEATURES)}


@lru_cache(maxsize=65536)  # sentences recur across questions: read each once
def _sentence_facts(text: str) -> tuple[tuple[float, ...], frozenset[str], frozenset[tuple[str, str]]]:
    """Type flags (all but new_name), capitalised words (lower-cased), content-term bigrams."""
    flags = tuple(float(bool(p.search(text))) for p in _TYPE_PATTERNS)
    caps = frozenset(m.group(0).lower() for m in MIDSENTENCE_CAP.finditer(text))
    return flags, caps, frozenset(_bigrams(content_terms(text)))


def sentence_types(text: str, q_words: frozenset[str]) -> list[float]:
    """What a sentence contains, for crossing with the question type (learned, not hard gates)."""
    flags, caps, _ = _sentence_facts(text)
    return [*flags[:6], float(bool(caps - q_words)), *flags[6:]]


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(terms))


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the best value, rising; divided by the pool size so pools of any size compare."""
    order = np.argsort(-values, kind="stable")
    r = np.empty(len(values))
    r[order] = np.arange(len(values))
    return r / max(1, len(values))


class _Question:
    """What every row compares with: the question's terms, bigrams, entities, type and idf weights."""

    def __init__(self, question: str, css: list[ChunkSentences], claim: bool) -> None:
        self.terms = term_set(question)
        self.bigrams = _bigrams(content_terms(question))
        self.words = frozenset(words(question))
        self.entities = entity_terms(question)
        wh = "claim" if claim else wh_type(question)
        self.wh = {f"wh_{w}": float(w == wh) for w in WH_TYPES}
        all_terms = [t for cs in css for t in cs.terms]
        df: dict[str, int] = {}
        for t in all_terms:
            for w in t & self.terms:
                df[w] = df.get(w, 0) + 1
        n_sent = max(1, len(all_terms))
        self.idf = {w: math.log(1 + n_sent / (1 + df.get(w, 0))) for w in self.terms}
        self.idf_total = sum(self.idf.values()) or 1.0

    def lex_idf(self, terms: frozenset[str]) -> float:
        return sum(self.idf[w] for w in self.terms & terms) / self.idf_total


def _row(q: _Question, cs: ChunkSentences, cos: np.ndarray, q_vec: np.ndarray, j: int, i: int) -> list[float]:
    """One sentence's base columns (pool columns 0 for now), in FEATURES order up to the crosses."""
    text, terms = cs.texts[i], cs.terms[i]
    ctx = terms | (cs.terms[i - 1] if i > 0 else frozenset()) | (
        cs.terms[i + 1] if i + 1 < len(cs.texts) else frozenset())
    col = dict.fromkeys(_POOL_COLUMNS, 0.0)
    col.update(
        cos=float(cos[i]), cos_full=float(cs.sentence_vec(i) @ q_vec),
        cos_prev=float(cos[i - 1]) if i > 0 else 0.0, cos_next=float(cos[i + 1]) if i + 1 < len(cos) else 0.0,
        cos_passage_best=float(cos.max()) if len(cos) else 0.0,
        lex=coverage(q.terms, terms), lex_ctx=coverage(q.terms, ctx), lex_chunk=coverage(q.terms, cs.chunk_terms),
        lex_idf=q.lex_idf(terms), lex_idf_ctx=q.lex_idf(ctx),
        bigram=len(q.bigrams & _sentence_facts(text)[2]) / len(q.bigrams) if q.bigrams else 0.0,
        entity=coverage(q.entities, terms) if q.entities else 1.0,
        entity_ctx=coverage(q.entities, ctx) if q.entities else 1.0,
        novel=1.0 - coverage(terms, q.terms) if terms else 0.0, log_terms=math.log1p(len(terms)),
        sent_pos=min(i, 10) / 10, is_first=float(i == 0), passage_rank=min(j, 10) / 10,
        q_terms=math.log1p(len(q.terms)),
    )
    col.update(q.wh)
    col.update(zip((f"has_{s}" for s in SENT_TYPES), sentence_types(text, q.words), strict=True))
    return [col[name] for name in FEATURES[:len(BASE_FEATURES) + len(WH_TYPES) + len(SENT_TYPES)]]


def features(question: str, q_vec: np.ndarray, css: list[ChunkSentences], *, claim: bool = False
             ) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Feature rows for every sentence of `css` (passages in rank order) against a question or claim.

    Returns (X, [(passage, sentence)], cosines, lexical coverage). Shared verbatim by training and runtime.
    """
    q = _Question(question, css, claim)
    keys: list[tuple[int, int]] = []
    rows: list[list[float]] = []
    for j, cs in enumerate(css):
        cos = cs.cosines(q_vec) if len(cs.texts) else np.zeros(0)
        for i in range(len(cs.texts)):
            rows.append(_row(q, cs, cos, q_vec, j, i))
            keys.append((j, i))
    if not rows:
        return np.zeros((0, len(FEATURES))), [], np.zeros(0), np.zeros(0)
    X = _with_pool_features(np.asarray(rows, dtype=np.float64))
    return X, keys, X[:, _COL["cos"]].copy(), X[:, _COL["lex"]].copy()


def _with_pool_features(base: np.ndarray) -> np.ndarray:
    """Add the type crosses and the features that compare a sentence with the rest of its pool."""
    n_wh, n_ty = len(WH_TYPES), len(SENT_TYPES)
    wh_part, ty_part = base[:, -n_wh - n_ty:-n_ty], base[:, -n_ty:]
    crosses = (wh_part[:, :, None] * ty_part[:, None, :]).reshape(len(base), n_wh * n_ty)
    X = np.concatenate([base, crosses], axis=1)
    f = _COL
    X[:, f["cos_minus_pool_best"]] = X[:, f["cos"]] - X[:, f["cos"]].max()
    X[:, f["cos_rank"]] = _ranks(X[:, f["cos"]])
    X[:, f["lex_idf_minus_pool_best"]] = X[:, f["lex_idf"]] - X[:, f["lex_idf"]].max()
    X[:, f["lex_idf_rank"]] = _ranks(X[:, f["lex_idf"]])
    X[:, f["pool_best_cos"]] = X[:, f["cos"]].max()
    X[:, f["pool_best_lex_idf"]] = X[:, f["lex_idf"]].max()
    X[:, f["log_pool"]] = math.log1p(len(base))
    return X
