"""Follow-up rewriting: turn "What did she say about China?" into a query retrieval can use on its own.

HeuristicRewriter needs no model: it detects a follow-up (pronouns, "what about ...", very short
questions) and appends the entities and key terms of the previous turns. LLMRewriter runs it first and
asks a chat model (prompts/rewrite.yaml) only when it carried nothing into a follow-up; it falls back to
the heuristic's query when the model fails or answers nonsense.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from core.language.names import entities
from core.language.terms import content_terms
from core.types import Turn
from rag.prompt_safety import prompt_safe
from rag.rewrite.followup import is_follow_up, replaces_topic

__all__ = ["HeuristicRewriter", "LLMRewriter", "Rewriter", "is_follow_up"]



class Rewriter(Protocol):
    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone version of `question` given the conversation so far."""
        ...


class HeuristicRewriter:
    """Carries the entities and key terms of earlier turns into a follow-up. No model needed."""

    def __init__(self, max_terms: int = 8, max_turns: int = 3) -> None:
        self.max_terms = max_terms
        self.max_turns = max_turns

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        question = question.strip()
        if not history or not is_follow_up(question):
            return question
        users = [t.content for t in history if t.role == "user"][-self.max_turns :]
        # walk back while the earlier question was itself a follow-up: its referent lies further back
        context: list[str] = []
        for text in reversed(users):
            context.insert(0, text)
            if not is_follow_up(text):
                break
        # "What about Japan?", "And Liu Dongshu?": a new name swaps the entity but keeps the rest of the question
        swaps = replaces_topic(question)
        ents: list[str] = []
        terms: list[str] = []
        for text in reversed(context):
            ents.extend(entities(text))
            terms.extend(content_terms(text))
        if not ents:
            answers = [t.content for t in history if t.role == "assistant"]
            if answers:
                ents.extend(entities(answers[-1])[:2])
        have = set(content_terms(question))
        carry: list[str] = []
        if not swaps:
            for e in ents:
                if not set(content_terms(e)) <= have:
                    carry.append(e)
                    have |= set(content_terms(e))
        for t in terms:
            if t not in have and not t.isdigit():
                carry.append(t)
                have.add(t)
        if not carry:
            return question
        return f"{question} {' '.join(carry[: self.max_terms])}"


class LLMRewriter:
    """Heuristic first; a chat model (rag.generate.chat.ChatModel) only for a reference the heuristic
    cannot resolve (a follow-up it carries nothing into). The model call opens with the answer's system
    prompt, so llama.cpp's cached prefix survives the rewrite. `calls` counts which path each follow-up took."""

    def __init__(self, chat, *, fallback: Rewriter | None = None, max_tokens: int = 48, max_turns: int = 4) -> None:
        self.chat = chat
        self.fallback = fallback or HeuristicRewriter()
        self.max_tokens = max_tokens
        self.max_turns = max_turns
        self.calls: Counter[str] = Counter()

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        question = question.strip()
        if not history or not is_follow_up(question):
            return question  # a standalone question costs no LLM call
        heuristic = self.fallback.rewrite(question, history)
        if heuristic != question:
            self.calls["heuristic"] += 1
            return heuristic
        self.calls["llm"] += 1
        from prompts import load_prompt

        # history is untrusted text too (earlier answers quote documents): the same cleaning as passages
        turns = list(history)[-2 * self.max_turns :]
        lines = "\n".join(f"{t.role}: {prompt_safe(t.content)[:400]}" for t in turns)
        messages = [{"role": "system", "content": load_prompt("system").render().strip()},
                    {"role": "user", "content": load_prompt("rewrite").render(history=lines,
                                                                              question=prompt_safe(question))}]
        try:
            # text pieces only: a chat model ends a reply cut at the token limit with a non-text event
            out = "".join(p for p in self.chat.chat(messages, max_tokens=self.max_tokens) if isinstance(p, str))
        except Exception:  # any model failure: the heuristic's query is still usable
            return heuristic
        line = _first_line(out)
        if not line or len(line) > 3 * len(question) + 200 or not content_terms(line) or "do not say" in line.lower():
            return heuristic
        return line


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = re.sub(r"^\s*(?:standalone\s+question|rewritten(?:\s+question)?)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”").strip()
        if line:
            return line
    return ""
