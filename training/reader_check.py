"""`python -m training check-reader`: the shipped reader measured again on the SQuAD test articles, no training.

The same split (seed 18), pools and figures as the card's cascade section (training/reader_ce_eval.py),
computed from the committed weights and reader.json alone, so `make test` can gate on them
(`--fail-under NAME=VALUE`). Nothing here is fitted: the shortlist, combiner and threshold come from
reader.json, chosen on validation when the model was trained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import ConfigError


def measure(squad: Path, reader_dir: Path, cache: Path, log: Callable[[str], None]) -> dict:
    """Top-1 (retrieval-like pools and the gold paragraph alone) and abstention on the test articles."""
    from index.embedding import SentenceTransformerEmbedder
    from rag.reader.model import load_cross_encoder, load_model
    from training.metrics import abstention
    from training.reader_ce_eval import (
        _figures,
        _split_scores,
        build,
        build_near_miss,
        build_paragraph,
        combined,
        cut,
        score_ce,
    )
    from training.reader_data import CachedEmbedder, build_articles, prepare, split_articles
    from training.squad import load_squad

    t0 = time.time()
    test = split_articles(build_articles(load_squad(squad, "check-reader")))["test"]
    log(f"[1/4] embedding {len(test)} test articles (cached in {cache})")
    embedder = CachedEmbedder(SentenceTransformerEmbedder(), cache)
    prepare(test, embedder)
    embedder.save()
    _, meta = load_model(reader_dir)
    cfg = meta["cross_encoder"]
    log("[2/4] trees: features and shortlists")
    pools = cut(build(test, reader_dir, every=2) + build_paragraph(test, reader_dir)
                + build_near_miss(test, reader_dir), int(cfg["shortlist"]))
    log(f"[3/4] cross-encoder on {sum(len(p.texts) for p in pools)} (question, sentence) pairs")
    score_ce(pools, load_cross_encoder(reader_dir, meta).logits)
    log("[4/4] figures")
    w, b = cfg["weights"], cfg["bias"]
    ta, tu = _split_scores(pools, w, b)
    trees = ([p.tree_p for p in pools if p.kind == "answerable"], [p.tree_p for p in pools if p.kind == "unanswerable"])
    near = [p for p in pools if p.kind == "near-miss"]
    near_abst = {"cascade": float(np.mean([combined(p, w, b).max() < float(cfg["answer_threshold"]) for p in near])),
                 "trees": float(np.mean([p.tree_p.max() < float(meta["answer_threshold"]) for p in near])),
                 "pools": len(near)}
    return {**_figures(pools, w, b), "near_miss_abstention": near_abst,
            "cascade_abstention": abstention(ta, tu, float(cfg["answer_threshold"])),
            "trees_abstention": abstention(*trees, float(meta["answer_threshold"])),
            "seconds": round(time.time() - t0, 1)}


def flat(figures: dict) -> dict[str, float]:
    """Names --fail-under accepts: the top-level figures and `<reader>_abstention.<measure>`."""
    out = {}
    for k, v in figures.items():
        if isinstance(v, dict):
            out |= {f"{k}.{m}": float(x) for m, x in v.items() if isinstance(x, int | float)}
        elif isinstance(v, int | float):
            out[k] = float(v)
    return out


def failures(figures: dict, floors: dict[str, float]) -> list[str]:
    """Floors not met; a floor on a lower-is-better figure (false abstention) is a ceiling."""
    values = flat(figures)
    out = []
    for name, floor in floors.items():
        if name not in values:
            raise ConfigError(f"--fail-under {name}: no such figure; choose from {', '.join(sorted(values))}")
        value = values[name]
        ceiling = name.endswith("false_abstention")
        if (value > floor) if ceiling else (value < floor):
            out.append(f"{name} = {value:.4f} {'above' if ceiling else 'below'} {floor}")
    return out


def report(figures: dict) -> str:
    c, t = figures["cascade_abstention"], figures["trees_abstention"]
    rows = [("answer-sentence top-1, retrieval-like pool", "cascade_top1", "trees_top1", "heuristic_top1"),
            ("... gold passage in the pool", "cascade_top1_when_retrieved", None, None),
            ("answer-sentence top-1, gold paragraph alone", "paragraph_cascade_top1", "paragraph_trees_top1",
             "paragraph_heuristic_top1")]
    lines = ["SQuAD test articles (never used for training or thresholds)", "",
             f"{'':46} {'cascade':>8} {'trees':>8} {'heuristic':>9}"]
    for label, *keys in rows:
        cells = [f"{100 * figures[k]:7.1f}%" if k else f"{'':8}" for k in keys]
        lines.append(f"{label:46} {cells[0]:>8} {cells[1]:>8} {cells[2]:>9}")
    for name, a in (("cascade", c), ("trees", t)):
        lines.append(f"abstention ({name}): accuracy {100 * a['accuracy']:.1f}%, false abstention "
                     f"{100 * a['false_abstention']:.1f}%, recall {100 * a['abstention_recall']:.1f}% "
                     f"({a['answerable']} answerable, {a['unanswerable']} unanswerable)")
    n = figures["near_miss_abstention"]
    lines.append(f"abstention on near misses (own article, no paragraph holding the answer): cascade "
                 f"{100 * n['cascade']:.1f}%, trees {100 * n['trees']:.1f}% ({n['pools']} questions)")
    lines.append(f"({figures['seconds']} s)")
    return "\n".join(lines)


def run(squad: Path, reader_dir: Path, cache: Path, out: Path | None, floors: dict[str, float],
        log: Callable[[str], None]) -> int:
    """Measure, print the report, write JSON when asked; exit status 1 when a floor is not met."""
    figures = measure(squad, reader_dir, cache, log)
    print(report(figures))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=1) + "\n", "utf-8")
    missed = failures(figures, floors)
    for m in missed:
        print(f"check-reader: {m}")
    return 1 if missed else 0


def parse_floors(items: list[str]) -> dict[str, float]:
    floors = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            floors[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"--fail-under {item!r}: write NAME=NUMBER, e.g. cascade_top1=0.80")
    return floors
