"""Follow-up rewriting: heuristic (no model), the LLM rewriter's fallback, and retrieval of a follow-up."""

from __future__ import annotations

import pytest

from core.errors import GeneratorError
from core.types import Turn
from rag.rewrite.rewrite import HeuristicRewriter, LLMRewriter, entities, is_follow_up
from tests.llm_fixtures import smollm_chat, smollm_path  # noqa: F401

YUN = [Turn("user", "Who is Yun Sun?"), Turn("assistant", "She directs the China program at the Stimson Center [1].")]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did she say about China?", True),
        ("Is it still in force?", True),
        ("What about Japan?", True),
        ("And South Korea?", True),
        ("Why?", True),
        ("Who is Yun Sun?", False),
        ("How many shipping containers has Russia received from North Korea?", False),
    ],
)
def test_is_follow_up(question, expected):
    assert is_follow_up(question) is expected


def test_entities():
    assert entities("Who is Yun Sun?") == ["Yun Sun"]
    assert entities("What did the Stimson Center say about China's role?") == ["Stimson Center", "China"]
    assert entities("How did the US react?") == ["US"]


def test_pronoun_follow_up_carries_the_entity():
    q = HeuristicRewriter().rewrite("What did she say about China's role?", YUN)
    assert q.startswith("What did she say about China's role?")
    assert "Yun Sun" in q


def test_it_follow_up_carries_the_topic():
    history = [Turn("user", "When was North Korea's treaty with China signed?"), Turn("assistant", "In 1961 [1].")]
    q = HeuristicRewriter().rewrite("Is it still in force?", history)
    assert "treaty" in q and "North Korea" in q


def test_what_about_swaps_the_entity_but_keeps_the_predicate():
    history = [Turn("user", "How did Japan react to the pact?")]
    q = HeuristicRewriter().rewrite("What about South Korea?", history)
    assert "react" in q and "pact" in q and "Japan" not in q


def test_chained_follow_ups_reach_back_to_the_entity():
    history = [*YUN, Turn("user", "What did she say?"), Turn("assistant", "...")]
    assert "Yun Sun" in HeuristicRewriter().rewrite("Why does she think so?", history)


def test_standalone_questions_and_empty_history_are_untouched():
    r = HeuristicRewriter()
    assert r.rewrite("Who is Edward Howell?", YUN) == "Who is Edward Howell?"
    assert r.rewrite("What did she say?", []) == "What did she say?"


class _DeadChat:
    """A chat model that is down: the real failure mode of a remote LLM, without needing one."""

    def chat(self, messages, max_tokens):
        raise GeneratorError("LLM server unreachable")
        yield ""  # pragma: no cover


def test_llm_rewriter_falls_back_to_the_heuristic():
    q = LLMRewriter(_DeadChat()).rewrite("What did she say about China's role?", YUN)
    assert "Yun Sun" in q


def test_llm_rewriter_skips_the_model_for_standalone_questions():
    class Counting:
        calls = 0

        def chat(self, messages, max_tokens):
            Counting.calls += 1
            yield "x"

    assert LLMRewriter(Counting()).rewrite("Who is Edward Howell?", YUN) == "Who is Edward Howell?"
    assert Counting.calls == 0


@pytest.mark.slow
def test_llm_rewriter_with_a_real_model(smollm_chat):  # noqa: F811
    q = LLMRewriter(smollm_chat).rewrite("What did she say about China's role?", YUN)
    assert q and "\n" not in q and len(q) < 400


def test_follow_up_retrieves_the_yun_sun_passage(article_assistant):
    a = article_assistant.ask("What did she say about China's role?", YUN)
    assert "Yun Sun" in a.query
    assert "Yun Sun" in a.retrieved[0].chunk.text
    assert not a.abstained
    assert "irreplaceable" in a.text
    assert any("irreplaceable role" in c.text for c in a.citations)


class _Recording:
    """Records the messages a rewrite sends and replies with a fixed standalone question."""

    def __init__(self, reply: str) -> None:
        self.reply, self.sent = reply, []

    def chat(self, messages, max_tokens):
        self.sent.append(messages)
        yield self.reply


def test_llm_rewriter_lets_the_heuristic_resolve_what_it_can():
    chat = _Recording("What did Yun Sun say?")
    r = LLMRewriter(chat)
    assert "Yun Sun" in r.rewrite("What did she say about China's role?", YUN)
    assert chat.sent == [] and r.calls == {"heuristic": 1}


def test_llm_rewriter_calls_the_model_only_for_an_unresolved_reference_keeping_the_system_prompt():
    from core.types import Turn
    from prompts import load_prompt

    chat = _Recording("What did Yun Sun say about China?")
    r = LLMRewriter(chat)
    out = r.rewrite("What did she say?", [Turn("user", "and then?"), Turn("assistant", "the sources do not say.")])
    assert out == "What did Yun Sun say about China?" and r.calls == {"llm": 1}
    first = chat.sent[0][0]
    assert first == {"role": "system", "content": load_prompt("system").render().strip()}, \
        "the answer's system prompt opens the rewrite too, so llama.cpp's cached prefix survives it"
