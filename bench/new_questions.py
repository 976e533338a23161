"""What a user waits on: never-seen questions, the first question after start, the CLI, concurrent users.

`python -m bench.new_questions [--smoke] [--data-dir D] [--out DIR]`

Every question here is new to the process that answers it: paraphrases of the article's facts written for
this benchmark (no suite holds them) and SQuAD dev questions, asked against a `squad` collection of their
own paragraphs indexed next to the bundled article. No warm-up touches them, and each worker is a fresh
process, so no cache the product keeps (query vectors, sentence banks, reader results) has seen them.

Workers (each its own process, run from here):
  serial      `Assistant.from_settings` + `warm_up()` (timed), the first question (timed alone), then every
              question once: per stage p50/p95 from Answer.timings, next to the raw parts measured on the
              same question right after it: raw ONNX encode of the query, raw Chroma query, raw reader
              (cross-encoder) forward on the shortlist's size of pairs;
  concurrent  10 threads, each asking its own new questions through one Assistant (p50/p95 per ask);
  cli         `python -m rag ask "..." --json` end to end, cold (a new process per question).
The machine's load average is printed beside every figure. Ratios against the raw parts are the stable
figures on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.retrieval import summarize
from core.settings import PROJECT_ROOT
from training.squad import SQUAD

# Paraphrases of the article's facts, written for this benchmark: no suite and no warm-up asks them.
PARAPHRASES = (
    "How many containers did Pyongyang ship to Moscow?",
    "Which car brand carried Putin through Pyongyang?",
    "What year did Beijing and Pyongyang sign their defence treaty?",
    "Who runs the China program at the Stimson Center?",
    "What was Seoul thinking of sending to Kyiv?",
    "What does Beijing fear would happen if the North Korean regime collapsed?",
    "Which Soviet-era agreement does the Kim-Putin pact recall?",
    "What did Putin and Kim promise each other in case of an attack?",
    "Where does Edward Howell teach?",
    "How long had it been since a Chinese leader visited Pyongyang before Xi?",
    "What did Tokyo say about Russia helping North Korea with military technology?",
    "Which fourth country is grouped with China, Russia and North Korea by Western observers?",
    "What has Washington accused Beijing of giving Moscow?",
    "How did Kim describe his new relationship with Russia?",
    "What kind of ties did Putin say the two countries now have?",
    "What policy toward the South has Kim dropped?",
    "How much weight of munitions did the containers hold?",
    "What did China's foreign ministry spokesperson say about the pact?",
    "Which university employs Liu Dongshu?",
    "What did the American commander compare the four countries' cooperation to?",
    "What economic lifeline does China give the two sanctioned states?",
    "Why does Russia need North Korea right now?",
    "What does Xi want in Northeast Asia while dealing with problems at home?",
    "What did Putin criticise after his talks with Kim?",
    "How did South Korea react when the pact was announced?",
    "Is China's 1961 treaty with North Korea its only military alliance?",
    "When did Putin last visit Beijing and meet Xi?",
    "What would happen if Russia backed North Korea's nuclear program, according to Liu?",
    "What role does China play for both Moscow and Pyongyang, according to Yun Sun?",
    "Has China supplied lethal weapons to Russia for the war in Ukraine?",
)
USERS = 10


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.1f}/{b:.1f}/{c:.1f}"


def squad_set(path: Path, articles: int, per_article: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(title, text) of the first paragraphs of the first SQuAD dev articles, and their questions."""
    from training.squad import load_squad

    docs, questions = [], []
    for art in load_squad(path, "bench.new_questions")["data"][:articles]:
        paras = art["paragraphs"][:2]
        docs.append((art["title"], "\n\n".join(" ".join(p["context"].split()) for p in paras)))
        questions += [qa["question"] for p in paras for qa in p["qas"]][:per_article]
    return docs, questions


def settings_for(data_dir: Path):
    from core.settings import load_settings

    # env={}: a developer's RAG_* variables (another model, a Chroma server) must not change the figures
    return load_settings({"data_dir": data_dir, "generator": "extractive"}, env={})


def ensure_index(data_dir: Path, docs: list[tuple[str, str]]) -> None:
    """The bundled article in `default` and the SQuAD paragraphs in `squad` (unchanged documents are skipped)."""
    from index.pipeline import Indexer

    lib = Indexer.from_settings(settings_for(data_dir))
    lib.build_bundled()
    if not docs:
        return
    folder = data_dir / "squad-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for title, text in docs:
        (folder / f"{title}.txt").write_text(f"{title.replace('_', ' ')}\n\n{text}\n", "utf-8")
    lib.add([folder], collection="squad")


