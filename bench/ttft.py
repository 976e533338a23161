"""Time to first token as a user sees it: question -> first streamed character.

Three paths on the same questions, in one run, so their ratios hold on a loaded machine:
- `Assistant.stream` (rewrite, retrieval, gate, evidence selection, prompt, model, and for an LLM the first
  verified sentence: drafts are shown one verified sentence at a time) to the first TextDelta, and to the
  model's first token (from the answer's timings);
- the UI's HTTP API through gradio_client (a real `python -m ui` subprocess) to the first streamed update
  that holds answer text;
- the raw llama.cpp call (`Llama.create_chat_completion(stream=True)`) on the exact messages our generator
  rendered, to its first content piece: what the model alone costs.
Cold is the first question after loading (warm-up has evaluated the fixed system prompt into llama.cpp's
cache); warm is every later one, a follow-up included. Prints a JSON summary (p50/p95 in ms, and the load average).

    python -m bench.ttft [--generator local] [--questions 6] [--runs 3] [--no-ui] [--out bench/results/ttft.json]

Beside every figure: llama.cpp's system info (the instruction sets it was compiled with, checked against
/proc/cpuinfo: bench.llama_build), its threads, n_batch and flash attention, and per question the prompt
tokens, the tokens reused from the KV cache, the tokens evaluated and the prompt / generation tokens/s,
for our call and for the raw one (rag.generate.llama_stats).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.settings import PROJECT_ROOT, load_settings
from core.types import Final, TextDelta, Turn

QUESTIONS = [
    "How many shipping containers has Russia received from North Korea?",
    "Who is Yun Sun?",
    "What did Edward Howell say about China?",
    "When did Putin last visit North Korea?",
    "What does the treaty between Russia and North Korea commit them to?",
    "Why is China watching the alliance?",
]
FOLLOW_UP = ("What did she say about China's role?", [Turn("user", "Who is Yun Sun?")])


def _stats(ms: list[float]) -> dict:
    if not ms:
        return {}
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(max(ms), 1)}


def _summary(cold: float | None, warm: list[float]) -> dict:
    return {"cold_ms": None if cold is None else round(cold, 1), "warm": _stats(warm)}


def stream_ttft(assistant, question: str, history=None) -> dict:
    """One question through Assistant.stream, to its end (so the next starts with the model idle): ms to the
    first streamed character the user sees, ms to the model's first token (from the answer's timings), and
    what llama.cpp evaluated (rag.generate.llama_stats). An LLM draft streams one verified sentence at a
    time, so the first character waits for the first sentence (rag.verify.release)."""
    t0 = time.perf_counter()
    shown, final = None, None
    for event in assistant.stream(question, history):
        if shown is None and isinstance(event, TextDelta) and event.text.strip():
            shown = (time.perf_counter() - t0) * 1000
        elif isinstance(event, Final):
            final = event.answer
    end = (time.perf_counter() - t0) * 1000
    t = final.timings if final is not None else {}
    model = t["rewrite"] + t.get("plan", 0) + t["retrieve"] + t["first_token"] if "first_token" in t else None
    call = getattr(getattr(assistant.generator, "chat", None), "last_call", None)
    return {"question": question, "query": getattr(final, "query", question) or question, "shown_ms": round(shown if shown is not None else end, 1),
            "model_first_token_ms": None if model is None else round(model, 1),
            "answered_by": final.generator if final is not None else None,
            "llama": call.as_dict() if call is not None and "first_token" in t else None}


def _request(assistant, question: str):
    from core.types import GenerationRequest

    return GenerationRequest(question, question, assistant.retriever.search(question, assistant.settings.k).passages)


def raw_ttft(assistant, question: str, keep: int | None = None) -> dict | None:
    """The raw llama.cpp call on the prompt our generator renders for this question: ms to its first content
    piece, and what llama.cpp evaluated for it. `keep` cuts the KV cache to that many leading tokens first
    (the prefix our own call reused), so both evaluate exactly the same tokens."""
    from rag.generate.llama_stats import perf_read, perf_reset

    gen = assistant.generator
    llama = getattr(getattr(gen, "chat", None), "llama", None)
    if llama is None:
        return None
    request = _request(assistant, question)
    evidence = gen.evidence(request)
    if not evidence:
        return None
    messages = gen.messages(request, evidence)
    if keep is not None:  # llama.cpp's prefix match then reuses at most these tokens, and drops the rest
        llama.n_tokens = min(keep, llama.n_tokens)
    perf_reset(llama)
    t0 = time.perf_counter()
    ms = None
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=64, temperature=0.0, stream=True):
        if ms is None and chunk["choices"][0]["delta"].get("content", "").strip():
            ms = (time.perf_counter() - t0) * 1000
    stats = perf_read(llama)
    return {"question": question, "first_token_ms": round(ms if ms is not None else (time.perf_counter() - t0) * 1000, 1),
            "llama": stats.as_dict() if stats else None}


def runtime(assistant) -> dict:
    """The llama.cpp settings our model runs with (what raw runs with too: the same Llama object)."""
    chat = getattr(assistant.generator, "chat", None)
    llama = getattr(chat, "llama", None)
    if llama is None:
        return {}
    system = assistant.generator.messages(_request(assistant, QUESTIONS[0]))[0]["content"]
    cp = llama.context_params
    return {"n_threads": cp.n_threads, "n_threads_batch": cp.n_threads_batch, "n_batch": cp.n_batch,
            "n_ctx": cp.n_ctx, "flash_attn": chat.flash_attn, "model": chat.name,
            "system_prompt_tokens": len(llama.tokenize(system.encode(), add_bos=False))}


def _rates(rows: list[dict], key: str) -> dict:
    calls = [r["llama"] for r in rows if r and r.get("llama")]
    return {f"{key}_median": round(float(np.median([c[key] for c in calls])), 1)} if calls else {}


def bench_stream(generator: str, data_dir: Path, n: int) -> dict:
    """Each question through Assistant.stream, then at once the raw call on the same prompt, under the same
    load, with the KV cache cut back to the prefix our call reused: both evaluate the same tokens, so their
    ratio is our overhead (retrieval, evidence selection, prompt rendering), not the cache's luck."""
    from rag.compose import build

    parts = build(load_settings({"data_dir": data_dir, "generator": generator}))
    if not parts.library.store.exists():
        parts.library.build_bundled()
    a = parts.assistant
    a.warm_up()
    qs = QUESTIONS[:n]
    ours, raw = [], []
    for i, (q, h) in enumerate([*[(q, None) for q in qs], FOLLOW_UP]):
        ours.append(row := stream_ttft(a, q, h))
        if i > 0 and row["llama"] and (r := raw_ttft(a, row["query"], row["llama"]["reused_tokens"])) is not None:
            raw.append(r)
    shown = [r["shown_ms"] for r in ours]
    models = [r["model_first_token_ms"] for r in ours if r["model_first_token_ms"] is not None]
    result = {"runtime": runtime(a), "stream": _summary(shown[0], shown[1:]), "follow_up_ms": shown[-1],
              "model_first_token": _summary(models[0], models[1:]) if models else {},
              "raw_llama_cpp_warm": _stats([r["first_token_ms"] for r in raw])}
    for key in ("prompt_tps", "generation_tps", "reused_tokens", "prompt_eval_tokens"):
        result.setdefault("ours_llama", {}).update(_rates(ours, key))
        result.setdefault("raw_llama", {}).update(_rates(raw, key))
    if models and raw:
        result["ours_over_raw_p50"] = round(float(np.median(models[1:] or models)) /
                                            float(np.median([r["first_token_ms"] for r in raw])), 2)
    return {**result, "questions": ours, "raw": raw, "generator": a.generator_name,
            "rewriter_calls": dict(getattr(a.rewriter, "calls", {}))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ui_text(outputs) -> str:
    """The last assistant message's text in an /ask update (HTML), tags dropped."""
    import re

    messages = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    if not messages:
        return ""
    last = messages[-1]
    content = last.get("content", "") if isinstance(last, dict) else str(last)
    if isinstance(last, dict) and last.get("role") != "assistant":
        return ""
    if isinstance(content, list):  # gradio 6 messages: [{"type": "text", "text": ...}]
        content = " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content)
    elif isinstance(content, dict):
        content = content.get("text", "")
    # the streaming placeholder is an empty answer with a cursor: only real characters count
    return re.sub(r"<[^>]+>", "", str(content)).replace("\u258d", "").strip()


def bench_ui(generator: str, data_dir: Path, n: int) -> dict:
    """First streamed answer character through the UI's /ask endpoint (gradio_client, a real server)."""
    from gradio_client import Client

    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = Path(tempfile.mkdtemp(prefix="ttft-ui-")) / "ui.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "ui", "--data-dir", str(data_dir), "--port", str(port),
                                 "--generator", generator], cwd=PROJECT_ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 900
        while True:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"python -m ui did not start; see {log}") from None
                time.sleep(2)
        times = []
        for q in [*QUESTIONS[:n], FOLLOW_UP[0]]:
            t0 = time.perf_counter()
            job = client.submit(q, api_name="/ask")
            first = None
            for out in job:
                if first is None and _ui_text(out):
                    first = (time.perf_counter() - t0) * 1000
            job.result()
            times.append(first if first is not None else (time.perf_counter() - t0) * 1000)
        return _summary(times[0], times[1:])
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def headline(runs: list[dict]) -> dict:
    """Each run's key figures (ms, with its load average) and their median over the runs: what the docs quote."""
    def figures(r: dict) -> dict:
        warm, model, raw = r["stream"].get("warm", {}), r["model_first_token"].get("warm", {}), r["raw_llama_cpp_warm"]
        return {"load": [round(r["load_average"][0], 1), round(r["load_average_after"][0], 1)],
                "shown_cold": r["stream"]["cold_ms"], "shown_p50": warm.get("p50_ms"), "shown_p95": warm.get("p95_ms"),
                "follow_up": r["follow_up_ms"], "model_p50": model.get("p50_ms"), "raw_p50": raw.get("p50_ms"),
                "ours_over_raw": r.get("ours_over_raw_p50"), **r["ours_llama"]}
    rows = [figures(r) for r in runs]
    keys = [k for k in rows[0] if k != "load"]
    median = {k: round(float(np.median([x[k] for x in rows if x.get(k) is not None])), 2)
              for k in keys if any(x.get(k) is not None for x in rows)}
    return {"runs": rows, "median": median}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ttft", description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", default="local")
    p.add_argument("--data-dir", type=Path, help="a data dir with the article indexed (default: a temp one)")
    p.add_argument("--questions", type=int, default=6)
    p.add_argument("--no-ui", action="store_true", help="skip the gradio_client measurement")
    p.add_argument("--no-stream", action="store_true", help="skip the in-process Assistant.stream measurement")
    p.add_argument("--runs", type=int, default=1, help="repeat the Assistant.stream phase; the headline is "
                   "the median of the runs' figures, every run is printed")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="ttft-")) / "data"
    result: dict = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if args.generator == "local":
        from bench.llama_build import build_report

        result["build"] = build_report()
        if "warning" in result["build"]:
            print(f"WARNING: {result['build']['warning']}", file=sys.stderr)
    if not args.no_stream:
        runs = []
        for _ in range(max(1, args.runs)):
            load = os.getloadavg()
            runs.append({"load_average": load, **bench_stream(args.generator, data, args.questions),
                         "load_average_after": os.getloadavg()})
        result["assistant"] = runs[0] if len(runs) == 1 else {"runs": runs}
        result["headline"] = headline(runs)
    if not args.no_ui:
        result["ui_http"] = bench_ui(args.generator, data, args.questions)
    result["load_average_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if "headline" in result:  # the figures to quote, last so they are what a terminal shows
        print(json.dumps(result["headline"], indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
