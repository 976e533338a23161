"""The LLM generator: renders the grounded prompt from the request's passages and streams a chat model.

Prompt shape, for speed and for safety:
- the system prompt (prompts/system.yaml) is first and never changes, so llama.cpp's prefix cache keeps
  it evaluated from one question to the next;
- the sources follow, inside explicit delimiters and marked as untrusted data, then the question, then a
  short reminder of the rules (small models follow what they read last);
- long passages are trimmed to the sentences that share the most terms with the question, because
  prompt tokens dominate time to first token on a CPU. Numbering stays that of request.passages, so the
  [n] markers the model writes point where rag.verify.citations expects them.

The chat history is not sent: request.query is already the standalone (rewritten) question, and a
shorter prompt is a faster one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

from core.terms import term_set
from core.types import Passage
from index.cleaning import strip_format_chars
from index.sentences import split_sentences
from prompts import load_prompt
from rag.generate.chat import ChatModel
from rag.generate.protocol import GenerationRequest, Truncated

_DELIMITER = re.compile(r"<{3,}|>{3,}|<\||\|>")
# Chat-template control tokens: llama.cpp tokenizes the formatted prompt with special tokens enabled, so
# "<|im_start|>" (ChatML, Llama 3: caught by _DELIMITER), "<s>", Gemma's turns or Mistral's [INST] in a
# document would become real turn boundaries. Rewritten with look-alike brackets they stay plain text.
_CONTROL = re.compile(r"<(/?(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn))>|\[(/?(?:INST|SYS))\]", re.I)
def _defuse(m: re.Match) -> str:
    return "\u2039" + (m.group(1) or m.group(2)) + "\u203a"


def prompt_safe(text: str) -> str:
    """One line, no delimiter or control-token look-alikes and no invisible format characters: untrusted
    text cannot close the data block, fake new prompt sections, open a chat turn or hide words (tag
    characters, zero-width joiners) that only the model would read. Used for passages, titles, the
    question, and the history the follow-up rewriter sends."""
    text = strip_format_chars(text)[0]
    return " ".join(_DELIMITER.sub("\u2039", _CONTROL.sub(_defuse, text)).split())


_clean = prompt_safe


class LLMGenerator:
    """rag.generate.protocol.Generator over any ChatModel (local llama.cpp or an OpenAI-compatible server)."""

    def __init__(
        self,
        chat: ChatModel,
        max_tokens: int = 256,
        *,
        name: str = "local",
        context_chars: int = 1200,
        max_passages: int = 5,
    ) -> None:
        self.chat = chat  # public so the follow-up rewriter can share the one loaded model
        self.name = name
        self.max_tokens = max_tokens
        self.context_chars = context_chars
        self.max_passages = max_passages
        self._system = load_prompt("system")
        self._answer = load_prompt("answer")

    def warm_up(self) -> None:
        warm = getattr(self.chat, "warm_up", None)
        if warm is not None:
            warm()

    def generate(self, request: GenerationRequest) -> Iterator[str]:
        messages = self.messages(request)
        max_tokens = min(self.max_tokens, request.max_tokens) if request.max_tokens else self.max_tokens
        first = True
        for piece in self.chat.chat(messages, max_tokens):
            if isinstance(piece, Truncated):
                yield piece
                continue
            if first:
                piece = piece.lstrip()
                if not piece:
                    continue
                first = False
            yield piece

    # --- prompt rendering (public: benchmarks replay the exact prompts through the raw model) ---

    def messages(self, request: GenerationRequest) -> list[dict]:
        question = _clean(request.query or request.question)
        return [
            {"role": "system", "content": self._system.render().strip()},
            {"role": "user", "content": self._answer.render(sources=self.render_sources(request), question=question).strip()},
        ]

    def render_sources(self, request: GenerationRequest) -> str:
        question = f"{request.question} {request.query}"
        excerpts = self._excerpts(request.passages[: self.max_passages], question)
        lines, previous = [], None
        for n, (title, text) in excerpts:
            # A title repeated on every passage of one document only costs prompt tokens.
            head = f"[{n}] ({_clean(title)}) " if title and title != previous else f"[{n}] "
            previous = title
            lines.append(head + text)
        return "\n".join(lines) if lines else "(no sources)"

    def _excerpts(self, passages: list[Passage], question: str) -> list[tuple[int, tuple[str, str]]]:
        """(marker, (title, text)) for the passages kept; trimmed to the best sentences if over budget."""
        full = [(i + 1, p.chunk.title, _clean(p.chunk.text)) for i, p in enumerate(passages)]
        if sum(len(t) for _, _, t in full) <= self.context_chars:
            return [(n, (title, text)) for n, title, text in full if text]
        q = term_set(question)
        candidates = []  # (score, marker, position, sentence)
        seen: set[str] = set()
        for rank, p in enumerate(passages):
            text = p.chunk.text
            for pos, (s, e) in enumerate(split_sentences(text)):
                sentence = _clean(text[s:e])
                key = sentence.lower()
                if not sentence or key in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(key)
                overlap = len(q & term_set(sentence))
                # Retrieval rank breaks ties and favours the passages the retriever trusted most.
                candidates.append((overlap + 0.5 / (rank + 1), rank + 1, pos, sentence))
        chosen: dict[int, list[tuple[int, str]]] = {}
        used = 0
        for score, n, pos, sentence in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            if used and used + len(sentence) > self.context_chars:
                continue
            if used == 0 and score <= 0:
                break
            chosen.setdefault(n, []).append((pos, sentence))
            used += len(sentence) + 1
        out = []
        for n in sorted(chosen):
            parts = sorted(chosen[n])
            text = parts[0][1]
            for (prev, _), (pos, sentence) in pairwise(parts):
                text += (" " if pos == prev + 1 else " … ") + sentence
            out.append((n, (passages[n - 1].chunk.title, text)))
        return out
