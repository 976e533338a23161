"""Answering latency per generator on the bundled suite, against the raw generator call on the same prompts.

Each generator runs in its own subprocess (`python -m bench.answering --worker NAME ...`), so its peak RSS
is its own. In the worker:
1. `Assistant.from_settings` + `warm_up()` on the article's index (load time reported separately);
2. ours: `assistant.stream(question, history)` for every case; time to the first non-empty TextDelta
   and to Final. The generator is wrapped to record the exact GenerationRequest it received;
3. raw: the same requests replayed straight into the generator underneath:
   - local / openai: the model's own call with the identical messages (for local,
     `llama_cpp.Llama.create_chat_completion(messages, stream=True)`, the settings we ship);
   - extractive: `ExtractiveGenerator.generate(request)` itself (it is its own raw call).
   Both passes run in the same order, after one warm-up call each, so llama.cpp's prefix cache is in the
   same state for both (the system prompt cached, sources and question new).
Cases the evidence gate abstains on never reach a generator: they count in ours but have no raw twin,
so the overhead ratio is computed on the cases that called the generator.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.retrieval import pct, peak_rss_mb, summarize
from core.settings import PROJECT_ROOT
from core.types import text_of


class Recorder:
    """A transparent Generator wrapper that remembers the requests it was given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list = []
        self.outputs: list[str] = []  # what the generator produced for each request

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def generate(self, request):
        self.requests.append(request)
        self.outputs.append("")
        n = len(self.outputs) - 1
        for piece in self.inner.generate(request):
            self.outputs[n] += text_of([piece])  # typed events (NoAnswer, Notice) are not str
            yield piece


def _timed(pieces) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    ttft, text = None, ""
    for piece in pieces:
        if ttft is None and piece:
            ttft = time.perf_counter() - t0
        text += text_of([piece])
    total = time.perf_counter() - t0
    return (total if ttft is None else ttft) * 1e3, total * 1e3, text


def raw_call(generator, request):
    """The generator's own model call on the request's final prompt, with nothing of ours around it."""
    chat = getattr(generator, "chat", None)
    if chat is None:  # extractive: the generator is the raw call
        return generator.generate(request)
    messages = generator.messages(request)
    max_tokens = min(generator.max_tokens, request.max_tokens) if request.max_tokens else generator.max_tokens
    llama = getattr(chat, "llama", None)
    if llama is not None:
        return _llama_stream(llama, messages, max_tokens, chat)
    return chat.chat(messages, max_tokens)  # openai: the client call is the raw call


def _llama_stream(llama, messages: list[dict], max_tokens: int, chat):
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=chat.temperature,
                                              repeat_penalty=1.0, seed=chat.seed, stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            yield piece


def worker(generator: str, data_dir: Path, suite: Path, limit: int) -> dict:
    from bench.indexing import bench_settings
    from rag import Assistant
    from rag.eval.suite import load_suite

    s = bench_settings(data_dir).replace(generator=generator)
    t = time.perf_counter()
    assistant = Assistant.from_settings(s)
    assistant.warm_up()
    load_s = time.perf_counter() - t
    recorder = Recorder(assistant.generator)
    assistant.generator = recorder
    rows = _ask_cases(assistant, recorder, list(load_suite(suite).cases)[: limit or None])
    peak_ours = peak_rss_mb()
    raw = _raw_pass(recorder, rows)
    gen_rows = [r for r in rows if r["request"] is not None]
    out = {
        "generator": assistant.generator_name,
        "cases": len(rows),
        "generator_called": len(gen_rows),
        "load_s": load_s,
        "ours_ttft": summarize([r["ttft_ms"] for r in rows]),
        "ours_total": summarize([r["total_ms"] for r in rows]),
        "ours_gen_ttft": summarize([r["ttft_ms"] for r in gen_rows]),
        "ours_gen_total": summarize([r["total_ms"] for r in gen_rows]),
        "raw_ttft": summarize([raw[r["request"]][0] for r in gen_rows]),
        "raw_total": summarize([raw[r["request"]][1] for r in gen_rows]),
        "stages_p50_ms": {stage: pct([r["timings"][stage] for r in rows if stage in r["timings"]], 50)
                          for stage in ("rewrite", "retrieve", "first_token", "generate", "verify", "total")},
        "peak_rss_mb": peak_ours,
    }
    if gen_rows:
        out.update(_overheads(gen_rows, raw, out))
    return out