class PairRecorder:
    """Wraps the cross-encoder's `logits` to keep the pairs each question sent, for the raw replay."""

    def __init__(self, ce) -> None:
        self.ce, self.real, self.last = ce, ce.logits, ([], [])
        ce.logits = self

    def __call__(self, questions, seconds):
        self.last = (list(questions), list(seconds))
        return self.real(questions, seconds)


def raw_parts(assistant, question: str, pairs: tuple[list, list] | None) -> dict[str, float]:
    """The raw cost of the parts on this question: ONNX encode, Chroma query, and the reader's model call
    (the cross-encoder's ONNX session) on the very pairs the question sent it."""
    embedder = assistant.retriever.embedder
    t = time.perf_counter()
    vec = embedder.embed([question])[0]
    encode = time.perf_counter() - t
    with assistant.retriever.store.shared.call() as cols:
        t = time.perf_counter()
        cols["chunks"].query(query_embeddings=[vec.tolist()], n_results=assistant.settings.candidates,
                             include=["documents"])
        chroma = time.perf_counter() - t
    out = {"encode_ms": encode * 1e3, "chroma_ms": chroma * 1e3}
    ce = getattr(getattr(assistant.gate.scorer, "reader", None), "_ce", None)
    if ce is not None and pairs and pairs[0]:
        from rag.reader.cross_encoder import encode as encode_pairs

        feed = encode_pairs(ce._tok, *pairs)
        t = time.perf_counter()
        ce._session.run(None, feed)
        out["reader_ms"] = (time.perf_counter() - t) * 1e3
    out["raw_ms"] = sum(out.values())
    return out


def _ask_one(assistant, question: str, collections) -> dict:
    t = time.perf_counter()
    ans = assistant.ask(question, collections=collections)
    return {"question": question, "ms": (time.perf_counter() - t) * 1e3, "timings": ans.timings,
            "abstained": ans.abstained, "load": os.getloadavg()[0]}


def serial_worker(data_dir: Path, paraphrases: list[str], squad: list[str]) -> dict:
    from rag import Assistant

    out: dict = {"load_start": load()}
    t = time.perf_counter()
    assistant = Assistant.from_settings(settings_for(data_dir))
    assistant.warm_up()
    out["start_s"] = time.perf_counter() - t
    ce = getattr(getattr(assistant.gate.scorer, "reader", None), "_ce", None)
    recorder = PairRecorder(ce) if ce is not None else None
    rows, pairs = [], []
    asks = [(q, None) for q in paraphrases] + [(q, ("squad",)) for q in squad]
    for q, cols in asks:
        if recorder:
            recorder.last = ([], [])
        rows.append(_ask_one(assistant, q, cols))
        pairs.append(recorder.last if recorder else None)
    out["first_question"] = rows[0]
    for r, p in zip(rows, pairs, strict=True):  # raw parts after every question was asked: they warm nothing of ours
        r["raw"] = raw_parts(assistant, r["question"] + " ?", p)  # a string no cache has seen
    out["rows"] = rows
    out["load_end"] = load()
    return out


def concurrent_worker(data_dir: Path, questions: list[str], collection: str, users: int = USERS) -> dict:
    from rag import Assistant

    assistant = Assistant.from_settings(settings_for(data_dir))
    assistant.warm_up()
    ms: list[float] = []
    lock = threading.Lock()
    mine = [questions[u::users] for u in range(users)]

    def user(qs: list[str]) -> None:
        for q in qs:
            r = _ask_one(assistant, q, (collection,))
            with lock:
                ms.append(r["ms"])

    load_before = load()
    t = time.perf_counter()
    threads = [threading.Thread(target=user, args=(qs,)) for qs in mine]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"users": users, "asks": summarize(ms), "wall_s": time.perf_counter() - t,
            "load_before": load_before, "load_after": load()}


def cli_cold(data_dir: Path, questions: list[str]) -> list[dict]:
    """`python -m rag ask "..." --json` end to end, one new process per question."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    out = []
    for q in questions:
        before = load()
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "rag", "ask", q, "--json", "--data-dir", str(data_dir),
                               "--generator", "extractive"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        wall = time.perf_counter() - t
        ok = proc.returncode == 0
        timings = json.loads(proc.stdout).get("timings", {}) if ok else {}
        out.append({"question": q, "wall_s": wall, "ok": ok, "total_ms": timings.get("total"),
                    "load_before": before, "error": "" if ok else proc.stderr.strip()[-300:]})
    return out


def stage_table(rows: list[dict]) -> dict[str, dict]:
    """Per stage p50/p95 (ms) over the questions, and the raw parts' p50/p95 beside them."""
    stages = ("plan", "retrieve", "gate", "generate", "verify", "total")
    table = {s: summarize([r["timings"][s] for r in rows if s in r["timings"]]) for s in stages}
    table["end_to_end"] = summarize([r["ms"] for r in rows])
    for part in ("encode_ms", "chroma_ms", "reader_ms", "raw_ms"):
        vals = [r["raw"][part] for r in rows if part in r.get("raw", {})]
        table["raw_" + part.removesuffix("_ms")] = summarize(vals)
    return table


