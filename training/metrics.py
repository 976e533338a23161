"""Figures shared by reader training and its checks: top-1, abstention at a threshold, threshold choice,
claim support and calibration reliability. Pure functions of scores and labels, so train_reader,
reader_ce_eval and reader_check share them without importing each other (this ended a cycle)."""

from __future__ import annotations

import itertools

import numpy as np

from training.reader_data import Pool


def top1(pools: list[Pool], scores: list[np.ndarray], *, only_with_answer: bool = False) -> float:
    hits = [bool(p.y[int(np.argmax(s))]) if len(s) else False
            for p, s in zip(pools, scores, strict=True) if p.y.any() or not only_with_answer]
    return round(float(np.mean(hits)), 4) if hits else 0.0


def abstention(ans: list[np.ndarray], unans: list[np.ndarray], t: float) -> dict:
    best_a = np.asarray([s.max() if len(s) else 0.0 for s in ans])
    best_u = np.asarray([s.max() if len(s) else 0.0 for s in unans])
    fa = float(np.mean(best_a < t))
    recall = float(np.mean(best_u < t))
    acc = (np.sum(best_a >= t) + np.sum(best_u < t)) / (len(best_a) + len(best_u))
    return {"threshold": round(t, 4), "accuracy": round(float(acc), 4), "false_abstention": round(fa, 4),
            "abstention_recall": round(recall, 4), "balanced_accuracy": round((1 - fa + recall) / 2, 4),
            "answerable": len(best_a), "unanswerable": len(best_u)}


def choose_answer_threshold(ans: list[np.ndarray], unans: list[np.ndarray], max_fa: float = 0.04) -> dict:
    """Best balanced accuracy among thresholds that wrongly abstain on at most max_fa of answerable pools."""
    grid = [abstention(ans, unans, float(t)) for t in np.round(np.arange(0.01, 0.9, 0.01), 2)]
    ok = [g for g in grid if g["false_abstention"] <= max_fa] or grid
    return max(ok, key=lambda g: (g["balanced_accuracy"], -g["threshold"]))


def support_pairs(pools: list[Pool], scores: list[np.ndarray]) -> tuple:
    """Per (claim, passage): the best sentence probability, and whether the passage supports the claim."""
    s_out, y_out = [], []
    for p, s in zip(pools, scores, strict=True):
        by_passage: dict[int, list[int]] = {}
        for r, (j, _) in enumerate(p.keys):
            by_passage.setdefault(j, []).append(r)
        for rows in by_passage.values():
            s_out.append(float(s[rows].max()))
            y_out.append(bool(p.y[rows].any()))
    return np.asarray(s_out), np.asarray(y_out)


def choose_support_threshold(s: np.ndarray, y: np.ndarray) -> dict:
    grid = []
    for t in np.round(np.arange(0.02, 0.95, 0.01), 2):
        pred = s >= t
        grid.append({"threshold": float(t), "accuracy": round(float(np.mean(pred == y)), 4),
                     "recall": round(float(pred[y].mean()), 4), "specificity": round(float((~pred[~y]).mean()), 4)})
    return max(grid, key=lambda g: (g["accuracy"], -g["threshold"]))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[list[dict], float]:
    rows, ece = [], 0.0
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.sum():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()), "mean_p": round(float(p[m].mean()), 3),
                         "observed": round(float(y[m].mean()), 3)})
            ece += m.sum() / len(p) * abs(float(p[m].mean()) - float(y[m].mean()))
    return rows, round(ece, 4)