def _ask_cases(assistant, recorder: Recorder, cases: list) -> list[dict]:
    from core.types import Final, TextDelta

    rows = []
    for case in cases:
        before = len(recorder.requests)
        t0 = time.perf_counter()
        ttft = None
        answer = None
        for event in assistant.stream(case.question, list(case.history)):
            if isinstance(event, TextDelta) and event.text and ttft is None:
                ttft = (time.perf_counter() - t0) * 1e3
            elif isinstance(event, Final):
                answer = event.answer
        total = (time.perf_counter() - t0) * 1e3
        assert answer is not None
        rows.append({"id": case.id, "ttft_ms": total if ttft is None else ttft, "total_ms": total,
                     "abstained": answer.abstained, "timings": answer.timings,
                     "request": len(recorder.requests) - 1 if len(recorder.requests) > before else None})
    return rows


def _raw_pass(recorder: Recorder, rows: list[dict]) -> dict[int, tuple[float, float]]:
    """The same requests straight to the model, in the same order, after one warm-up call (as ours had)."""
    inner = recorder.inner
    if recorder.requests:
        _timed(raw_call(inner, recorder.requests[0]))
    raw = {}
    for r in rows:
        if r["request"] is not None:
            ttft, total, text = _timed(raw_call(inner, recorder.requests[r["request"]]))
            raw[r["request"]] = (ttft, total)
            # greedy decoding can still diverge (prefix-cache state changes the float sums): compare like with like
            r["same_output"] = text.strip() == recorder.outputs[r["request"]].strip()
    return raw


def _overheads(gen_rows: list[dict], raw: dict[int, tuple[float, float]], out: dict) -> dict:
    o: dict = {}
    o["overhead_ms_p50"] = statistics.median(r["total_ms"] - raw[r["request"]][1] for r in gen_rows)
    o["overhead_pct_p50"] = 100 * (out["ours_gen_total"]["p50_ms"] / out["raw_total"]["p50_ms"] - 1)
    o["overhead_pct_per_case_median"] = 100 * statistics.median(
        (r["total_ms"] - raw[r["request"]][1]) / raw[r["request"]][1] for r in gen_rows if raw[r["request"]][1] > 0)
    o["ttft_overhead_ms_p50"] = statistics.median(r["ttft_ms"] - raw[r["request"]][0] for r in gen_rows)
    # Time spent outside the model call (rewrite, retrieval, gate, prompt, checks): the structural overhead,
    # immune to the ±2x swings identical llama.cpp calls show on a busy 2-core machine.
    outside = [r["total_ms"] - r["timings"].get("generate", 0.0) for r in gen_rows]
    o["outside_llm_ms_p50"] = statistics.median(outside)
    o["outside_llm_pct_of_raw_p50"] = 100 * o["outside_llm_ms_p50"] / out["raw_total"]["p50_ms"]
    same = [r for r in gen_rows if r.get("same_output")]
    o["same_output_cases"] = len(same)
    if same:
        o["overhead_pct_same_output_median"] = 100 * statistics.median(
            (r["total_ms"] - raw[r["request"]][1]) / raw[r["request"]][1] for r in same if raw[r["request"]][1] > 0)
        o["overhead_ms_same_output_median"] = statistics.median(r["total_ms"] - raw[r["request"]][1] for r in same)
    return o


def run_worker(generator: str, data_dir: Path, suite: Path, limit: int, timeout: float = 3600) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "bench.answering", "--worker", generator, "--data-dir", str(data_dir),
           "--suite", str(suite), "--limit", str(limit)]
    try:
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"generator": generator, "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"generator": generator, "error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="answering benchmark worker (used by `python -m bench`)")
    ap.add_argument("--worker", required=True, help="generator name")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--suite", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0, help="first N cases only (0: all)")
    args = ap.parse_args(argv)
    print(json.dumps(worker(args.worker, args.data_dir, args.suite, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
