"""The cascade (trees shortlist -> cross-encoder rerank) fitted on validation and measured on test.

Pools are the ones the trees' card uses (training/reader_data.py): a question against the sentences of
the 5 retrieval-like paragraphs of its article (gold not forced in), or against other articles' best
paragraphs (unanswerable). The trees (data/reader/reader.npz, as shipped) shortlist the top SHORTLIST
sentences, the cross-encoder scores those; the ranking score ratio * ce logit + trees logit (shortlist and
ratio chosen on validation top-1), Platt-scaled on validation rows, is the calibrated probability. The
answer threshold is chosen on validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.reader.cross_encoder import pair_text
from rag.reader.features import features
from rag.reader.model import load_model
from training.reader_data import Article, candidate_passages, heuristic_scores, rank_passages

SHORTLIST = 8  # sentences the trees pass on (the longest tried; choose_cascade may cut)
SHORTLISTS = (4, 6, 8)
RATIOS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # cross-encoder logit weight per unit of trees logit


@dataclass
class CPool:
    kind: str  # answerable | unanswerable
    question: str
    texts: list[str]  # shortlisted second segments, trees order
    tree_p: np.ndarray  # trees probability of the shortlisted sentences
    y: np.ndarray  # shortlisted sentences holding the answer
    any_gold: bool  # the whole pool holds the answer
    heuristic_hit: bool  # today's heuristic's top-1 holds the answer
    tree_hit: bool
    ce: np.ndarray | None = None


def _second(cs, i: int) -> str:
    return pair_text(cs.texts[i], cs.texts[i - 1] if i else "")


def cascade_pool(kind: str, q, css: list, pos: int | None, gold: set[int], trees, meta: dict,
                 n: int = SHORTLIST) -> CPool:
    X, keys, _, _ = features(q.text, q.vec, css)
    a, b = meta["platt"]
    p = 1.0 / (1.0 + np.exp(-(a * trees.predict_raw(X) + b))) if len(X) else np.zeros(0)
    y = np.asarray([j == pos and i in gold for j, i in keys], dtype=bool)
    h = heuristic_scores(q, css, keys)
    top = np.argsort(-p, kind="stable")[:n]
    return CPool(kind, q.text, [_second(css[keys[r][0]], keys[r][1]) for r in top], p[top], y[top],
                 bool(y.any()), bool(len(y) and y[int(np.argmax(h))]), bool(len(y) and y[int(np.argmax(p))]))


def build_paragraph(arts: list[Article], directory: Path) -> list[CPool]:
    """Each answerable question against its own paragraph only (kind "paragraph"): SQuAD's usual
    sentence-selection setting, easier than the retrieval-like pools; reported beside them, never fitted on."""
    trees, meta = load_model(directory)
    return [cascade_pool("paragraph", q, *candidate_passages(q, art, force_gold=True, whole_article=False,
                                                             gold_only=True), trees, meta)
            for art in arts for q in art.questions if q.paragraph >= 0]


def near_miss_passages(q, art: Article) -> list:
    """The question's own article without any paragraph holding one of its answers (case-folded): the
    documents touch the topic but do not settle the question, the hard kind of unanswerable."""
    answers = [a.casefold() for a, _ in q.answers]
    rest = [cs for i, cs in enumerate(art.css)
            if i != q.paragraph and not any(a in cs.chunk.text.casefold() for a in answers)]
    return [rest[i] for i in rank_passages(q, rest)] if rest else []


def build_near_miss(arts: list[Article], directory: Path, every: int = 2) -> list[CPool]:
    """Kind "near-miss": every `every`-th question against near_miss_passages; never fitted on."""
    trees, meta = load_model(directory)
    out = []
    for art in arts:
        for n, q in enumerate(art.questions):
            if q.paragraph >= 0 and n % every == 0 and (css := near_miss_passages(q, art)):
                out.append(cascade_pool("near-miss", q, css, None, set(), trees, meta))
    return out


def build(arts: list[Article], directory: Path, *, whole_article: bool = False, every: int = 1,
          answerable_every: int = 1) -> list[CPool]:
    """Answerable (every `answerable_every`-th question) and unanswerable (every `every`-th) cascade pools
    of these articles (one split). Subsampling only saves CPU time: the cross-encoder costs ~20 ms a pair
    on the shared machine."""
    trees, meta = load_model(directory)
    out = []
    for art in arts:
        others = [cs for o in arts if o is not art for cs in o.css]
        for n, q in enumerate(art.questions):
            if q.paragraph < 0:
                continue
            css, pos, gold = candidate_passages(q, art, force_gold=False, whole_article=whole_article)
            if n % answerable_every == 0:
                out.append(cascade_pool("answerable", q, css, pos, gold, trees, meta))
            if not whole_article and n % every == 0:
                u = [others[i] for i in rank_passages(q, others)]
                out.append(cascade_pool("unanswerable", q, u, None, set(), trees, meta))
    return out


def score_ce(pools: list[CPool], logits: Callable[[list[str], list[str]], np.ndarray]) -> None:
    qs = [p.question for p in pools for _ in p.texts]
    ts = [t for p in pools for t in p.texts]
    flat = logits(qs, ts)
    k = 0
    for p in pools:
        p.ce = flat[k:k + len(p.texts)]
        k += len(p.texts)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def design(p: CPool) -> np.ndarray:
    return np.stack([p.ce, _logit(p.tree_p)], axis=1)


def fit_combiner(pools: list[CPool], ratio: float) -> tuple[list[float], float]:
    """Calibrate the ranking score z = ratio * ce logit + trees logit (Platt on validation rows); returned as
    weights on [ce, trees logit], so the shipped combine() keeps the ranking that `ratio` chose."""
    from sklearn.linear_model import LogisticRegression

    z = np.concatenate([design(p) @ np.asarray([ratio, 1.0]) for p in pools])
    y = np.concatenate([p.y for p in pools])
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(z[:, None], y)
    a = float(lr.coef_[0][0])
    return [a * ratio, a], float(lr.intercept_[0])


def combined(p: CPool, w: list[float], b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(design(p) @ np.asarray(w) + b)))


def _top1(pools: list[CPool], scores: Callable[[CPool], np.ndarray], *, only_with_answer: bool = False) -> float:
    hits = [bool(p.y[int(np.argmax(scores(p)))]) for p in pools
            if p.kind == "answerable" and (p.any_gold or not only_with_answer)]
    return round(float(np.mean(hits)), 4)


def paragraph_figures(pools: list[CPool], w: list[float], b: float) -> dict:
    """Top-1 within the gold paragraph (kind "paragraph" pools) for the cascade, each part and the heuristic."""
    par = [replace(p, kind="answerable") for p in pools if p.kind == "paragraph"]
    if not par:
        return {}
    return {"paragraph_cascade_top1": _top1(par, lambda p: combined(p, w, b)),
            "paragraph_ce_only_top1": _top1(par, lambda p: p.ce),
            "paragraph_trees_top1": round(float(np.mean([p.tree_hit for p in par])), 4),
            "paragraph_heuristic_top1": round(float(np.mean([p.heuristic_hit for p in par])), 4),
            "paragraph_pools": len(par)}


def _figures(pools: list[CPool], w: list[float], b: float) -> dict:
    ans = [p for p in pools if p.kind == "answerable"]
    return {**paragraph_figures(pools, w, b),"cascade_top1": _top1(pools, lambda p: combined(p, w, b)),
            "cascade_top1_when_retrieved": _top1(pools, lambda p: combined(p, w, b), only_with_answer=True),
            "ce_only_top1": _top1(pools, lambda p: p.ce),
            "trees_top1": round(float(np.mean([p.tree_hit for p in ans])), 4),
            "heuristic_top1": round(float(np.mean([p.heuristic_hit for p in ans])), 4),
            "shortlist_recall": round(float(np.mean([p.y.any() for p in ans if p.any_gold])), 4),
            "gold_in_pool": round(float(np.mean([p.any_gold for p in ans])), 4)}


def _split_scores(pools: list[CPool], w: list[float], b: float) -> tuple[list, list]:
    return ([combined(p, w, b) for p in pools if p.kind == "answerable"],
            [combined(p, w, b) for p in pools if p.kind == "unanswerable"])


def cut(pools: list[CPool], n: int) -> list[CPool]:
    """The same pools with the trees' top n only (a shorter shortlist, without rescoring)."""
    return [replace(p, texts=p.texts[:n], tree_p=p.tree_p[:n], y=p.y[:n],
                    ce=None if p.ce is None else p.ce[:n]) for p in pools]


