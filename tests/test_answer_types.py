"""Answer types (core/language/answer_types.py): what a sentence must hold to answer a kind of question.

Cases from the suites' failure analysis (docs/evaluation.md): "how long" answered by a length, "when"
answered by a clock time, and questions whose unit dimension the documents never state (a weight, a
price), which must find no answering sentence rather than any sentence with a number.
"""

from __future__ import annotations

import pytest

from core.language.answer_types import CLOCK, HOW_LONG, LENGTH, MASS, MONEY, NUMBER, SPEED, TIME, answer_type


@pytest.mark.parametrize(("question", "kind"), [
    ("How many troops?", NUMBER),
    ("What share of the cost did Ottawa pay?", NUMBER),
    ("How much steel went into the bridge?", NUMBER),
    ("How much charge a day can 200 W of panels produce?", NUMBER),
    ("How much did the bridge cost to build?", MONEY),
    ("What will a driver pay to take a car across?", MONEY),
    ("How much is the toll for trucks?", MONEY),
    ("How much do the headphones weigh?", MASS),
    ("Roughly how heavy were the munitions?", MASS),
    ("How far is Jen's ride to work?", LENGTH),
    ("How tall is Hugo?", LENGTH),
    ("At what wind speed will the bridge close?", SPEED),
    ("How fast may drivers go on the bridge?", SPEED),
    ("How long is the span of the bridge?", HOW_LONG),
    ("What time does the robot clean each day?", CLOCK),
    ("When does the first ferry leave?", TIME),
    ("What happened to the ferry that was sold?", None),
    ("Who is Yun Sun?", None),
])
def test_question_kinds(question, kind):
    assert answer_type(question) is kind


@pytest.mark.parametrize(("question", "sentence"), [
    ("How long is the span of the bridge?", "The cable-stayed bridge spans 312 metres between its two towers."),
    ("How long before his trip did Putin visit Beijing?", "A month earlier, Putin and Xi delivered a similar message."),
    ("When does the first ferry leave?", "The first sailing is leaving Port Alder at 6:40 each morning."),
    ("What time does the robot clean each day?", "This thing runs every day at 10 am while we're at work."),
    ("How far is it from shore to shore?", "It runs 1.4 kilometres from shore to shore."),
    ("How long is the ferry?", "The 52-metre vessel will be sold."),
    ("How fast may drivers go?", "The speed limit on the crossing is 60 km/h."),
    ("How heavy was the chicken?", "A whole chicken (1.6 kg) fit if you squish it."),
    ("How heavy were the munitions?", "equivalent to 260,000 metric tons of munitions"),
    ("How much did the bridge cost?", "The project cost $214 million."),
    ("What did he pay for the grinder?", "I got it off a guy on marketplace for 90 bucks."),
    ("What did Ben pay for his pair?", "For the price (I paid 165) I expected more."),
    ("How much did Kev pay to send it back?", "Send it back at my own cost, 18 pounds postage."),
])
def test_answering_sentences_match(question, sentence):
    assert answer_type(question).search(sentence), (question, sentence)


@pytest.mark.parametrize(("question", "sentence"), [
    ("How many troops?", "China declined to comment."),
    ("How far is Pyongyang from Beijing?", "The speed limit on the crossing is 60 km/h."),
    ("How fast may drivers go?", "The bridge spans 312 metres."),
    ("How much do the headphones weigh?", "A 10 min charge gave me around 3 hours."),
    ("How much did the van conversion cost?", "Roof fits 3 panels max after the fan."),
    ("How much did the bridge cost?", "It took 11,000 tonnes of steel."),
    ("What time does the robot clean each day?", "The bin is small, I empty it after every run."),
    ("How long is the warranty?", "Shop said it was fine, take it in if it is weird."),
])
def test_sentences_without_the_type_do_not_match(question, sentence):
    assert not answer_type(question).search(sentence), (question, sentence)
