"""The question-side guard (issue 27): an answer whose evidence does not meet the question's names, numbers,
dates or qualifiers abstains, with a reason naming the unmet part; a constraint only spelled differently
("U.S." / "United States", "Pyongyang" / North Korea) is still met."""

from __future__ import annotations

import pytest

from core.language.constraints import constraints, hedged_phrase
from core.types import GenerationRequest
from rag.verify.question import ConstraintGuard, Evidence

TITLE = "The Elephant In The Room: China's Watchful Eye On The Putin-Kim Alliance."
MINISTRY = ("A spokesperson for China's Foreign Ministry declined to comment on the treaty, labeling it a "
            "bilateral matter between Russia and North Korea.")
SEOUL = ("South Korea responded with an emergency national security meeting, considering the possibility of "
         "sending arms to Ukraine.")
SOVIET = ("The mutual defense pact between Kim and Putin is reminiscent of a 1961 treaty between North Korea and "
          "the Soviet Union during the Cold War, which offered much weaker security assurances after the Soviet "
          "Union's collapse.")
CONTAINERS = ("According to a U.S. statement in February, Russia has received over 10,000 shipping containers "
              "from North Korea, equivalent to 260,000 metric tons of munitions or related materials.")
XI = "Five years ago, Xi became the first Chinese leader in 14 years to visit Pyongyang."
LIU = ('"China does not want to be seen as part of a new axis of evil," said Liu Dongshu, an assistant '
       "professor at City University of Hong Kong.")

CAR = ("As Russian President Vladimir Putin cruised through the crowd-lined streets of Pyongyang in a luxury "
       "Mercedes-Benz alongside his North Korean host Kim Jong Un, their most crucial partner was watching.")

GUARD = ConstraintGuard()


def unmet(question: str, sentence: str, context: str = TITLE) -> str:
    return GUARD.unmet(question, [Evidence(sentence, sentence, context)])


@pytest.mark.parametrize("question, sentence, expected", [
    # the three examples
    ("How did Iran's foreign ministry respond to the treaty?", MINISTRY, "never say this about Iran"),
    ("Which weapons did South Korea end up sending to Ukraine?", SEOUL,
     "mention considering the possibility of sending arms, not what actually happened"),
    ("On what exact calendar date was the Russia-North Korea treaty signed?", SOVIET, "Russia-North Korea"),
    # a year for an exact date, even about the right treaty
    ("On what exact date was the Sino-North Korea treaty signed?",
     "North Korea's mutual defense treaty with China, also signed in 1961, remains in place.",
     "a year (1961), not an exact date"),
    ("What were the 20,000 shipping containers Russia received equivalent to?", CONTAINERS,
     "never mention 20,000"),
    ("Who was the first Chinese leader ever to visit Pyongyang?", XI, "first within a period, not first ever"),
    ("What did Edward Howell say about a new axis of evil?", LIU, "to Liu Dongshu, not Edward Howell"),
    ("Which is the only country that has supplied Russia with munitions?", CONTAINERS,
     "never say which was the only"),
    ("What did Russia receive from North Korea in June?", CONTAINERS, "never mention June"),
    # the article suite's unsettled questions: a make for a model, a past visit for a future one
    ("Which Mercedes-Benz model did Putin and Kim ride in?", CAR, "name the Mercedes-Benz but not which model"),
    ("Will Xi Jinping visit Pyongyang again next year?", XI, "what happened before (\"ago\"), not what will happen"),
    # a hedge reaches its verb through linking words, and a plain noun before it does not undo it
    ("Who did the army send to Paris?", "The army may have sent its best officers to Paris.",
     "mention may have sent, not what actually happened"),
])
def test_unmet_constraints_are_named(question, sentence, expected):
    assert expected in unmet(question, sentence)


