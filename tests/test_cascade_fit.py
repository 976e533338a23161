"""Fitting the cascade on validation pools (training/reader_ce_eval.py): the ratio is chosen for ranking and
the calibration keeps that ranking."""

from __future__ import annotations

import numpy as np

from training.reader_ce_eval import CPool, choose_cascade, combined, fit_combiner


def _pools(n: int, seed: int = 0) -> list[CPool]:
    """Pools where the cross-encoder knows the answer and the trees are noisy: a high ratio should win."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = np.zeros(8, dtype=bool)
        y[rng.integers(8)] = True
        ce = np.where(y, 2.0, 0.0) + rng.normal(0, 0.7, 8)
        tree_p = np.clip(0.3 + rng.normal(0, 0.15, 8), 0.01, 0.99)
        out.append(CPool("answerable", "q", ["s"] * 8, tree_p, y, True, False, False, ce))
    return out


def test_ratio_chosen_for_ranking_beats_a_low_weight():
    pools = _pools(300)
    n, ratio = choose_cascade(pools, log=lambda _: None)
    assert n in (4, 6, 8)
    assert ratio >= 1.0  # the informative cross-encoder gets the weight


def test_calibration_keeps_the_ranking_of_the_chosen_ratio():
    pools = _pools(200, seed=1)
    w, b = fit_combiner(pools, 1.5)
    assert w[1] > 0 and abs(w[0] / w[1] - 1.5) < 1e-9
    for p in pools[:20]:
        z = 1.5 * p.ce + np.log(p.tree_p / (1 - p.tree_p))
        assert np.argmax(combined(p, w, b)) == np.argmax(z)
    probs = np.concatenate([combined(p, w, b) for p in pools])
    assert probs.min() > 0.0 and probs.max() < 1.0