def choose_cascade(val: list[CPool], log: Callable[[str], None]) -> tuple[int, float]:
    """Shortlist length and the cross-encoder's weight against the trees, by validation top-1: the shortest
    shortlist within half a point of the best (each pair costs query time), then its best ratio. A
    calibration fit alone weighted the cross-encoder too little for ranking (card)."""
    top = {(n, r): _top1(cut(val, n), lambda p, r=r: design(p) @ np.asarray([r, 1.0]))
           for n in SHORTLISTS for r in RATIOS}
    log(f"validation top-1 by (shortlist, ratio): {top}")
    best = max(top.values())
    n = min(n for (n, _), t in top.items() if t >= best - 0.005)
    return n, max((r for m, r in top if m == n), key=lambda r: top[(n, r)])


def measure(val: list[CPool], test: list[CPool], ce, ce_fp32=None, log: Callable[[str], None] = print) -> dict:
    """Choose the shortlist, fit the combiner and threshold on validation, then the one look at test."""
    from training.metrics import abstention, choose_answer_threshold, reliability

    score_ce(val, ce.logits)
    n, ratio = choose_cascade(val, log)
    val = cut(val, n)
    w, b = fit_combiner(val, ratio)
    va, vu = _split_scores(val, w, b)
    thr = choose_answer_threshold(va, vu)
    rows = np.concatenate([combined(p, w, b) for p in val])
    table, ece = reliability(rows, np.concatenate([p.y for p in val]))
    out = {"shortlist": n, "ratio": ratio, "weights": w, "bias": b, "answer_threshold": thr["threshold"],
           "val": {**_figures(val, w, b), "answerability": thr, "reliability": table, "ece": ece}}
    log(f"cascade val: {json.dumps({k: v for k, v in out['val'].items() if k != 'reliability'})}")
    if ce_fp32 is not None:  # int8 against fp32 on every 8th validation answerable pool
        ans = [p for p in val if p.kind == "answerable"][::8]
        int8 = _top1(ans, lambda p: combined(p, w, b))
        score_ce(ans, ce_fp32.logits)
        out["val"]["fp32_cascade_top1"], out["val"]["int8_cascade_top1"] = _top1(ans, lambda p: combined(p, w, b)), int8
        out["val"]["int8_vs_fp32_pools"] = len(ans)
        log(f"val top-1 fp32 {out['val']['fp32_cascade_top1']} int8 {int8} ({len(ans)} pools)")
    test = cut(test, n)
    score_ce(test, ce.logits)
    ta, tu = _split_scores(test, w, b)
    ranked = [p for p in test if p.kind in ("answerable", "unanswerable")]
    rows = np.concatenate([combined(p, w, b) for p in ranked])
    table, ece = reliability(rows, np.concatenate([p.y for p in ranked]))
    near = [combined(p, w, b).max() < thr["threshold"] for p in test if p.kind == "near-miss"]
    out["test"] = {**_figures(test, w, b), "answerability": abstention(ta, tu, thr["threshold"]),
                   "near_miss_abstention": round(float(np.mean(near)), 4) if near else None,
                   "near_miss_pools": len(near),
                   "reliability": table, "ece": ece}
    log(f"cascade TEST: {json.dumps({k: v for k, v in out['test'].items() if k != 'reliability'})}")
    return out