@pytest.mark.parametrize("question, sentence", [
    # spelled differently: aliases, capitals for governments, demonyms
    ("How did Beijing's foreign ministry respond to the treaty?", MINISTRY),
    ("How did the Chinese foreign ministry respond to the treaty?", MINISTRY),
    ("According to a United States statement, how many shipping containers did Moscow receive from Pyongyang?",
     CONTAINERS),
    ("According to a U.S. statement, how many shipping containers did Russia receive from the DPRK?", CONTAINERS),
    ("How did Seoul respond to the pact?", SEOUL),
    ("What did South Korea consider doing after the pact?", SEOUL),  # asks what was considered
    ("What were the 10,000 shipping containers equivalent to?", CONTAINERS),
    ("Who was the first Chinese leader in 14 years to visit Pyongyang?", XI),
    ("According to Liu, what does China not want to be seen as part of?", LIU),
    ("In what year did North Korea sign its treaty with the Soviet Union?", SOVIET),
    # found answering SQuAD test questions (training/near_miss_eval.py): initials, accents, a misspelling,
    # a decade, a hedge in another clause, a plain past "sought"
    ("The UMC condemns what type of punishment?",
     "The United Methodist Church, along with other Methodist churches, condemns capital punishment."),
    ("When was Tesla returned to Gospic?", "On 24 March 1879, Tesla was returned to Gospić under police guard."),
    ("Who influenced Bismark?", "Bismarck was influenced by Hamburg merchants."),
    ("Who did Tesla work for in the 1880s?", "In 1882, Tesla began working for the Continental Edison Company."),
    ("Who mapped the Alta Vista Tract?", "The Alta Vista Tract, as the land would become known, was mapped by Stranahan."),
    ("Where did Tesla look for investors prior to WWI?", "Before World War I, Tesla sought overseas investors."),
    ("What did the UMC say about war?", "The United Methodist Church said that war is incompatible with its teaching."),
    # a make and its model; a future question answered in the future or the present; a hedge word used as a
    # plain past verb ("voiced ... openness to") governs no question word
    ("Which Mercedes-Benz model did Putin ride in?", "Putin rode in a Mercedes-Benz S600 through the city."),
    ("What kind of car did Putin ride in through the streets of Pyongyang?", CAR),
    ("When will the bridge close to traffic?", "The bridge will close to traffic when winds exceed 90 km/h."),
    ("What did Japan voice about Putin's military technology cooperation with Pyongyang?",
     'Japan voiced "grave concerns" about Putin\'s openness to military technology cooperation with Pyongyang.'),
])
def test_constraints_only_spelled_differently_are_met(question, sentence):
    assert unmet(question, sentence) == ""


def test_a_name_in_the_sentences_before_counts():
    """"It spans 312 metres" answers a question about the bridge the sentence before names."""
    context = "Kessick Narrows Bridge. The Kessick Narrows Bridge opened in May."
    assert unmet("How long is the Kessick Narrows Bridge?", "It spans 312 metres.", context) == ""
    assert "Tamar" in unmet("How long is the Tamar Bridge?", "It spans 312 metres.", context)


def test_question_constraints_are_read_with_the_shared_vocabularies():
    c = constraints("Which weapons did South Korea end up sending to Ukraine?")
    assert [n.text for n in c.names] == ["South Korea", "Ukraine"]
    assert c.fact_marker == "end up" and c.actual and "send" in c.terms
    assert not constraints("What did South Korea consider doing?").actual
    assert constraints("On what exact calendar date was it signed?").exact_date
    assert not constraints("In what year was it signed?").exact_date
    # an unhedged mention of the asked-for act settles it; no mention at all is not hedging
    assert hedged_phrase("South Korea sent arms to Ukraine.", c.terms) == ""
    assert hedged_phrase("South Korea held a meeting.", c.terms) is None


# ------------------------------------------------------------------------------------------ in the pipeline
@pytest.mark.parametrize("question, reason", [
    ("How did Iran's foreign ministry respond to the treaty?", "Iran"),
    ("Which weapons did South Korea end up sending to Ukraine?", "not what actually happened"),
    ("On what exact calendar date was the Russia-North Korea treaty signed?", "Russia-North Korea"),
])
def test_the_assistant_abstains_and_says_why(article_assistant, question, reason):
    events = list(article_assistant.stream(question))
    answer = events[-1].answer
    assert answer.abstained and reason in answer.abstain_reason, (answer.text, answer.abstain_reason)
    # nothing of the rejected answer was streamed before the abstention
    streamed = "".join(e.text for e in events[:-1])
    assert "spokesperson" not in streamed and "considering" not in streamed


@pytest.mark.parametrize("question", [
    "How did Beijing's foreign ministry respond to the treaty?",
    "According to a U.S. statement, how many shipping containers did Moscow receive from Pyongyang?",
])
def test_the_assistant_answers_a_constraint_spelled_differently(article_assistant, question):
    answer = article_assistant.ask(question)
    assert not answer.abstained, answer.abstain_reason
    assert answer.citations


class _Drafter:
    """An LLM stand-in: drafts China's ministry's answer for Iran's (verified, but not what was asked)."""

    name = "fake-llm"

    def generate(self, request: GenerationRequest):
        yield MINISTRY + " [1]"


def test_an_llm_draft_about_another_entity_is_replaced_not_shown(article_assistant):
    from rag.verify.policy import DraftPolicy

    llm = article_assistant.with_generator(_Drafter(), reference=article_assistant.generator)
    assert isinstance(llm.policy, DraftPolicy)
    events = list(llm.stream("How did Iran's foreign ministry respond to the treaty?"))
    answer = events[-1].answer
    assert answer.abstained and "Iran" in answer.abstain_reason
    assert "does not answer the question asked" in answer.notice
    assert "spokesperson" not in "".join(e.text for e in events[:-1])
