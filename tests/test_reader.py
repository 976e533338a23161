"""The learned reader (rag/reader/learned.py) with the committed weights and the real packaged MiniLM.

The passages and questions here are not in the reader's training data (data/reader/cases.jsonl holds
other passages), so these check that the model generalises to the failure kinds it was built for.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ModelError
from core.language.answer_types import wh_type
from core.types import Chunk
from index.embedding import SentenceTransformerEmbedder
from rag.reader.evidence import SentenceBank
from rag.reader.learned import Reader
from rag.reader.model import READER_DIR

ARTICLE = Path(__file__).resolve().parents[1] / "data" / "corpus" / "elephant-in-the-room.txt"

CITY = (
    "Millbrook sits where the Dee meets the sea. The town grew around its port in the eighteenth century. "
    "The Carron footbridge links the two halves of the old town. It spans 140 metres and opened to walkers "
    "in 2011. The council repainted it blue last summer."
)
BUSES = (
    "Buses run between Millbrook and the airport all year. The first bus departs at 5:55 every weekday, "
    "and the service ends just before midnight. Tickets cost less when bought online. Large suitcases "
    "go in the rack behind the driver."
)
POLITICS = (
    "The dispute over the dam has strained ties along the river. Cairo warned that any cut in the flow "
    "would be treated as a threat to its security. Engineers say the reservoir will take years to fill. "
    "Farmers downstream have already seen lower water levels."
)
QUOTE = (
    "The vote split the committee. \"We cannot keep borrowing to pay for tax cuts,\" said Helen Mbeki, "
    "who chairs the budget panel. Her deputy, Arjun Patel, argued that growth would cover the cost. "
    "The bill now goes to the full chamber."
)


def _chunk(n: int, text: str) -> Chunk:
    return Chunk(f"t:{n}", f"doc{n}", f"doc{n}", 0, 0, len(text), text)


@pytest.fixture(scope="module")
def reader() -> Reader:
    embedder = SentenceTransformerEmbedder()
    r = Reader(embedder, SentenceBank(embedder))
    r.warm_up()
    return r


@pytest.fixture(scope="module")
def article_chunks() -> list[Chunk]:
    paras = [p for p in ARTICLE.read_text("utf-8").split("\n\n") if len(p) > 80]
    return [_chunk(i, p) for i, p in enumerate(paras)]


def _top(reader: Reader, question: str, chunks: list[Chunk]) -> str:
    best = reader.rank(question, chunks)[0]
    return reader.bank.get(chunks)[best.passage].texts[best.sentence]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        pytest.param(
            "How long is the footbridge?", "140 metres",
            # known limit (docs/reader.md): the length is in "It spans 140 metres...", the name one sentence
            # back; the reader ranks the sentence naming the footbridge first
            marks=pytest.mark.xfail(strict=True, reason="coreference: the answer sentence says 'It'"),
        ),
        ("What time does the earliest bus leave?", "5:55"),
        ("What did the Egyptian government warn about?", "Cairo warned"),
        ("Who said they cannot keep borrowing to pay for tax cuts?", "Helen Mbeki"),
    ],
)
def test_ranks_the_answer_sentence_first_on_paraphrases(reader, question, expected):
    chunks = [_chunk(n, t) for n, t in enumerate((CITY, BUSES, POLITICS, QUOTE))]
    assert expected in _top(reader, question, chunks)
    assert reader.answerability(question, chunks) >= reader.answer_threshold


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many shipping containers has Russia received from North Korea?", "10,000"),
        ("When was North Korea's mutual defense treaty with China signed?", "1961"),
        ("How did Japan react to the pact?", "grave concerns"),
    ],
)
def test_ranks_the_article_answer_first(reader, article_chunks, question, expected):
    assert expected in _top(reader, question, article_chunks)


def test_answerability_separates_an_off_topic_question(reader, article_chunks):
    off = reader.answerability("How do I bake sourdough bread at home?", article_chunks)
    on = reader.answerability("Which country is the largest trade partner of Russia and North Korea?", article_chunks)
    assert off < reader.answer_threshold <= on


def test_claim_support_rejects_a_changed_claim(reader, article_chunks):
    css = reader.bank.get(article_chunks)
    true = "North Korea has sent over 10,000 shipping containers to Russia."
    false = "North Korea has sent over 10,000 shipping containers to China."
    vecs = reader.embedder.embed([true, false])
    t = reader.support_threshold
    assert max(s.score for s in reader.supports(true, vecs[0], css)) >= t
    speaker = reader.supports("Helen Mbeki said growth would cover the cost.", reader.embedder.embed(
        ["Helen Mbeki said growth would cover the cost."])[0], reader.bank.get([_chunk(9, QUOTE)]))
    assert speaker[0].score < max(s.score for s in reader.supports(true, vecs[0], css))


def test_question_types():
    assert wh_type("How long is the span of the bridge?") == "how_long"
    assert wh_type("When does the first ferry leave?") == "when"
    assert wh_type("How many troops were sent?") == "how_many"
    assert wh_type("Who said it?") == "who"


def test_constructor_loads_nothing(tmp_path):
    r = Reader(embedder=None, directory=tmp_path / "nowhere")  # cheap: no file is read yet
    with pytest.raises(ModelError, match="train-reader"):
        r.warm_up()


def test_corrupt_weights_are_refused_with_the_fix(tmp_path):
    shutil.copytree(READER_DIR, tmp_path / "reader")
    npz = tmp_path / "reader" / "reader.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"corrupt.*git checkout data/reader.*train-reader"):
        Reader(embedder=None, directory=tmp_path / "reader").warm_up()


def test_unreadable_metadata_is_refused(tmp_path):
    shutil.copytree(READER_DIR, tmp_path / "reader")
    (tmp_path / "reader" / "reader.json").write_text("{not json", "utf-8")
    with pytest.raises(ModelError, match="unreadable"):
        Reader(embedder=None, directory=tmp_path / "reader").warm_up()


@pytest.mark.parametrize(("mode", "kind", "support_kind"), [
    ("heuristic", "HeuristicScorer", "HeuristicScorer"),
    ("learned", "LearnedScorer", "LearnedScorer"),
    ("cascade", "CascadeScorer", "HeuristicScorer"),
])
def test_one_scorer_is_built_and_injected_into_every_stage(tmp_path, mode, kind, support_kind):
    """settings.reader picks one Scorer in the composition root; the generator, the gate and the verifier
    get that same object, and only the cascade hands claim support to the heuristic (no model loads here)."""
    from core.settings import load_settings
    from rag import Assistant

    s = load_settings({"data_dir": tmp_path, "generator": "extractive", "reader": mode}, env={})
    assistant = Assistant.from_settings(s)
    scorer = assistant.generator.scorer
    assert type(scorer).__name__ == kind
    assert assistant.gate.scorer is scorer and assistant.verifier.scorer is scorer
    supporter = getattr(scorer, "supporter", scorer)
    assert type(supporter).__name__ == support_kind and supporter.bank is scorer.bank


def test_learned_path_end_to_end(article_index):
    """RAG_READER=learned wires the one reader into the generator, the gate and the verifier."""
    from core.settings import load_settings
    from rag import Assistant

    s = load_settings({"data_dir": article_index, "generator": "extractive", "reader": "learned"}, env={})
    assistant = Assistant.from_settings(s)
    assert assistant.gate.scorer is assistant.generator.scorer is assistant.verifier.scorer
    a = assistant.ask("How many shipping containers has Russia received from North Korea?")
    assert not a.abstained and "10,000" in a.text
    assert a.citations and all(x.supported for x in a.sentences)
    off = assistant.ask("How do I bake sourdough bread at home?")
    assert off.abstained


def test_train_reader_names_a_missing_squad_file(tmp_path, capsys):
    from training.cli import main

    assert main(["train-reader", "--squad", str(tmp_path / "missing.json.gz"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "missing.json.gz" in err and "--squad" in err
    assert not (tmp_path / "out").exists()
