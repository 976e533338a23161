"""`python -m training train-reader`: train the reader (rag/reader/) on SQuAD v1.1 dev, write data/reader/.

A dev command: it needs ../shared/data/squaddev_v1.1.json.gz (the project guide permits training on it
despite its BIG-bench canary; the data itself is never committed). Steps:

1. Split the 48 articles into train / validation / test with a fixed seed. Nothing of a test article
   touches training, model choice or thresholds.
2. Build pools as the product sees them. Each SQuAD paragraph is a passage; a question's pool is the
   sentences of the 5 best paragraphs of its article (ranked by best sentence cosine + word overlap; the
   gold paragraph is kept in, as retrieval has it in the top 5 for 99-100% of questions). Positive: the
   sentence holding the answer span. Unanswerable pools: the question against the 5 best paragraphs of
   OTHER articles of the same split (all negative). Claim pools (for the verifier): the answer sentence,
   "question: answer." and the same two with the answer swapped for another answer of the article; a
   swapped claim has no supporting sentence.
3. Train gradient-boosted trees and a logistic regression on the same features; pick on validation;
   choose answer and support thresholds on validation; report test once (data/reader/card.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.settings import PROJECT_ROOT
from rag.reader.features import FEATURES
from rag.reader.model import READER_DIR
from training.metrics import (
    abstention,
    choose_answer_threshold,
    choose_support_threshold,
    reliability,
    support_pairs,
    top1,
)
from training.reader_data import (
    CASES,
    N_TREE,
    SEED,
    Article,
    CachedEmbedder,
    Pool,
    answerable_pools,
    build_articles,
    case_pools,
    claim_pools,
    load_cases,
    machine,
    now,
    prepare,
    sha256_file,
    split_articles,
    stack,
    unanswerable_pools,
)
from training.squad import SQUAD, load_squad


# ---------------------------------------------------------------- models
def fit_trees(X: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = SEED, **params):
    from sklearn.ensemble import HistGradientBoostingClassifier

    cfg = {"max_iter": 250, "learning_rate": 0.08, "max_leaf_nodes": 24, "min_samples_leaf": 40,
           "l2_regularization": 1.0, "early_stopping": False, "random_state": seed, **params}
    return Sliced(HistGradientBoostingClassifier(**cfg).fit(X[:, :N_TREE], y, sample_weight=w)), cfg


class Sliced:
    """A tree model fitted on the first N_TREE feature columns."""

    def __init__(self, model) -> None:
        self.model = model

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model.decision_function(X[:, :N_TREE])


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(
        X, y, logisticregression__sample_weight=w)


def export_trees(model) -> dict[str, np.ndarray]:
    """sklearn's HistGradientBoostingClassifier (binary) as flat arrays for rag.reader.model.TreeEnsemble."""
    feats, thr, left, right, val, leaf, roots = [], [], [], [], [], [], []
    depth, offset = 0, 0
    for (pred,) in model.model._predictors:
        n = pred.nodes
        roots.append(offset)
        feats.append(n["feature_idx"])
        thr.append(n["num_threshold"])
        left.append(np.where(n["is_leaf"], 0, n["left"] + offset))
        right.append(np.where(n["is_leaf"], 0, n["right"] + offset))
        val.append(n["value"])
        leaf.append(n["is_leaf"])
        depth = max(depth, int(n["depth"].max()) + 1)
        offset += len(n)
    return {"feature": np.concatenate(feats).astype(np.int16), "threshold": np.concatenate(thr),
            "left": np.concatenate(left).astype(np.int32), "right": np.concatenate(right).astype(np.int32),
            "value": np.concatenate(val), "is_leaf": np.concatenate(leaf).astype(np.uint8),
            "roots": np.asarray(roots, dtype=np.int32), "baseline": np.asarray(model.model._baseline_prediction).ravel()[:1],
            "depth": np.asarray([depth + 1])}


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- the command
def build_pools(splits: dict[str, list[Article]], cases: list[Article], embed) -> dict[str, list[Pool]]:
    out = {"train": answerable_pools(splits["train"]) + unanswerable_pools(splits["train"], every=3)
           + claim_pools(splits["train"], embed, every=8) + case_pools(cases)}
    for name in ("val", "test"):
        arts = splits[name]
        out[name] = (answerable_pools(arts, force_gold=False) + unanswerable_pools(arts, every=1)
                     + claim_pools(arts, embed, every=4))
    out["test_article"] = answerable_pools(splits["test"], whole_article=True)
    return out


