"""Follow-ups in forum threads and reviews (issue 29): who said a line is its post's author line, "and then?"
reads on from the shown sentence's chunk even when this retrieval missed it, a named speaker keeps to
their own quotes, and "... about the lid?" keeps to the lid. A private index of three informal documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.language.authors import author_line, authors_of
from core.settings import load_settings
from core.types import FollowUp, Turn, sentence_key
from index.sentences import split_sentences
from rag.generate.followups import said_by
from rag.retrieve.neighbours import shown_neighbours
from rag.rewrite.followup import follow_up_kind, read_follow_up

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["forum-aquarium-cloudy.txt", "forum-knee-marathon.txt", "review-kettle.txt"]


@pytest.mark.parametrize(("line", "name", "role"), [
    ("Posted by guppy_gus:", "guppy_gus", ""),
    ("Reply from DocRunsFar (physio, not your physio):", "DocRunsFar", "physio, not your physio"),
    ('★★☆☆☆ "Display died after 7 months" - by Hannah_P', "Hannah_P", ""),
    ('★★★★☆ "Chips are great" - by Tomasz K., verified purchase', "Tomasz K.", ""),
])
def test_author_lines_name_the_author_and_the_words_a_reader_calls_them_by(line, name, role):
    author = author_line(line)
    assert author is not None and (author.name, author.role) == (name, role)
    assert author_line("He said so - by the way.") is None and author_line("Reply from the minister was quick.") is None
    assert {"gus"} <= author_line("Posted by guppy_gus:").called()
    assert {"dave"} <= author_line("Reply from DialedIn_Dave:").called()
    assert "physio" in author_line("Reply from DocRunsFar (physio, not your physio):").called()


def test_an_author_line_is_its_own_sentence_even_over_a_lowercase_reply():
    text = "Reply from guppy_gus:\nammonia was 1 ppm. did a 25% change.\n\nReply from plantedPete:\nDon't worry."
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences[:2] == ["Reply from guppy_gus:", "ammonia was 1 ppm."]
    assert [a.name if a else None for a in authors_of(sentences)] == ["guppy_gus"] * 3 + ["plantedPete"] * 2


def test_the_kinds_and_the_topic():
    assert follow_up_kind("How did it turn out in the end?") == "end"
    assert follow_up_kind("Which weapons did South Korea end up sending?") == ""  # no pronoun: its own question
    lid = [Turn("user", "What did Hannah say about the kettle's lid?"),
           Turn("assistant", "Also the lid is stiff and I burned my thumb on the steam opening it once. [1]")]
    assert read_follow_up("anything else about the lid?", lid).topic == "the lid"
    cost = [Turn("user", "How much did the bridge cost?"), Turn("assistant", "The project cost $214 million. [1]")]
    assert read_follow_up("anything more about the money?", cost).topic == ""  # the asker's word, not the text's


def test_a_quote_naming_the_subject_is_not_the_subjects():
    fu = FollowUp("more", "Liu Dongshu", frozenset({"liu", "dongshu"}), said=True)
    texts = ['"Liu is wrong about this," said Yun Sun.',
             "Liu Dongshu of the City University of Hong Kong said the pact was a warning.",
             '"It will not last," he added.']
    assert not said_by(fu, texts, 0)
    assert said_by(fu, texts, 1) and said_by(fu, texts, 2)


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory):
    from index.pipeline import Indexer
    from rag import Assistant

    settings = load_settings({"data_dir": tmp_path_factory.mktemp("threads"), "generator": "extractive"}, env={})
    report = Indexer.from_settings(settings).add([ROOT / "data" / "informal" / d for d in DOCS])
    assert not report.errors, report.errors
    return Assistant.from_settings(settings)


def _shown(*turns: str) -> list[Turn]:
    return [Turn("user" if n % 2 == 0 else "assistant", t) for n, t in enumerate(turns)]


def test_and_then_in_a_thread_is_the_next_post(threads):
    history = _shown("What did Gus's first ammonia test show?", "ammonia was 1 ppm. [1] did a 25% change. [1]")
    answer = threads.ask("and then?", history)
    assert not answer.abstained and "Stop feeding" in answer.text
    assert "ammonia was 1 ppm" not in answer.text


def test_a_named_author_keeps_to_their_own_lines(threads):
    kim = _shown("What did trailrat_kim say?", "That'll do it. [1] Also 450 miles is right around where a lot of "
                 "shoes die. [1] I swap mine around 300-400. [1]")
    answer = threads.ask("did kim say anything else?", kim)
    assert answer.abstained and answer.text.startswith("The documents say nothing more")
    physio = _shown("What did DocRunsFar think was wrong with Sam's knee?",
                    "Outside of the knee, comes on at a predictable distance, fine at rest: sounds a lot like IT "
                    "band syndrome. [1]")
    answer = threads.ask("anything more from the physio?", physio)
    doc = (ROOT / "data" / "informal" / "forum-knee-marathon.txt").read_text()
    physio_lines = "".join(p.split(":\n", 1)[1] for p in doc.split("\n\n") if p.startswith("Reply from DocRunsFar"))
    assert not answer.abstained and answer.sentences
    assert all(s.text.rstrip(".!?") in physio_lines for s in answer.sentences), answer.text


def test_more_about_a_topic_keeps_to_it(threads):
    lid = _shown("What did Hannah say about the kettle's lid?",
                 "Also the lid is stiff and I burned my thumb on the steam opening it once. [1]")
    answer = threads.ask("anything else about the lid?", lid)
    assert answer.abstained and "Warranty" not in answer.text


def test_the_shown_sentences_chunk_and_its_neighbours_come_from_the_store(threads):
    """"and then?" when this retrieval did not find the shown sentence: its chunk is looked up."""
    shown = "Bloom itself usually clears on its own in a week or so."
    fu = FollowUp("continue", shown=(sentence_key(shown),))
    passages = shown_neighbours(threads.retriever, fu, [], None)
    assert any(shown in p.chunk.text for p in passages)
    ordinals = sorted(p.chunk.ordinal for p in passages)
    assert len({p.chunk.doc_id for p in passages}) == 1 and ordinals == list(range(ordinals[0], ordinals[-1] + 1))
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
