"""Evidence-first LLM answers, verified or replaced by the extractive answer (issue 15), on the real index.

The prompt tests use the real extractive generator (packaged MiniLM, real Chroma) as the evidence
selector. The replace-or-keep tests need a model that fails on demand, which no real model does, so a
scripted chat plays the failing model (the faults are the ones measured on Qwen 0.5B: a looping name, a
bare "X is quoted in [1]", a refusal, an unsupported claim); the assistant, verifier and fallback are real.
"""

from __future__ import annotations

import pytest

from core.types import Final, TextDelta
from rag.generate.llm import LLMGenerator, RankedEvidence
from rag.generate.protocol import GenerationRequest, NoAnswer
from rag.verify.draft import draft_problem, repeats
from tests.test_contracts import ScriptedChat

Q = "How many shipping containers has Russia received from North Korea?"


def _llm(assistant, reply: str) -> tuple[LLMGenerator, ScriptedChat]:
    chat = ScriptedChat(reply)
    return LLMGenerator(chat, 128, name="local", evidence=RankedEvidence(assistant.generator)), chat


def _ask(assistant, reply: str, question: str = Q):
    gen, chat = _llm(assistant, reply)
    events = list(assistant.with_generator(gen, reference=assistant.generator).stream(question))
    assert isinstance(events[-1], Final)
    return events, events[-1].answer, chat


def test_prompt_is_the_extractive_evidence_and_short(article_assistant) -> None:
    gen, _ = _llm(article_assistant, "")
    passages = article_assistant.retriever.search(Q, 5).passages
    user = gen.messages(GenerationRequest(Q, Q, passages))[1]["content"]
    sources = user[user.index("<<<SOURCES>>>"): user.index("<<<END SOURCES>>>")]
    chosen = article_assistant.generator.select(GenerationRequest(Q, Q, passages))
    assert chosen and all(c.text in sources for c in chosen), "the prompt holds the extractive ranking's sentences"
    assert "10,000 shipping containers" in sources
    assert len(user.split()) < 150, f"about 150 tokens after the system prompt, got {len(user.split())} words"


def test_a_pronoun_sentence_brings_its_antecedent(article_assistant) -> None:
    q = "What did Yun Sun say China does not want?"
    gen, _ = _llm(article_assistant, "")
    passages = article_assistant.retriever.search(q, 5).passages
    for e in gen.evidence(GenerationRequest(q, q, passages)):
        if e.before:
            assert e.before != e.text
            break
    else:
        pytest.skip("no evidence sentence refers back for this question on this index")


def test_a_good_draft_is_shown_and_kept(article_assistant) -> None:
    reply = "Russia has received over 10,000 shipping containers from North Korea [1]."
    _, answer, chat = _ask(article_assistant, reply)
    assert chat.calls == 1 and answer.generator == "local"
    assert "10,000" in answer.text and not answer.notice and not answer.unsupported_sentences
    assert answer.draft.strip() == reply and answer.to_dict()["draft"].strip() == reply


@pytest.mark.parametrize("reply, reason", [
    ("Liu Yun Sun Yun Sun Yun Sun Yun Sun China remains [1].", "repeats itself"),
    ("Edward Howell is quoted in [1].", "quoted, not what it is"),
    ("The sources do not say.", "do not answer"),
    ("The Moon is made of cheese and was sold to Norway in 1802 [1].", "not supported"),
])
def test_a_failing_draft_is_replaced_by_the_extractive_answer(article_assistant, reply, reason) -> None:
    events, answer, _ = _ask(article_assistant, reply)
    expected = article_assistant.ask(Q)
    assert answer.generator == "extractive" and answer.text == expected.text
    assert "could not be verified" in answer.notice and reason in answer.notice
    assert answer.draft.strip() == reply.strip(), "the model's draft is kept for evaluation"
    assert any(isinstance(e, TextDelta) for e in events)


def test_no_good_evidence_means_no_model_call(article_assistant) -> None:
    gen, chat = _llm(article_assistant, "Paris [1].")
    passages = article_assistant.retriever.search("What is the capital of France?", 5).passages
    out = list(gen.generate(GenerationRequest("What is the capital of France?", "What is the capital of France?",
                                              passages)))
    assert chat.calls == 0 and len(out) == 1 and isinstance(out[0], NoAnswer)


def test_draft_checks_name_their_reason() -> None:
    from core.types import Sentence

    ok = [Sentence("Russia got 10,000 containers.", (1,), True, 0.8)]
    assert draft_problem(ok, "Russia got 10,000 containers.", "How many containers?", "Russia got 10,000 containers") == ""
    assert "adds nothing" in draft_problem(ok, "Russia got containers.", "Russia got containers?", "Russia got 10,000")
    assert repeats("Sun Yun Sun Yun Sun Yun Sun") and not repeats("The bridge is long and the bridge is old.")


def test_a_draft_that_drops_the_time_asked_for_is_not_shown() -> None:
    """Measured on Qwen 0.5B: "Five years ago, Xi ..." became "Xi ... in 14 years" for a "how long ago" question."""
    from core.types import Sentence
    from rag.generate.extractive import answer_type

    q = "How long ago did Xi Jinping get the same open-top ride through Pyongyang?"
    ref = "Five years ago, Xi Jinping was treated to the same open-top ride when he visited Pyongyang in 14 years."
    draft = "Xi Jinping was treated to the same open-top ride when he visited Pyongyang in 14 years."
    s = [Sentence(draft, (1,), True, 0.9)]
    assert "leaves out ago" in draft_problem(s, draft, q, ref, reference=ref, wants=answer_type(q))
    assert draft_problem([Sentence(ref, (1,), True, 0.9)], ref, q, ref, reference=ref, wants=answer_type(q)) == ""


def test_a_draft_that_answers_from_another_sentence_is_not_shown() -> None:
    """Measured on Qwen 0.5B (axis-of-evil): the answer was in the best sentence, the draft garbled another."""
    from core.types import Sentence

    q = "What did a senior US military commander liken the coordination among China, Russia, North Korea and Iran to?"
    best = ("Western observers warn of a loose but growing coordination of interests among China, Russia, North "
            'Korea, and Iran, likened by a senior US military commander to a new "axis of evil."')
    draft = "Liu likened China, Russia, North Korea, and Iran to a senior US military commander."
    ev = best + " Beijing will be cautious to keep a distance, said Liu."
    assert "best answers" in draft_problem([Sentence(draft, (1,), True, 0.9)], draft, q, ev, best=best)
    good = "A senior US military commander likened it to a new axis of evil."
    assert draft_problem([Sentence(good, (1,), True, 0.9)], good, q, ev, best=best) == ""
