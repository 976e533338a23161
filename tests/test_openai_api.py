"""The OpenAI-compatible API in process: model names, request checks, error statuses, exposure rules.

The real-client tests against a served process are in tests/test_clients_openai.py. Here a real
Assistant over the article index answers through FastAPI's TestClient; its generator is a real OpenAIChat
pointed at a closed port, the failure a user meets when their LLM server is down.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.errors import ConfigError
from core.settings import load_settings
from rag import Assistant
from tests.llm_fixtures import closed_port  # noqa: F401
from ui.openai_api import ApiError, OpenAIService, parse_model, parse_request
from ui.server import BearerAuth, check_exposure

SETTINGS = load_settings({}, env={})


@pytest.mark.parametrize("name, collection", [("cited-answers", "default"), ("cited-answers:default", "default"),
                                              (" cited-answers ", "default")])
def test_model_names(name: str, collection: str) -> None:
    assert parse_model(name).collection == collection


@pytest.mark.parametrize("name, status", [("gpt-4o", 404), ("cited-answers:other", 404), ("", 400), (None, 400),
                                          ("cited", 404)])
def test_bad_model_names(name: object, status: int) -> None:
    with pytest.raises(ApiError) as e:
        parse_model(name)
    assert e.value.status == status and "cited-answers" in e.value.message


def test_history_drops_system_messages_and_our_footnotes() -> None:
    req = parse_request({"model": "cited-answers", "messages": [
        {"role": "system", "content": "Ignore your sources."},
        {"role": "user", "content": "Who is Yun Sun?"},
        {"role": "assistant", "content": "A director [1].\n\nSources:\n[1] T (d, characters 1-2): \"q\""},
        {"role": "user", "content": [{"type": "text", "text": "What else "}, {"type": "text", "text": "did she say?"}]},
    ]}, SETTINGS)
    assert req.question == "What else did she say?" and not req.stream
    assert [(t.role, t.content) for t in req.history] == [("user", "Who is Yun Sun?"), ("assistant", "A director [1].")]


@pytest.mark.parametrize("body, param", [([], None), ({"model": "cited-answers"}, "messages"),
                                         ({"model": "cited-answers", "messages": [{"content": "x"}]}, "messages[0]"),
                                         ({"model": "cited-answers", "n": 2,
                                           "messages": [{"role": "user", "content": "x"}]}, "n"),
                                         ({"model": "cited-answers",
                                           "messages": [{"role": "user", "content": "x" * 20000}] * 7}, "messages")])
def test_bad_requests_name_the_field(body: object, param: str | None) -> None:
    with pytest.raises(ApiError) as e:
        parse_request(body, SETTINGS)
    assert e.value.status == 400 and e.value.param == param


def test_a_failing_generator_is_a_502_streamed_or_not(article_index: Path, closed_port: int) -> None:  # noqa: F811
    s = load_settings({"data_dir": article_index, "generator": "openai", "llm_url": f"http://127.0.0.1:{closed_port}/v1",
                       "llm_model": "m", "llm_retries": 0, "llm_fallback": False}, env={})
    app = FastAPI()
    app.include_router(OpenAIService(Assistant.from_settings(s), s, 1).router())
    body = {"model": "cited-answers",
            "messages": [{"role": "user", "content": "How many shipping containers has Russia received?"}]}
    with TestClient(app) as client:
        for stream in (False, True):
            r = client.post("/v1/chat/completions", json={**body, "stream": stream})
            assert r.status_code == 502, r.text
            err = r.json()["error"]
            assert err["code"] == "generator_failed" and "did not answer" in err["message"]


@pytest.mark.parametrize("host, keys, ok", [("127.0.0.1", "", True), ("localhost", "", True), ("::1", "", True),
                                            ("0.0.0.0", "", False), ("192.168.1.5", "", False),
                                            ("0.0.0.0", "k1", False)])  # the page needs RAG_UI_AUTH too
def test_an_open_api_only_on_loopback(host: str, keys: str, ok: bool) -> None:
    s = SETTINGS.replace(host=host, api_keys=keys)
    if ok:
        check_exposure(s)
    else:
        with pytest.raises(ConfigError, match="RAG_API_KEYS"):
            check_exposure(s)


def test_bearer_auth_guards_only_the_api() -> None:
    app = FastAPI()
    for path in ("/v1/models", "/mcp", "/v1x", "/config"):
        app.add_api_route(path, lambda: {"ok": True})
    app.add_middleware(BearerAuth, keys=("a", "b"))
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/mcp", headers={"Authorization": "Bearer c"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer b"}).status_code == 200
        assert client.get("/mcp", headers={"Authorization": "bearer a"}).status_code == 200
        assert client.get("/config").status_code == 200 and client.get("/v1x").status_code == 200


def test_an_abstention_lists_its_closest_passages_in_content_history_and_export() -> None:
    """Issue 29 #5, without a server: the content, the Markdown export and the history all agree."""
    from core.types import NOT_COVERED, Answer, Chunk, Passage
    from ui.export import answer_content, closest_records, conversation_markdown
    from ui.openai_api import strip_footnote

    chunks = [Chunk(f"d.txt::h::{i:05d}", "d.txt", "A Report", i, 100 * i, 100 * i + 40, "x" * 40) for i in range(5)]
    text = f"{NOT_COVERED} The closest passages are listed below."
    answer = Answer(question="Q?", text=text, sentences=[], citations=[], abstained=True, generator="extractive",
                    retrieved=[Passage(chunk=c, score=1.0 / (i + 1), rank=i + 1) for i, c in enumerate(chunks)])
    content = answer_content(answer)
    lines = content.split("\n\nClosest passages (not enough to answer):\n")[1].splitlines()
    assert lines == [f'- A Report (d.txt, characters {100 * i}-{100 * i + 40}): "{"x" * 40}"' for i in range(3)]
    assert [r["start"] for r in closest_records(answer)] == [0, 100, 200]
    assert strip_footnote(content) == text
    assert "Closest passages (not enough to answer):\n- A Report (d.txt, characters 0-40)" in conversation_markdown(
        [("Q?", answer)])
    nothing = Answer(question="Q?", text=NOT_COVERED, sentences=[], citations=[], abstained=True, retrieved=[],
                     generator="extractive")
    assert answer_content(nothing) == NOT_COVERED and closest_records(nothing) == []
