"""data/reader/card.md: the reader's model card, written by `python -m training train-reader` from its metrics."""

from __future__ import annotations

from pathlib import Path

from rag.reader.features import FEATURES


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _headline(t: dict) -> list[str]:
    a, s = t["answerability"], t["support"]
    return [
        "| test articles (never used for training, model choice or thresholds) | reader | heuristic (today's extractive score) |",
        "|---|---|---|",
        f"| answer-sentence top-1, retrieval-like pool (5 best passages of the article; gold may be missing) "
        f"| {_pct(t['top1'])} | {_pct(t['heuristic_top1'])} |",
        f"| ... same, questions whose gold passage is in the pool | {_pct(t['top1_when_retrieved'])} "
        f"| {_pct(t['heuristic_top1_when_retrieved'])} |",
        f"| answer-sentence top-1, whole gold article as the pool | {_pct(t['whole_article_top1'])} "
        f"| {_pct(t['whole_article_heuristic_top1'])} |",
        f"| abstention accuracy (answerable vs other articles' questions) | {_pct(a['accuracy'])} | see docs/reader.md |",
        f"| false abstention (answerable questions abstained on) | {_pct(a['false_abstention'])} | |",
        f"| abstention recall (unanswerable questions abstained on) | {_pct(a['abstention_recall'])} | |",
        f"| claim support accuracy (claim, passage) | {_pct(s['accuracy'])} | |",
        f"| ... true claims accepted / non-supporting passages rejected | {_pct(s['recall'])} / {_pct(s['specificity'])} | |",
        f"| answer-swapped claims rejected by their original sentence | {_pct(t['swapped_claims_rejected_at_gold'])} | |",
    ]


def _retrieval(r: dict | None) -> list[str]:
    if not r:
        return []
    rows = [("answer-sentence top-1 (generator's best sentence holds a gold answer)", "top1"),
            ("gold answer in the retrieved top-k passages", "answer_in_top_k_passages"),
            ("top-1 when the answer is in the top-k", "top1_when_in_top_k"),
            ("end-to-end answer holds a gold answer", "answer_correct"),
            ("false abstention (answerable)", "false_abstention"),
            ("abstention recall (questions of test articles not in the index)", "abstention_recall"),
            ("abstention accuracy", "abstention_accuracy")]
    out = ["Through the product's pipeline (real index of test articles "
           f"{', '.join(r['ingested'])} + the bundled article; unanswerable: questions of "
           f"{', '.join(r['held_out'])}; {r['answerable']} answerable + {r['unanswerable']} unanswerable "
           "questions; hybrid retrieval, k=5 chunks, gate, extractive generator, verifier):", "",
           "| measure | learned reader | heuristic |", "|---|---|---|"]
    out += [f"| {label} | {_pct(r['learned'][k])} | {_pct(r['heuristic'][k])} |" for label, k in rows]
    return [*out, ""]


def _reliability(rows: list[dict], ece: float, title: str) -> list[str]:
    out = [f"{title} (sentence level, calibrated probability; ECE {ece:.4f}):", "",
           "| bin | sentences | mean predicted | observed share holding the answer |", "|---|---|---|---|"]
    out += [f"| {r['bin']} | {r['n']} | {r['mean_p']:.3f} | {r['observed']:.3f} |" for r in rows]
    return out


def _data_section(m: dict) -> list[str]:
    """Where the training data came from, how it was split, and the features."""
    return [
        "# Reader model card", "",
        "What: gradient-boosted trees scoring (question or claim, sentence in its passage) pairs; one model "
        "ranks answer sentences, decides answerability and checks claim support (rag/reader/).", "",
        "## Data", "",
        f"- SQuAD v1.1 dev (`{m['squad_file']}`, sha256 `{m['squad_sha256']}`). The file carries the "
        "BIG-bench canary; the project guide explicitly permits training this reader on it. The data is not "
        "committed; only the weights and these figures are.",
        f"- Hand-written cases `data/reader/cases.jsonl` (sha256 `{m['cases_sha256']}`): units, clock times, "
        "governments named by their capital, who-said attribution, and unanswerable twins. **Train only.**",
        f"- Split by article, seed {m['seed']}: train {len(m['splits']['train'])} articles "
        f"({m['questions']['train']} questions), validation {len(m['splits']['val'])} "
        f"({m['questions']['val']}), test {len(m['splits']['test'])} ({m['questions']['test']}).",
        f"- Test articles: {', '.join(m['splits']['test'])}.",
        f"- Validation articles: {', '.join(m['splits']['val'])}.",
        f"- {m['train_rows']} training rows (sentence, question/claim pairs).", "",
        "## Features", "", f"{len(FEATURES)} features: " + ", ".join(f"`{f}`" for f in FEATURES[:40])
        + ", and the question type crossed with each sentence type.", "",
    ]


