"""Follow-ups that ask for more (issue 29): read from the conversation's text, they leave out what the
conversation showed, keep to its subject, or say that the documents say nothing more."""

from __future__ import annotations

import pytest

from core.types import FollowUp, Turn, sentence_key
from rag.rewrite.followup import follow_up_kind, is_follow_up, read_follow_up, with_subject

YUN_SENTENCE = ("Yun Sun, director of the China program at the Washington-based Stimson Center, said China doesn't "
                "feel it can control the deepening engagement between Russia and North Korea")
YUN = [Turn("user", "Who is Yun Sun?"), Turn("assistant", f"{YUN_SENTENCE} [1].")]
SUN_QUOTE = "irreplaceable role"


@pytest.mark.parametrize(("question", "kind"), [
    ("What else did she say?", "more"), ("anything more?", "more"), ("Tell me more", "more"),
    ("Did she say anything else?", "more"), ("any other reasons?", "more"),
    ("anything more about the money?", "more"),
    ("go on", "continue"), ("and then?", "continue"), ("what happened next?", "continue"), ("continue", "continue"),
    ("and the other expert?", "other"), ("what about Japan?", "other"), ("and by ferry?", "other"),
    ("and Liu Dongshu?", "other"),
    ("Who is Yun Sun?", ""), ("What does he need in Northeast Asia?", ""), ("And why did she say that?", ""),
    ("How many shipping containers has Russia received from North Korea?", ""),
])
def test_the_kind_of_follow_up(question, kind):
    assert follow_up_kind(question) == kind
    if kind:
        assert is_follow_up(question)  # the rewriter carries the conversation into it too


def test_a_follow_up_reads_its_subject_and_the_shown_sentences_from_the_text():
    fu = read_follow_up("What else did she say?", YUN)
    assert fu.kind == "more" and fu.subject == "Yun Sun" and fu.names == {"yun", "sun"}
    assert fu.has_shown(YUN_SENTENCE + ".")  # the document's sentence, markers and punctuation aside
    assert not fu.has_shown('"But they do know that China plays an irreplaceable role for both Russia and North '
                            'Korea," she added.')
    assert fu.no_answer() == "The documents say nothing more about Yun Sun."
    assert "What did Yun Sun" not in fu.question and "Who is Yun Sun?" in fu.question  # ranked by what was asked


def test_not_a_follow_up_asking_for_more_or_nothing_shown_yet():
    assert not read_follow_up("Who is Yun Sun?", YUN)
    assert not read_follow_up("What else did she say?", [Turn("user", "Who is Yun Sun?")])
    assert not FollowUp().has_shown(YUN_SENTENCE)


def test_a_light_paraphrase_counts_as_shown_and_a_short_sentence_never_does():
    fu = FollowUp("more", shown=(sentence_key("Yun Sun, director of the China program at the Stimson Center, said "
                                              "China does not feel it can "
                                              "control the deepening engagement between Russia and North Korea."),
                                 sentence_key("Yes.")))
    assert fu.has_shown(YUN_SENTENCE)
    assert not fu.has_shown("Yes.")
    assert not fu.has_shown("China remains the largest trade partner for both Russia and North Korea.")


def test_the_person_two_turns_back_and_the_title_asked_about():
    history = [Turn("user", "Who cut the ribbon?"),
               Turn("assistant", '"For six decades, the island\'s day started when the ferry\'s horn sounded," said '
                                 "Mayor Dana Whitcombe, who cut the ribbon at 10:30 a.m. [1]"),
               Turn("user", "How long did the ferry crossing take?"),
               Turn("assistant", "The crossing used to take 25 minutes by ferry. [1]")]
    fu = read_follow_up("What else did she say?", history)
    assert fu.subject == "Mayor Dana Whitcombe" and fu.names == {"dana", "whitcombe"}
    assert fu.question.startswith("What did Mayor Dana Whitcombe say?")
    assert with_subject("What else did she say? long ferry", fu).endswith("Mayor Dana Whitcombe")
    assert read_follow_up("what else did the mayor say?", history).subject == "Mayor Dana Whitcombe"


def test_the_other_one_is_the_name_not_shown_and_a_place_is_matched_as_a_phrase():
    history = [Turn("user", "What did Gordon Pyke and Eleanor Marsh say?"),
               Turn("assistant", "Gordon Pyke said he expected to lose most of his trade. [1]")]
    assert read_follow_up("and the other one?", history).subject == "Eleanor Marsh"
    japan = [Turn("user", "How did Japan react to the pact?"), Turn("assistant", 'Japan voiced "grave concerns". [1]')]
    fu = read_follow_up("what about South Korea?", japan)
    assert fu.question == "How did South Korea react to the pact?"
    assert fu.names_in("Seoul responded at once.") and not fu.names_in("North Korea denied it.")


def test_follow_ups_through_the_assistant_bring_what_was_not_shown(article_assistant):
    """Who is Yun Sun? -> What else did she say? -> anything more? (issue 29's walk, real index)."""
    first = article_assistant.ask("Who is Yun Sun?")
    history = [Turn("user", "Who is Yun Sun?"), Turn("assistant", first.text)]
    second = article_assistant.ask("What else did she say?", history)
    assert SUN_QUOTE in second.text and not second.abstained
    shown = {sentence_key(s.text) for s in first.sentences}
    assert not shown & {sentence_key(s.text) for s in second.sentences}
    assert second.citations and all(c.doc_id for c in second.citations)
    history += [Turn("user", "What else did she say?"), Turn("assistant", second.text)]
    third = article_assistant.ask("anything more?", history)
    assert third.abstained and third.text == "The documents say nothing more about Yun Sun."
    assert "already shown" in third.abstain_reason


def test_a_client_sending_history_as_messages_gets_the_same(article_assistant):
    """LangChain's runnable takes {role, content} turns: the shown sentence is recovered from the text."""
    runnable = article_assistant.as_runnable()
    history = [{"role": "user", "content": "Who is Yun Sun?"}, {"role": "assistant", "content": f"{YUN_SENTENCE} [1]."}]
    answer = runnable.invoke({"question": "What else did she say?", "history": history})
    assert SUN_QUOTE in answer.text and "deepening engagement" not in answer.text


def test_and_then_continues_after_the_last_shown_sentence(article_assistant):
    history = [Turn("user", "What happened a month before Putin's trip to Pyongyang?"),
               Turn("assistant", "A month earlier, Putin and Xi delivered a similar message during Putin's visit "
                                 "to Beijing. [1]")]
    answer = article_assistant.ask("and then?", history)
    assert "joint statement" in answer.text and "a similar message" not in answer.text
