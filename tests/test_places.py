"""Capitals and government seats in a question gain the country's name for the lexical search."""

from core.language.places import with_country_names


def test_capitals_and_seats_add_their_country():
    assert with_country_names("What did Seoul convene?").endswith("south korea")
    got = with_country_names("Has Beijing sent weapons to help the Kremlin fight?")
    assert "china" in got and "russia" in got


def test_nothing_is_added_when_the_country_is_named_or_no_place_is_capitalised():
    assert with_country_names("What does China want from Beijing?") == "What does China want from Beijing?"
    assert with_country_names("Did they tell us about seoul food?") == "Did they tell us about seoul food?"


def test_each_country_is_added_once():
    got = with_country_names("Did Moscow and the Kremlin agree with Pyongyang?")
    assert got.count("russia") == 1 and got.count("north korea") == 1


def test_a_name_question_needs_a_name_the_question_does_not_hold():
    from core.language.answer_types import answer_type

    wants = answer_type("What is the name of the harbour master who closed the port?")
    assert wants.search("The harbour master, Ines Valcourt, closed the port at dawn.")
    assert not wants.search("A harbour master for Japan's coast guard closed the port.")  # a place, no name
    assert not wants.search("The harbour master closed the port in June.")  # a month is no name
    assert answer_type("Who closed the port?") is None  # "who" may be answered by a role
