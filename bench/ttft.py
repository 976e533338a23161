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

    python -m bench.ttft [--generator local] [--questions 6] [--no-ui] [--out bench/results/ttft.json]
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


def stream_ttft(assistant, question: str, history=None) -> tuple[float, float | None]:
    """(ms to the first streamed character the user sees, ms to the model's first token). The stream runs to
    its end, so the next question starts with the model idle. An LLM draft streams one verified sentence at
    a time, so the first character waits for the first sentence (rag.verify.release)."""
    t0 = time.perf_counter()
    shown, final = None, None
    for event in assistant.stream(question, history):
        if shown is None and isinstance(event, TextDelta) and event.text.strip():
            shown = (time.perf_counter() - t0) * 1000
        elif isinstance(event, Final):
            final = event.answer
    end = (time.perf_counter() - t0) * 1000
    t = final.timings if final is not None else {}
    model = t["rewrite"] + t["retrieve"] + t["first_token"] if "first_token" in t else None
    return (shown if shown is not None else end), model


def raw_ttft(assistant, question: str) -> float | None:
    """The raw llama.cpp call on the prompt our generator renders for this question."""
    from core.types import GenerationRequest

    gen = assistant.generator
    llama = getattr(getattr(gen, "chat", None), "llama", None)
    if llama is None:
        return None
    request = GenerationRequest(question, question, assistant.retriever.search(question, assistant.settings.k).passages)
    evidence = gen.evidence(request)
    if not evidence:
        return None
    messages = gen.messages(request, evidence)
    t0 = time.perf_counter()
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=64, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content", "").strip():
            ms = (time.perf_counter() - t0) * 1000
            break
    else:
        ms = (time.perf_counter() - t0) * 1000
    return ms


def prompt_tokens(assistant, question: str) -> dict | None:
    """Tokens of the system prompt (cached) and of the per-question message, for the model's tokenizer."""
    from core.types import GenerationRequest

    gen = assistant.generator
    llama = getattr(getattr(gen, "chat", None), "llama", None)
    if llama is None:
        return None
    request = GenerationRequest(question, question, assistant.retriever.search(question, assistant.settings.k).passages)
    system, user = gen.messages(request)
    return {"system": len(llama.tokenize(system["content"].encode())), "user": len(llama.tokenize(user["content"].encode()))}


def bench_stream(generator: str, data_dir: Path, n: int) -> dict:
    """Each question through Assistant.stream, then the raw call on the previous question's prompt: the
    pair runs under the same load, and the raw call shares only the system prompt with what the KV cache
    holds (the prompt it would reuse whole is the one just answered)."""
    from rag.compose import build

    parts = build(load_settings({"data_dir": data_dir, "generator": generator}))
    if not parts.library.store.exists():
        parts.library.build_bundled()
    a = parts.assistant
    a.warm_up()
    qs = QUESTIONS[:n]
    shown, model, raw = [], [], []
    for i, (q, h) in enumerate([*[(q, None) for q in qs], FOLLOW_UP]):
        s, m = stream_ttft(a, q, h)
        shown.append(s)
        model.append(m)
        if i > 0 and (r := raw_ttft(a, qs[i - 1])) is not None:
            raw.append(r)
    models = [m for m in model if m is not None]
    tokens = [t for t in (prompt_tokens(a, q) for q in qs) if t]
    return {"stream": _summary(shown[0], shown[1:]), "follow_up_ms": round(shown[-1], 1),
            "model_first_token": _summary(models[0], models[1:]) if models else {},
            "raw_llama_cpp_warm": _stats(raw), "prompt_tokens": tokens,
            "rewriter_calls": dict(getattr(a.rewriter, "calls", {})), "generator": a.generator_name}


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ttft", description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", default="local")
    p.add_argument("--data-dir", type=Path, help="a data dir with the article indexed (default: a temp one)")
    p.add_argument("--questions", type=int, default=6)
    p.add_argument("--no-ui", action="store_true", help="skip the gradio_client measurement")
    p.add_argument("--no-stream", action="store_true", help="skip the in-process Assistant.stream measurement")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="ttft-")) / "data"
    result: dict = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if not args.no_stream:
        result["assistant"] = bench_stream(args.generator, data, args.questions)
    if not args.no_ui:
        result["ui_http"] = bench_ui(args.generator, data, args.questions)
    result["load_average_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
