"""What llama.cpp did for one call: prompt tokens, tokens reused from the KV cache, tokens/s.

Read from llama.cpp's own counters (llama_perf_context), reset before the call and read after it, so the
numbers say what the library evaluated, not what we meant it to. Used by rag.generate.chat.LlamaCppChat
(every call records its CallStats) and by bench.ttft for the raw call on the same prompts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CallStats:
    """One llama.cpp call. prompt_tokens = reused_tokens + prompt_eval_tokens (the prefix the KV cache kept
    plus what was evaluated); generated_tokens counts the decodes after the prompt."""

    prompt_tokens: int
    reused_tokens: int
    prompt_eval_tokens: int
    prompt_eval_ms: float
    generated_tokens: int
    generation_ms: float

    @property
    def prompt_tps(self) -> float:
        return round(1000 * self.prompt_eval_tokens / self.prompt_eval_ms, 1) if self.prompt_eval_ms else 0.0

    @property
    def generation_tps(self) -> float:
        return round(1000 * self.generated_tokens / self.generation_ms, 1) if self.generation_ms else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "prompt_tps": self.prompt_tps, "generation_tps": self.generation_tps}


def perf_reset(llama: Any) -> None:
    """Zero llama.cpp's per-context counters before a call (a no-op for a fake model)."""
    ctx = getattr(getattr(llama, "_ctx", None), "ctx", None)
    if ctx is not None:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(ctx)


def perf_read(llama: Any) -> CallStats | None:
    """The counters since perf_reset, with the prompt length taken from the tokens the context now holds
    (prompt + every generated token decoded after it). None for a fake model."""
    ctx = getattr(getattr(llama, "_ctx", None), "ctx", None)
    if ctx is None:
        return None
    import llama_cpp

    data = llama_cpp.llama_perf_context(ctx)
    prompt = max(0, int(llama.n_tokens) - data.n_eval)
    return CallStats(prompt_tokens=prompt, reused_tokens=max(0, prompt - data.n_p_eval),
                     prompt_eval_tokens=data.n_p_eval, prompt_eval_ms=round(data.t_p_eval_ms, 1),
                     generated_tokens=data.n_eval, generation_ms=round(data.t_eval_ms, 1))


def shared_prefix(a: list[int], b: list[int]) -> int:
    """Leading tokens two token lists have in common (what llama.cpp's prefix match can reuse)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