def _training_and_limits(m: dict) -> list[str]:
    return ["## Training", "",
            f"- {m['train_seconds']} s to fit and compare the candidates; {m['total_seconds']} s in all "
            f"(embedding cached in .cache/ after the first run). Machine: {m['machine']}.",
            f"- Weights: `reader.npz` ({m['weights_bytes']} bytes, numpy arrays, no pickle), sha256 "
            f"`{m['sha256']}` recorded in `reader.json` and checked on load.",
            "- Reproduce: `python -m training train-reader` (`--squad PATH` if ../shared is elsewhere).", "",
            "## Limits", "",
            "- Trained on encyclopedic prose. Informal text (forum posts, reviews) is not in training and "
            "was not measured here.",
            "- Unanswerable training examples are other articles' questions: questions the documents touch "
            "but do not settle are rarer in training than in use.",
            "- Claim support is learned from answer sentences and \"question: answer.\" claims; long LLM "
            "paraphrases are out of its training distribution.",
            "- Labels are span-based: a second sentence that also states the answer counts as a negative.", ""]


def write_card(path: Path, m: dict) -> None:
    t, v = m["test"], m["val"]
    lines = [
        *_data_section(m),
        "## Model choice (validation)", "",
        "| candidate | val top-1 | val answerability (balanced acc.) | val support acc. | val ECE | fit s |",
        "|---|---|---|---|---|---|",
    ]
    for c in m["candidates"]:
        cv = c["val"]
        lines.append(f"| {c['name']}{' **chosen**' if c['name'] == m['model'] else ''} | {_pct(cv['top1'])} | "
                     f"{_pct(cv['answerability']['balanced_accuracy'])} | {_pct(cv['support']['accuracy'])} | "
                     f"{cv['ece']:.4f} | {c['fit_s']} |")
    lines += ["", f"Thresholds chosen on validation: answer `{m['answer_threshold']}` (best balanced accuracy with "
              f"at most 4% false abstention), support `{m['support_threshold']}` (best accuracy). Platt scaling "
              f"fitted on validation: a={m['platt'][0]:.4f}, b={m['platt'][1]:.4f}.", "",
              "## Test (reported once)", "", *_headline(t), "",
              *_retrieval(m.get("test_retrieval")),
              *_reliability(t["reliability"], t["ece"], "Reliability on test"), "",
              *_reliability(v["reliability"], v["ece"], "Reliability on validation"), "",
              *_training_and_limits(m)]
    if m.get("cross_encoder"):
        lines += cascade_section(m["cross_encoder"])
    path.write_text("\n".join(lines), "utf-8")


CASCADE_HEADING = "## The cascade: trees shortlist, cross-encoder rerank (RAG_READER=cascade)"


def update_cascade_section(path: Path, ce: dict) -> None:
    """Replace (or add) the card's cascade section, keeping everything above it as written."""
    text = path.read_text("utf-8") if path.is_file() else ""
    head = text.split(CASCADE_HEADING)[0].rstrip("\n")
    path.write_text(head + "\n\n" + "\n".join(cascade_section(ce)), "utf-8")


def _epochs(tr: dict) -> str:
    return f"{tr['groups'] / 6611:.1f}" if isinstance(tr.get("groups"), int | float) else "?"


def _hard(tr: dict) -> str:
    h = tr.get("hard") or {}
    return (f"{h.get('steps', '?')} steps at learning rate {h.get('lr', '?')}, {h.get('train_s', '?')} s on {h.get('threads', '?')} "
            "threads") if h else "not recorded"


def _paragraph_rows(t: dict) -> list[str]:
    """SQuAD's usual setting (the gold paragraph alone), when measured: easier than the pools above."""
    if "paragraph_cascade_top1" not in t:
        return []
    return ["", "| test articles, the gold paragraph alone (SQuAD's usual sentence selection; easier) | cascade | trees "
            "| heuristic |", "|---|---|---|---|",
            f"| answer-sentence top-1 ({t['paragraph_pools']} questions) | {_pct(t['paragraph_cascade_top1'])} | "
            f"{_pct(t['paragraph_trees_top1'])} | {_pct(t['paragraph_heuristic_top1'])} |",
            f"| cross-encoder alone | {_pct(t['paragraph_ce_only_top1'])} | | |"]


def _cascade_method(ce: dict) -> str:
    """How the cascade is built and how it decides (one paragraph)."""
    return (f"The trees above rank every sentence; their top {ce['shortlist']} go to a cross-encoder (the packaged "
            f"all-MiniLM-L6-v2's first {ce['layers']} layers, word embeddings frozen, mean pooled, one-logit head; "
            f"input `[CLS] question [SEP] sentence | previous sentence [SEP]`, {ce['max_len']} tokens), fine-tuned "
            "here on the train articles only (1 answer sentence + 6 negatives per question: the article's sentences "
            "sharing the most idf-weighted words, one more from the gold paragraph, one from another article, and "
            "the answer sentence with its answer cut out; softmax + binary cross-entropy), then a hard-negative "
            "phase from that checkpoint: per question the answer sentence, the trees' top 6 wrong sentences from "
            "its retrieval-like pool and the answer-deleted sentence. The ranking score is "
            f"{ce.get('ratio', '?')} x cross-encoder logit + trees logit (the ratio chosen on validation top-1); "
            "Platt scaling of that score on validation gives the probability (weights "
            f"{ce['weights'][0]:.3f}, {ce['weights'][1]:.3f}, bias {ce['bias']:.3f}); answer threshold `{ce['answer_threshold']}` chosen on validation (best balanced "
            "accuracy, at most 4% false abstention). Claim support does not use the cascade: in the product it "
            "stays with similarity and the attribution guard, because the trees' support check passed only 94% "
            "(article) and 82% (bridge) of the bundled documents' true sentences in the perturbation gate.")


