"""Who said it: the extractive answer walks back to the sentence that names the speaker of a quote."""

from __future__ import annotations

from core.language.names import speaker_chain

TEXTS = [
    "The route was moved 200 metres north in 2021 after a review.",
    'Marta Okafor of the Narrows Conservation Trust said the group was "cautiously satisfied" with the result.',
    '"A bridge lasts a century," she said.',
    '"We will be counting fish for a long time."',
]


def test_a_second_quote_reaches_back_two_sentences_to_the_name():
    assert speaker_chain(TEXTS, 3) == [2, 1]


def test_a_quote_with_she_said_needs_the_sentence_before():
    assert speaker_chain(TEXTS, 2) == [1]


def test_a_sentence_naming_its_speaker_needs_nothing():
    assert speaker_chain(TEXTS, 1) == []
    assert speaker_chain(TEXTS, 0) == []


def test_nobody_named_within_reach_falls_back_to_the_sentence_before():
    texts = ['"One," she said.', '"Two," she said.', '"Three," she said.', '"Four."']
    assert speaker_chain(texts, 3) == [2]


def test_a_sentence_with_a_named_speaker_and_a_pronoun_needs_nothing():
    texts = ['"Russia knows full well that China does not want to be left out."',
             "Yun Sun, director of the China program, said China doesn't feel it can control the engagement."]
    assert speaker_chain(texts, 1) == []
