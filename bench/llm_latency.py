"""Local LLM latency and quality on article questions: our generator against the raw llama.cpp call.

    .venv/bin/python -m bench.llm_latency [--models qwen2.5-coder-0.5b,smollm2-135m] [--json OUT]

Each model runs in its own subprocess so its peak RSS is its own. Per model, the same short evidence
prompts (top passages of the bundled article for each question, as the assistant builds them) go
1) through LLMGenerator(LlamaCppChat) — our path: prompt rendering, trimming, streaming, lock — and
2) straight into llama_cpp.Llama.create_chat_completion with the identical messages (the raw call).
Before every measured call another question's prompt is evaluated, so both paths see the state of a new
question in the app: the system prompt cached, the sources and question new. The two paths alternate
which goes first, so drifting load on a shared machine hits both alike. n_batch=512, flash_attn=True, n_threads=2 (the settings we ship).

Quality is a rough, visible signal: an accepted answer string in the reply, a [n] marker, and
"The sources do not say." on the unanswerable ones. The system's own checks (citations, abstention
gate) are not applied here: this measures the model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core.language.markers import VERIFIED_MARKER
from core.types import text_of

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTICLE = PROJECT_ROOT / "data" / "corpus" / "elephant-in-the-room.txt"

# (question, accepted answers; empty = the article does not say)
QUESTIONS: list[tuple[str, list[str]]] = [
    ("How many shipping containers has Russia received from North Korea?", ["10,000", "10000"]),
    ("How many metric tons of munitions did those containers hold?", ["260,000", "260000"]),
    ("Who is Liu Dongshu?", ["assistant professor", "city university"]),
    ("What did Japan voice about Putin's openness to military technology cooperation?", ["grave concern"]),
    ("In what year was North Korea's mutual defense treaty with China signed?", ["1961"]),
    ("How did China's Foreign Ministry describe the treaty?", ["bilateral matter"]),
    ("What role does Yun Sun say China plays for Russia and North Korea?", ["irreplaceable"]),
    ("Where does Edward Howell teach?", ["oxford"]),
    ("How many years had passed since a Chinese leader visited Pyongyang when Xi went there?", ["14", "fourteen"]),
    ("What car did Putin ride in through Pyongyang?", ["mercedes"]),
    ("What is China's only formal military alliance treaty?", ["sino-north korea treaty", "friendship, cooperation"]),
    ("Who likened the coordination of China, Russia, North Korea and Iran to an axis of evil?", ["commander"]),
    ("How many North Korean troops were sent to Ukraine?", []),
    ("What did the NBA suspend Joshua Primo for?", []),
]
WARM_UP = "What did Putin say about the United States after meeting Kim?"
ABSTAIN = "the sources do not say"


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s,.-]", " ", s.lower()).split())


def _article_chunks(size: int = 700):
    """The article body cut into ~size-char chunks at sentence ends (boilerplate after 'Comments' dropped)."""
    from core.types import Chunk
    from index.sentences import split_sentences

    text = ARTICLE.read_text("utf-8").split("\nComments\n")[0]
    title = text.splitlines()[0].strip()
    chunks, start, end = [], None, None
    for s, e in split_sentences(text):
        if start is None:
            start = s
        if e - start > size and end is not None:
            chunks.append((start, end))
            start = s
        end = e
    chunks.append((start, end))
    return [Chunk(f"c{i}", "article", title, i, s, e, text[s:e]) for i, (s, e) in enumerate(chunks)]


def suite_questions(path: Path, limit: int) -> list[tuple[str, list[str]]]:
    """Single-turn cases of an eval suite (YAML) as (question, answers); unanswerable ones get []."""
    import yaml

    cases = [c for c in yaml.safe_load(path.read_text("utf-8"))["cases"] if not c.get("history")]
    out = [(c["question"], [] if c.get("answerable", True) is False else [str(a) for a in c.get("answers", [])])
           for c in cases]
    return out[:limit] if limit else out


def _requests(k: int, questions: list[tuple[str, list[str]]]):
    """GenerationRequests with the top-k chunks by BM25 for each question (what retrieval hands over)."""
    import bm25s

    from core.types import GenerationRequest, Passage

    chunks = _article_chunks()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False), show_progress=False)

    def request(q: str) -> GenerationRequest:
        ids, scores = retriever.retrieve(bm25s.tokenize([q], stopwords="en", show_progress=False),
                                         k=min(k, len(chunks)), show_progress=False)
        passages = [Passage(chunks[int(i)], float(sc), r + 1) for r, (i, sc) in enumerate(zip(ids[0], scores[0], strict=True))]
        return GenerationRequest(question=q, query=q, passages=passages, max_tokens=128)

    return request(WARM_UP), [(request(q), answers) for q, answers in questions]


def _pct(values: list[float], p: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def _timed(stream) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    ttft, text = None, ""
    for piece in stream:
        if ttft is None:
            ttft = time.perf_counter() - t0
        text += text_of([piece])  # typed events (Notice, Truncated) are not str
    total = time.perf_counter() - t0
    return (ttft if ttft is not None else total), total, text


def worker(model: str, k: int, threads: int, context_chars: int, questions: list[tuple[str, list[str]]]) -> dict:
    from core.settings import load_settings
    from rag.generate.llm import LLMGenerator
    from rag.generate.registry import build_local_chat

    settings = load_settings({"local_model": model, "llm_threads": threads, "llm_ctx": 4096})
    t0 = time.perf_counter()
    chat = build_local_chat(settings)
    chat.warm_up()
    load_s = time.perf_counter() - t0
    gen = LLMGenerator(chat, 128, name="local")  # evidence-first prompt (issue 15): context_chars is unused
    llama = chat.llama
    warm, cases = _requests(k, questions)

    def raw(messages, max_tokens=128):
        for chunk in llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0,
                                                  repeat_penalty=1.0, seed=0, stream=True):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece

    ours, raws, rows = [], [], []
    warm_messages = gen.messages(warm)

    def prime() -> None:
        # Leave the KV cache holding another question's prompt, so each measured call starts as a new
        # question does in the app: system prompt cached, sources and question new.
        _timed(raw(warm_messages, max_tokens=1))

    for i, (req, answers) in enumerate(cases):
        # Ours and raw alternate who goes first, so drifting load on a shared machine hits both alike.
        for path in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
            prime()
            if path == "raw":
                raws.append(_timed(raw(gen.messages(req)))[:2])
            else:
                ttft, total, text = _timed(gen.generate(req))
                ours.append((ttft, total))
        prompt_tokens = sum(len(llama.tokenize(m["content"].encode(), add_bos=False)) for m in gen.messages(req))
        t = _norm(text)
        ok = (any(_norm(a) in t for a in answers) and ABSTAIN not in t) if answers else ABSTAIN in t
        rows.append({"question": req.question, "answer": text, "ok": ok, "cited": bool(VERIFIED_MARKER.search(text)),
                     "prompt_tokens": prompt_tokens, "ttft_s": ttft, "total_s": total})
    answerable = [r for r, (_, a) in zip(rows, cases, strict=True) if a]
    unanswerable = [r for r, (_, a) in zip(rows, cases, strict=True) if not a]
    return {
        "model": model,
        "load_s": load_s,
        "n": len(cases),
        "prompt_tokens_p50": statistics.median(r["prompt_tokens"] for r in rows),
        "ttft_p50": _pct([o[0] for o in ours], 50), "ttft_p95": _pct([o[0] for o in ours], 95),
        "total_p50": _pct([o[1] for o in ours], 50), "total_p95": _pct([o[1] for o in ours], 95),
        "raw_ttft_p50": _pct([r[0] for r in raws], 50), "raw_ttft_p95": _pct([r[0] for r in raws], 95),
        "raw_total_p50": _pct([r[1] for r in raws], 50), "raw_total_p95": _pct([r[1] for r in raws], 95),
        "correct": sum(r["ok"] for r in answerable), "answerable": len(answerable),
        "abstained_ok": sum(r["ok"] for r in unanswerable), "unanswerable": len(unanswerable),
        "cited": sum(r["cited"] for r in answerable),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": rows,
    }


def table(results: list[dict]) -> str:
    head = ("| model | prompt tok p50 | TTFT p50 / p95 (s) | raw TTFT p50 / p95 | total p50 / p95 (s) | "
            "raw total p50 / p95 | overhead (total p50) | correct | cited | abstained | load s | peak RSS MB |")
    lines = [head, "|" + "---|" * 12]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error']} |" + " |" * 10)
            continue
        overhead = (r["total_p50"] / r["raw_total_p50"] - 1) * 100 if r["raw_total_p50"] else float("nan")
        lines.append(
            f"| {r['model']} | {r['prompt_tokens_p50']:.0f} | {r['ttft_p50']:.2f} / {r['ttft_p95']:.2f} | "
            f"{r['raw_ttft_p50']:.2f} / {r['raw_ttft_p95']:.2f} | {r['total_p50']:.2f} / {r['total_p95']:.2f} | "
            f"{r['raw_total_p50']:.2f} / {r['raw_total_p95']:.2f} | {overhead:+.1f}% | "
            f"{r['correct']}/{r['answerable']} | {r['cited']}/{r['answerable']} | "
            f"{r['abstained_ok']}/{r['unanswerable']} | {r['load_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from rag.generate import models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated registry names (default: every installed one)")
    ap.add_argument("--k", type=int, default=5, help="passages per question")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context-chars", type=int, default=1200, help="LLMGenerator source budget")
    ap.add_argument("--suite", type=Path, help="take the single-turn questions of this eval suite instead")
    ap.add_argument("--limit", type=int, default=0, help="at most this many questions")
    ap.add_argument("--json", type=Path, help="write the full results (with answers) here")
    ap.add_argument("--show-answers", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        questions = suite_questions(args.suite, args.limit) if args.suite else QUESTIONS[: args.limit or None]
        print(json.dumps(worker(args.worker, args.k, args.threads, args.context_chars, questions)))
        return 0
    names = [n for n in args.models.split(",") if n] or [n for n in models.MODELS if models.is_installed(n)]
    results = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "bench.llm_latency", "--worker", name, "--k", str(args.k),
               "--threads", str(args.threads), "--context-chars", str(args.context_chars)]
        cmd += ["--limit", str(args.limit)] + (["--suite", str(args.suite)] if args.suite else [])
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            results.append({"model": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)  # a row as soon as it exists
        if args.show_answers:
            for row in results[-1]["rows"]:
                mark = "ok " if row["ok"] else "BAD"
                print(f"  {mark} {row['question']}\n      -> {row['answer']!r}", file=sys.stderr)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
          "(other processes share the cores: compare ratios, not absolute times)")
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