def _cascade_notes(ce: dict, tr: dict) -> list[str]:
    """Training time, weights, how to reproduce, limits."""
    return [f"- Training: {tr.get('steps', '?')} steps of 4 questions ({tr.get('groups', '?')} question groups: "
            f"{_epochs(tr)} epochs of the 6,611 train question groups; learning-rate schedule planned for "
            f"{tr.get('planned_steps', '?')} steps), {tr.get('train_s', '?')} s on {tr.get('threads', 1)} thread of "
            f"the 2-core machine (other jobs ran beside it); the hard-negative phase {_hard(tr)}; fitting and "
            "measuring the cascade "
            f"{ce['measure_s']} s. Machine: x86_64, 2 CPU cores, CPython 3.11.7, torch 2.13 CPU.",
            f"- Weights: `cross_encoder.onnx` (int8 dynamic quantisation of the MatMuls and the word embeddings, {ce['bytes']} bytes), "
            f"sha256 `{ce['sha256']}` in `reader.json` (`cross_encoder`), checked on load; served by onnxruntime "
            "and tokenizers (no torch on the query path).",
            "- Reproduce: `python -m training train-reader` (all), `--ce only` (cascade over the committed trees), "
            "`--ce reuse` (skip fine-tuning, reuse .cache/ce/ce.pt and ce_hard.pt), `--ce skip`.",
            "- Limits: far from the issue's 0.85 top-1 in retrieval-like pools (it is met only within the gold "
            "paragraph, SQuAD's usual setting); more epochs over the same 32 train articles stopped helping. Trained on "
            "encyclopedic prose: informal text and follow-up questions are out of its distribution. Known "
            "hand-written misses are expected failures in tests/test_reader_cascade.py."]


def cascade_section(ce: dict) -> list[str]:
    t, v, tr = ce["test"], ce["val"], ce.get("train", {})
    a = t["answerability"]
    lines = [CASCADE_HEADING, "", _cascade_method(ce), "",
             "| test articles, retrieval-like pool (same pools as the table above) | cascade | trees | heuristic |",
             "|---|---|---|---|",
             f"| answer-sentence top-1 | {_pct(t['cascade_top1'])} | {_pct(t['trees_top1'])} | {_pct(t['heuristic_top1'])} |",
             f"| ... questions whose gold passage is in the pool | {_pct(t['cascade_top1_when_retrieved'])} | | |",
             f"| cross-encoder alone on the shortlist | {_pct(t['ce_only_top1'])} | | |",
             f"| shortlist recall (gold sentence in the trees' top {ce['shortlist']}, gold passage in pool) "
             f"| {_pct(t['shortlist_recall'])} | | |",
             f"| abstention accuracy | {_pct(a['accuracy'])} | | |",
             f"| false abstention / abstention recall | {_pct(a['false_abstention'])} / {_pct(a['abstention_recall'])} | | |",
             f"| abstention on near misses (own article without the paragraphs holding the answer; "
             f"{t.get('near_miss_pools', 0)} questions) | {_pct(t.get('near_miss_abstention'))} | | |",
             *_paragraph_rows(t),
             "", "Test pools: all 1,868 answerable questions; unanswerable: every 2nd question against the other "
             "test articles (CPU time). Validation pools: every 2nd question, every 4th unanswerable.", "",
             f"Validation: cascade top-1 {_pct(v['cascade_top1'])}, trees {_pct(v['trees_top1'])}, heuristic "
             f"{_pct(v['heuristic_top1'])}. The shortlist length was chosen on validation as the shortest within "
             "half a point of the best of 4, 6 and 8 (each with its best ratio of 0.25-3). int8 graph "
             f"{_pct(v.get('int8_cascade_top1'))} against fp32 {_pct(v.get('fp32_cascade_top1'))} on "
             f"{v.get('int8_vs_fp32_pools', '?')} validation questions (too few to separate them).", "",
             *_reliability(t["reliability"], t["ece"], "Cascade reliability on test (shortlisted sentences)"), "",
             *_reliability(v["reliability"], v["ece"], "Cascade reliability on validation (shortlisted sentences)"), "",
             *_cascade_notes(ce, tr), ""]
    return lines
