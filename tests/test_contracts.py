"""Contract tests: the same checks against every implementation of each seam (haystack's store tests).

Generator: extractive, the LLM generator over a scripted chat model, over llama.cpp in-process (SmolLM2)
and over a real OpenAI-compatible server (llama.cpp's). Whatever a generator writes, the assistant's
answer is one of two things: an abstention with no citations, or text whose every [n] is a verified
citation whose span slices its document. Retriever and read-side store: both Chroma backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from core.language.markers import VERIFIED_MARKER
from core.settings import GENERATORS, load_settings
from core.types import Answer, GenerationRequest, NoAnswer, Notice, Retrieval, text_of
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator
from rag.generate.protocol import Generator
from rag.reader.scorers import HeuristicScorer
from tests.chroma_server import ChromaServer
from tests.llm_fixtures import llama_server, smollm_chat, smollm_path  # noqa: F401

Q = "How many shipping containers has Russia received from North Korea?"
OFF_TOPIC = "What is the capital of France?"


class ScriptedChat:
    """A ChatModel that replays a fixed reply in pieces: the LLM plumbing without a model's variance."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls = 0

    def chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        self.calls += 1
        for word in self.reply.split(" "):
            yield word + " "


def _extractive(assistant, request) -> Generator:
    return ExtractiveGenerator(assistant.retriever.embedder,
                               HeuristicScorer.from_settings(assistant.verifier.bank, assistant.settings))


def _scripted(assistant, request) -> Generator:
    # cites [1] for the true fact, and [9], which no passage has: the verifier must repair or drop it
    return LLMGenerator(ScriptedChat("Russia has received over 10,000 shipping containers [1]. Trust me [9]."),
                        128, name="openai")


def _llama_cpp(assistant, request) -> Generator:
    return LLMGenerator(request.getfixturevalue("smollm_chat"), 96, name="local")


def _openai_server(assistant, request) -> Generator:
    from rag.generate.chat import OpenAIChat

    server = request.getfixturevalue("llama_server")
    return LLMGenerator(OpenAIChat(server.base_url, server.model, "x", timeout=120, retries=0), 96, name="openai")


GENERATOR_FACTORIES: dict[str, Callable] = {
    "extractive": _extractive,
    "llm-scripted-chat": _scripted,
    "llm-llama-cpp": pytest.param(_llama_cpp, marks=pytest.mark.slow),
    "llm-openai-server": pytest.param(_openai_server, marks=pytest.mark.slow),
}


@pytest.fixture(params=list(GENERATOR_FACTORIES.values()), ids=list(GENERATOR_FACTORIES))
def generator(request, article_assistant) -> Generator:
    return request.param(article_assistant, request)


def _check_answer(answer: Answer, library) -> None:
    if answer.abstained:
        assert not answer.citations and not answer.sentences
        return
    in_text = {int(m) for m in VERIFIED_MARKER.findall(answer.text)}
    assert in_text == {c.marker for c in answer.citations}, "every marker is a citation, and every citation is used"
    assert [c.marker for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        doc = library.document(c.doc_id)
        assert doc.text[c.start:c.end] == c.text
    for s in answer.sentences:
        assert s.supported == bool(s.markers)


def test_generator_streams_text_pieces(generator, article_assistant) -> None:
    assert generator.name in GENERATORS
    passages = article_assistant.retriever.search(Q, 3).passages
    pieces = list(generator.generate(GenerationRequest(Q, Q, passages, max_tokens=96)))
    # text pieces, and typed events (a Notice when cut at max_tokens, a NoAnswer alone) that are not text
    assert pieces and all(isinstance(p, str | Notice | NoAnswer) for p in pieces)
    assert text_of(pieces).strip()


def test_generator_answers_are_verified_or_abstained(generator, article_assistant, article_library) -> None:
    answer = article_assistant.with_generator(generator).ask(Q)
    assert answer.generator == generator.name
    _check_answer(answer, article_library)


def test_generator_never_sees_an_off_topic_question(generator, article_assistant) -> None:
    answer = article_assistant.with_generator(generator).ask(OFF_TOPIC)
    assert answer.abstained and not answer.citations
    assert answer.timings["generate"] == 0.0, "the gate decided: the generator was not run"


def test_scripted_llm_invalid_marker_is_repaired_or_dropped(article_assistant, article_library) -> None:
    answer = article_assistant.with_generator(_scripted(article_assistant, None)).ask(Q)
    assert not answer.abstained and "10,000" in answer.text and "[9]" not in answer.text
    _check_answer(answer, article_library)


# ---------------------------------------------------------------- read side: both Chroma backends
@pytest.fixture(scope="module", params=["embedded", "server"])
def composed(request, tmp_path_factory):
    from rag.compose import build

    root = tmp_path_factory.mktemp(f"contract-{request.param}")
    server = None
    if request.param == "server":
        server = ChromaServer(root / "chroma")
        server.start()
    s = load_settings({"data_dir": root / "data", "generator": "extractive",
                       "chroma_url": server.url if server else ""}, env={})
    parts = build(s)
    assert not parts.library.build_bundled().errors
    yield parts
    if server:
        server.stop()


def test_store_read_side_ranks_best_first_with_exact_spans(composed) -> None:
    store, embedder = composed.library.store, composed.library.embedder
    store.open()
    vec = np.asarray(embedder.embed([Q])[0], dtype=np.float32)
    for hits in (store.dense_search(vec, 5), store.bm25_search(Q, 5)):
        assert 0 < len(hits) <= 5
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        for chunk, _ in hits:
            assert composed.library.document(chunk.doc_id).text[chunk.start:chunk.end] == chunk.text
    assert "10,000 shipping containers" in store.bm25_search(Q, 1)[0][0].text


def test_retriever_contract(composed) -> None:
    composed.assistant.open()
    r = composed.assistant.retriever.search(Q, 3)
    assert isinstance(r, Retrieval)
    assert [p.rank for p in r.passages] == [1, 2, 3]
    assert len({p.chunk.chunk_id for p in r.passages}) == 3
    assert any("10,000 shipping containers" in p.chunk.text for p in r.passages)
    assert r.best_dense > 0 and r.best_bm25 > 0
    assert composed.assistant.retriever.search(Q, 1).passages[0].rank == 1


def test_answers_match_across_backends(composed, article_assistant) -> None:
    here, reference = composed.assistant.ask(Q), article_assistant.ask(Q)
    assert here.text == reference.text
    assert [c.text for c in here.citations] == [c.text for c in reference.citations]