def predict_pools(pools: list[Pool], prob: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """One prediction call for all pools (per-call overhead dominates small pools), split back."""
    sizes = [len(p.X) for p in pools]
    flat = prob(np.concatenate([p.X for p in pools if len(p.X)])) if any(sizes) else np.zeros(0)
    return np.split(flat, np.cumsum(sizes)[:-1])


def of(pools: list[Pool], *kinds: str) -> list[Pool]:
    return [p for p in pools if p.kind in kinds]


def evaluate(pools: list[Pool], prob: Callable[[np.ndarray], np.ndarray], answer_t: float | None = None,
             support_t: float | None = None) -> dict:
    """Sentence ranking, answerability and claim support on one split; thresholds chosen here when None."""
    scores = predict_pools(pools, prob)
    s_of = dict(zip(map(id, pools), scores, strict=True))
    ans, una = of(pools, "answerable"), of(pools, "unanswerable")
    claims = of(pools, "claim", "claim_swapped")
    a_t = choose_answer_threshold([s_of[id(p)] for p in ans], [s_of[id(p)] for p in una]) if answer_t is None \
        else abstention([s_of[id(p)] for p in ans], [s_of[id(p)] for p in una], answer_t)
    ss, sy = support_pairs(claims, [s_of[id(p)] for p in claims])
    if support_t is None:
        s_t = choose_support_threshold(ss, sy)
    else:
        pred = ss >= support_t
        s_t = {"threshold": support_t, "accuracy": round(float(np.mean(pred == sy)), 4),
               "recall": round(float(pred[sy].mean()), 4), "specificity": round(float((~pred[~sy]).mean()), 4)}
    swapped = [s_of[id(p)] for p in of(pools, "claim_swapped")]
    rows = np.concatenate([s for p, s in zip(pools, scores, strict=True) if p.kind in ("answerable", "unanswerable")])
    ys = np.concatenate([p.y for p in pools if p.kind in ("answerable", "unanswerable")])
    table, ece = reliability(rows, ys)
    return {"top1": top1(ans, [s_of[id(p)] for p in ans]),
            "top1_when_retrieved": top1(ans, [s_of[id(p)] for p in ans], only_with_answer=True),
            "heuristic_top1": top1(ans, [p.heuristic for p in ans]),
            "heuristic_top1_when_retrieved": top1(ans, [p.heuristic for p in ans], only_with_answer=True),
            "answerability": a_t, "support": s_t,
            "swapped_claims_rejected_at_gold": round(float(np.mean([s.max() < s_t["threshold"] for s in swapped
                                                                    if len(s)])), 4) if swapped else None,
            "reliability": table, "ece": ece, "pools": {k: len(of(pools, k)) for k in
                                                       ("answerable", "unanswerable", "claim", "claim_swapped")}}


def select_model(pools: dict[str, list[Pool]], log: Callable[[str], None]) -> tuple[dict, list[dict]]:
    """Fit candidates on train, compare on validation; return the chosen one and every candidate's figures."""
    X, y = stack(pools["train"])
    w = np.concatenate([np.full(len(p.y), 5.0 if p.kind == "case" else 1.0) for p in pools["train"] if len(p.X)])
    log(f"train rows {len(y)} ({int(y.sum())} positive), features {X.shape[1]}")
    Xv, yv = stack(pools["val"])
    cands = []
    for name, fit in [("trees-250x24", lambda: fit_trees(X, y, w)[0]),
                      ("logistic", lambda: fit_logistic(X, y, w))]:
        t = now()
        model = fit()
        fit_s = round(now() - t, 1)
        raw = model.decision_function(Xv)
        a, b = fit_platt(raw, yv)

        def prob(Z, m=model, a=a, b=b):
            return sigmoid(a * m.decision_function(Z) + b)

        val = evaluate(pools["val"], prob)
        score = val["top1"] + val["answerability"]["balanced_accuracy"] + val["support"]["accuracy"]
        log(f"{name}: val top1 {val['top1']} answerability {val['answerability']} support {val['support']} "
            f"ece {val['ece']} fit {fit_s}s")
        cands.append({"name": name, "model": model, "platt": (a, b), "val": val, "fit_s": fit_s, "score": score})
    trees = [c for c in cands if c["name"].startswith("trees")]
    best = max(cands, key=lambda c: c["score"])
    if best not in trees:  # only trees ship (numpy inference); say so rather than silently switch
        log(f"logistic regression scored best on validation ({best['score']:.4f}); shipping the best trees")
        best = max(trees, key=lambda c: c["score"])
    return best, cands


def run(squad: str | None = None, out: str | None = None, cache: str | None = None,
        log: Callable[[str], None] = print, *, ce: str = "train") -> dict:
    """Trees, then the cross-encoder stage (ce: train | reuse a cached checkpoint | skip | only, keeping the
    trees in `out`)."""
    if ce == "only":
        return run_ce_only(squad, out, cache, log)
    from index.embedding import SentenceTransformerEmbedder

    t0 = now()
    path = Path(squad) if squad else SQUAD
    out_dir = Path(out) if out else READER_DIR
    data = load_squad(path, "train-reader")
    splits = split_articles(build_articles(data))
    cases = load_cases()
    embedder = CachedEmbedder(SentenceTransformerEmbedder(), Path(cache) if cache else PROJECT_ROOT / ".cache" / "reader-emb.npz")
    prepare([a for s in splits.values() for a in s] + cases, embedder)
    embedder.save()
    log(f"embedded in {now() - t0:.0f}s; building pools")
    pools = build_pools(splits, cases, embedder.embed)
    embedder.save()
    log(f"pools built at {now() - t0:.0f}s")
    t_train = now()
    best, cands = select_model(pools, log)
    train_s = round(now() - t_train, 1)
    answer_t = best["val"]["answerability"]["threshold"]
    support_t = best["val"]["support"]["threshold"]
    test = measure_test(pools, best, answer_t, support_t, log)
    meta = write_model(out_dir, best, answer_t, support_t)
    info = {"squad_file": path.name, "squad_sha256": sha256_file(path), "cases_sha256": sha256_file(CASES),
            "seed": SEED, "splits": {k: [x.title for x in v] for k, v in splits.items()},
            "questions": {k: sum(len(x.questions) for x in v) for k, v in splits.items()},
            "train_rows": int(sum(len(p.y) for p in pools["train"])), "train_seconds": train_s,
            "total_seconds": round(now() - t0, 1), "machine": machine(), "model": best["name"],
            "candidates": [{"name": c["name"], "fit_s": c["fit_s"], "val": {k: v for k, v in c["val"].items()
                                                                            if k != "reliability"}} for c in cands],
            "val": best["val"], "test": test, "weights_bytes": (out_dir / "reader.npz").stat().st_size, **meta}
    later_stages(info, splits, cases, out_dir, ce, log)
    (out_dir / "metrics.json").write_text(json.dumps(info, indent=1) + "\n", "utf-8")
    from training.reader_card import write_card

    write_card(out_dir / "card.md", info)
    log(f"wrote {out_dir}/reader.npz, reader.json, metrics.json, card.md in {now() - t0:.0f}s")
    return info


def measure_test(pools: dict[str, list[Pool]], best: dict, answer_t: float, support_t: float,
                 log: Callable[[str], None]) -> dict:
    """The one look at test, with the thresholds chosen on validation."""
    a, b = best["platt"]

    def prob(Z):
        return sigmoid(a * best["model"].decision_function(Z) + b)

    test = evaluate(pools["test"], prob, answer_t, support_t)
    art = pools["test_article"]
    test["whole_article_top1"] = top1(art, predict_pools(art, prob))
    test["whole_article_heuristic_top1"] = top1(art, [p.heuristic for p in art])
    log(f"TEST: {json.dumps({k: v for k, v in test.items() if k != 'reliability'})}")
    return test


def later_stages(info: dict, splits: dict[str, list[Article]], cases: list[Article], out_dir: Path, ce: str,
                 log: Callable[[str], None]) -> None:
    """After the trees: the cascade's cross-encoder (unless skipped), then, for the shipped reader only, the
    test questions through the real pipeline; their figures go into `info`."""
    if ce != "skip":
        from training.train_reader_ce import stage

        info["cross_encoder"] = stage(splits, cases, out_dir, cache=PROJECT_ROOT / ".cache" / "ce",
                                      retrain=ce == "train", log=log)
    if out_dir.resolve() == READER_DIR.resolve():  # the assistant loads the reader from data/reader only
        from training.reader_retrieval_eval import retrieval_eval

        info["test_retrieval"] = retrieval_eval(splits["test"], log=log)


def write_model(out_dir: Path, best: dict, answer_t: float, support_t: float) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / "reader.npz"
    np.savez_compressed(npz, **export_trees(best["model"]))
    meta = {"format": "boosted trees as flat arrays (rag.reader.model.TreeEnsemble)", "model": best["name"],
            "sha256": sha256_file(npz), "features": list(FEATURES), "platt": list(best["platt"]),
            "answer_threshold": answer_t, "support_threshold": support_t, "seed": SEED}
    (out_dir / "reader.json").write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    return {"sha256": meta["sha256"], "answer_threshold": answer_t, "support_threshold": support_t,
            "platt": meta["platt"]}


def run_ce_only(squad: str | None, out: str | None, cache: str | None, log: Callable[[str], None]) -> dict:
    """Keep the trees in `out`; (re)build only the cascade's cross-encoder (reusing .cache/ce/ce.pt when
    there) and add its figures to metrics.json and the card."""
    from index.embedding import SentenceTransformerEmbedder
    from training.reader_card import update_cascade_section
    from training.train_reader_ce import stage

    path = Path(squad) if squad else SQUAD
    out_dir = Path(out) if out else READER_DIR
    splits = split_articles(build_articles(load_squad(path, "train-reader")))
    embedder = CachedEmbedder(SentenceTransformerEmbedder(), Path(cache) if cache else PROJECT_ROOT / ".cache" / "reader-emb.npz")
    prepare(splits["train"] + splits["val"] + splits["test"], embedder)  # train: the hard-negative phase
    embedder.save()
    info = json.loads((out_dir / "metrics.json").read_text("utf-8"))
    info["cross_encoder"] = stage(splits, load_cases(), out_dir, cache=PROJECT_ROOT / ".cache" / "ce",
                                  retrain=False, log=log)
    (out_dir / "metrics.json").write_text(json.dumps(info, indent=1) + "\n", "utf-8")
    update_cascade_section(out_dir / "card.md", info["cross_encoder"])
    return info