def _spawn(kind: str, args: argparse.Namespace, payload: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "bench.new_questions", "--worker", kind, "--data-dir", str(args.data_dir),
           "--payload", json.dumps(payload)]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    n_art, per = (2, 2) if args.smoke else (24, 4)
    # without the SQuAD file (a CI box) the article paraphrases carry every section
    docs, squad = squad_set(args.squad, n_art, per) if args.squad.is_file() else ([], [])
    paraphrases = list(PARAPHRASES[:4] if args.smoke else PARAPHRASES)
    ensure_index(args.data_dir, docs)
    half = len(squad) // 2
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": load(),
                 "cpus": os.cpu_count(), "smoke": bool(args.smoke)}
    serial = _spawn("serial", args, {"paraphrases": paraphrases, "squad": squad[:half]})
    res["serial"] = serial
    if "rows" in serial:
        res["stages"] = stage_table(serial["rows"])
        res["questions"] = {"paraphrases": len(paraphrases), "squad": half, "abstained":
                            sum(r["abstained"] for r in serial["rows"])}
    res["concurrent"] = _spawn("concurrent", args, {"questions": squad[half:], "collection": "squad"} if squad
                               else {"questions": paraphrases, "collection": "default"})
    res["cli"] = cli_cold(args.data_dir, paraphrases[-1:] if args.smoke else paraphrases[-2:])
    res["load_after"] = load()
    return res


def markdown(res: dict) -> str:
    lines = [f"# New questions ({res['date']}, {res['cpus']} CPUs, load {res['load_before']} -> {res['load_after']})", ""]
    s = res.get("serial", {})
    if "error" in s:
        return "\n".join([*lines, f"serial worker failed: {s['error']}"])
    fq = s["first_question"]
    lines += [f"start (from_settings + warm_up): {s['start_s']:.2f} s (load {s['load_start']}); first question "
              f"after start: {fq['ms']:.0f} ms (load {fq['load']:.1f})", "",
              f"{res['questions']['paraphrases']} article paraphrases + {res['questions']['squad']} SQuAD questions, "
              f"each asked once ({res['questions']['abstained']} abstained); load {s['load_start']} -> {s['load_end']}",
              "", "| stage | p50 ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {k} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} |" for k, v in res["stages"].items()]
    st = res["stages"]
    lines += ["", f"ours / raw parts: p50 {st['end_to_end']['p50_ms'] / st['raw_raw']['p50_ms']:.1f}x, "
              f"p95 {st['end_to_end']['p95_ms'] / st['raw_raw']['p95_ms']:.1f}x"]
    c = res["concurrent"]
    if "asks" in c:
        lines += [f"{c['users']} concurrent users, {c['asks']['n']} new questions: p50 {c['asks']['p50_ms']:.0f} ms, "
                  f"p95 {c['asks']['p95_ms']:.0f} ms (load {c['load_before']} -> {c['load_after']})"]
    lines += [f"`rag ask --json` cold: {r['wall_s']:.1f} s end to end, answer {r['total_ms']} ms (load "
              f"{r['load_before']}){'' if r['ok'] else ' FAILED: ' + r['error']}" for r in res["cli"]]
    return "\n".join(lines) + "\n"


def _worker(kind: str, data_dir: Path, payload: dict) -> dict:
    if kind == "serial":
        return serial_worker(data_dir, payload["paraphrases"], payload["squad"])
    return concurrent_worker(data_dir, payload["questions"], payload["collection"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="latency of never-seen questions (see the module docstring)")
    ap.add_argument("--smoke", action="store_true", help="a few questions only (the test suite's run)")
    ap.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "bench" / "results" / "cache" / "new-questions")
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    ap.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD v1.1 dev (.json or .json.gz)")
    ap.add_argument("--worker", choices=("serial", "concurrent"), help=argparse.SUPPRESS)
    ap.add_argument("--payload", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data_dir, json.loads(args.payload))))
        return 0
    res = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "new-questions.json").write_text(json.dumps(res, indent=1), "utf-8")
    md = markdown(res)
    (args.out / "new-questions.md").write_text(md, "utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
