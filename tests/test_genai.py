"""Evidence-first LLM answers, verified or replaced by the extractive answer (issue 15), on the real index.

The prompt tests use the real extractive generator (packaged MiniLM, real Chroma) as the evidence
selector. The replace-or-keep tests need a model that fails on demand, which no real model does, so a
scripted chat plays the failing model (the faults are the ones measured on Qwen 0.5B: a looping name, a
bare "X is quoted in [1]", a refusal, an unsupported claim); the assistant, verifier and fallback are real.
"""

from __future__ import annotations

import pytest

from core.types import Final, GenerationRequest, NoAnswer, TextDelta
from rag.generate.llm import LLMGenerator, RankedEvidence
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
    from core.language.answer_types import answer_type
    from core.types import Sentence

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


# --- streaming: only verified sentences reach the reader; a shown draft never says less than extractive ---

class _CountingChat(ScriptedChat):
    """Counts the pieces handed out, so a test can tell whether text was shown before the draft ended."""

    def chat(self, messages: list[dict], max_tokens: int):
        self.sent = 0
        for piece in super().chat(messages, max_tokens):
            self.sent += 1
            yield piece


def _stream(assistant, reply: str, question: str = Q):
    chat = _CountingChat(reply)
    gen = LLMGenerator(chat, 128, name="local", evidence=RankedEvidence(assistant.generator))
    shown_at, events = [], []
    for event in assistant.with_generator(gen, reference=assistant.generator).stream(question):
        if isinstance(event, TextDelta) and event.text:
            shown_at.append(chat.sent)
        events.append(event)
    return events, events[-1].answer, shown_at, len(reply.split(" "))


def _two_sentences(assistant) -> tuple[str, str]:
    """The answer sentence for Q and the sentence after it in its passage, both verbatim (so supported)."""
    passages = assistant.retriever.search(Q, 5).passages
    best = assistant.generator.select(GenerationRequest(Q, Q, passages))[0]
    texts = assistant.verifier.bank.get([passages[best.passage].chunk])[0].texts
    assert best.sentence + 1 < len(texts), "the answer sentence is not its passage's last"
    return best.text, texts[best.sentence + 1]


def test_a_verified_sentence_is_shown_before_the_draft_ends(article_assistant) -> None:
    first, second = _two_sentences(article_assistant)
    reply = f"{first} [1] {second} [1]"
    events, answer, shown_at, total = _stream(article_assistant, reply)
    assert answer.generator == "local" and not answer.notice
    assert shown_at and shown_at[0] < total, "the first sentence waits for the whole draft"
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed == answer.text, "what streamed is exactly the verified answer"


def test_an_unverified_sentence_is_never_streamed(article_assistant) -> None:
    first, _ = _two_sentences(article_assistant)
    events, answer, _, _ = _stream(article_assistant, f"{first} [1] The Moon was sold to Norway in 1802 for cheese [1].")
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "cheese" not in streamed and "Norway" not in streamed
    assert first.split()[0] in streamed, "the verified first sentence was shown while the draft went on"
    assert answer.generator == "extractive" and "could not be verified" in answer.notice
    assert streamed.endswith(answer.text), "the replacement follows what was shown"


def test_a_draft_that_leaves_out_an_extractive_sentence_is_completed(article_assistant) -> None:
    """Measured on Qwen 0.5B (fu-xi-promise): the draft kept the first of two evidence sentences; the
    answer was in the second. The shown answer now holds the draft and the sentence it left out."""
    q = "What did Xi and Kim vow to do when Xi visited Pyongyang five years ago?"
    passages = article_assistant.retriever.search(q, 5).passages
    chosen = article_assistant.generator.select(GenerationRequest(q, q, passages))
    assert len(chosen) >= 2, [c.text for c in chosen]
    best = max(chosen, key=lambda c: c.score)
    reply = f"[{best.passage + 1}] {best.text.rstrip('.')}"  # Qwen's habit: marker first, no final stop
    _, answer, _, _ = _stream(article_assistant, reply, q)
    assert answer.generator == "local" and not answer.unsupported_sentences, answer.notice
    assert all(c.text[:40] in answer.text for c in chosen), answer.text
    assert len(answer.sentences) == len(chosen), "the draft's last sentence and the added one stay two sentences"
    assert answer.draft.strip() == reply


def test_release_waits_for_a_complete_sentence_and_its_marker() -> None:
    from rag.verify.release import DraftRelease

    seen = []
    release = DraftRelease(lambda prefix: seen.append(prefix) or prefix)
    out = [release.feed(p) for p in ["Russia got ", "10,000 containers", ". [", "1] Then", " more"]]
    assert out[:3] == ["", "", ""], "nothing before the next sentence starts"
    assert out[3] == "Russia got 10,000 containers [1]." and seen == [out[3]]
    assert release.advance(out[3] + " Then more.") == " Then more."
    assert release.advance("Something else.") == "", "what is shown is never rewritten"
    held = DraftRelease(lambda prefix: None)
    assert [held.feed(p) for p in ["A is B [1]. ", "C is D [1]. E"]] == ["", ""] and held.shown == ""


def test_only_a_near_copy_covers_an_extractive_sentence() -> None:
    """Measured on Qwen 0.5B (article-hard dev case hard-beijing-fear): the rewording lost "enable"."""
    from rag.verify.draft import uncovered

    q = "What does Beijing fear Moscow's help might do to the Pyongyang regime?"
    ref = ["Beijing is concerned that Moscow's assistance to Pyongyang might further enable and embolden the "
           "erratic Kim regime, which has rapidly accelerated its nuclear weapons and missile programs."]
    reworded = ("Beijing fears Moscow's help might lead to the erratic Kim regime emboldening it, which has rapidly "
                "accelerated its nuclear weapons and missile programs.")
    near_copy = ("Beijing is concerned that Moscow's assistance to Pyongyang might enable and embolden the erratic "
                 "Kim regime, which has rapidly accelerated its nuclear weapons and missile programs.")
    assert uncovered(reworded, q, ref) == [0]
    assert uncovered(near_copy, q, ref) == [], "one dropped word ('further') is still a copy"


def test_an_unsupported_sentence_stops_the_model(article_assistant) -> None:
    """No later sentence can make such a draft pass: the model stops and the extractive answer shows."""
    first, second = _two_sentences(article_assistant)
    reply = f"The Moon was sold to Norway in 1802 for cheese [1]. {first} [1] {second} [1]"
    chat = _CountingChat(reply)
    gen = LLMGenerator(chat, 128, name="local", evidence=RankedEvidence(article_assistant.generator))
    events = list(article_assistant.with_generator(gen, reference=article_assistant.generator).stream(Q))
    answer = events[-1].answer
    assert chat.sent < len(reply.split(" ")) // 2, "the model went on after the unsupported sentence"
    assert answer.generator == "extractive" and "not supported" in answer.notice
    assert "cheese" not in "".join(e.text for e in events if isinstance(e, TextDelta))
