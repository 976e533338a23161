"""The OpenAI-compatible API (/v1) through real clients against the real serving command.

`python -m ui` runs as its own process on a free loopback port (extractive generator, a private copy of
the article index, RAG_API_KEYS set). Clients: the `openai` SDK (streaming and not), LangChain's
ChatOpenAI, raw httpx reading the SSE bytes, and gradio_client for the page's own /ask endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.types import NOT_COVERED
from tests.ui_process import serve_ui

pytestmark = pytest.mark.slow

KEY = "test-key-1"
QUESTION = "How many shipping containers has Russia received from North Korea?"
OFF_TOPIC = "What is the capital of France?"


@pytest.fixture(scope="module")
def server(article_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_ui(article_index, tmp_path_factory.mktemp("clients"), {"RAG_API_KEYS": f"other-key,{KEY}"}) as url:
        yield url


def openai_client(url: str, key: str = KEY):
    from openai import OpenAI

    return OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)


def check_citations(citations: list[dict], library) -> None:
    """Every citation points at real text: the span is the chunk, the quote lies inside the document."""
    assert citations
    for n, c in enumerate(citations, 1):
        assert c["index"] == n
        assert set(c) >= {"chunk_id", "doc_id", "title", "start", "end", "page", "quote"}
        doc = library.document(c["doc_id"]).text
        assert c["start"] < c["end"] and c["quote"] in doc[c["start"]:c["end"]]
        assert doc[c["quote_start"]:c["quote_end"]] == c["quote"]


def test_models_list(server: str) -> None:
    ids = [m.id for m in openai_client(server).models.list().data]
    assert ids == ["cited-answers", "cited-answers:default"]


def test_openai_sdk_answer_keeps_markers_footnote_and_citations(server: str, article_library) -> None:
    resp = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": QUESTION}])
    content = resp.choices[0].message.content
    assert "10,000" in content and "[1]" in content
    answer_text, _, footnote = content.partition("\n\nSources:\n")
    assert footnote.startswith("[1] The Elephant In The Room") and "[1]" in answer_text
    extra = resp.model_extra
    assert extra["abstained"] is False
    check_citations(extra["citations"], article_library)
    assert len(footnote.splitlines()) == len(extra["citations"])


def test_openai_sdk_stream_equals_the_non_streamed_answer(server: str) -> None:
    client = openai_client(server)
    whole = client.chat.completions.create(model="cited-answers:default",
                                           messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="cited-answers:default", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == whole.model_extra["citations"]
    assert all("citations" not in c.model_extra for c in chunks[:-1])


def test_abstention_is_an_ordinary_answer_with_a_flag(server: str) -> None:
    resp = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": OFF_TOPIC}])
    assert resp.choices[0].message.content.startswith(NOT_COVERED)
    assert resp.model_extra["abstained"] is True and resp.model_extra["citations"] == []


def test_an_abstention_lists_the_closest_passages_it_mentions(server: str, article_library) -> None:
    """Issue 29 #5: the content said "The closest passages are listed below." and listed nothing."""
    from ui.openai_api import strip_footnote

    resp = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": OFF_TOPIC}])
    content, closest = resp.choices[0].message.content, resp.model_extra["closest_passages"]
    text, _, listing = content.partition("\n\nClosest passages (not enough to answer):\n")
    assert text == f"{NOT_COVERED} The closest passages are listed below."
    assert 1 <= len(closest) <= 3 and len(listing.splitlines()) == len(closest)
    for p, line in zip(closest, listing.splitlines(), strict=True):
        assert article_library.document(p["doc_id"]).text[p["start"]:p["end"]] == p["text"]
        assert line.startswith(f"- {p['title']} ({p['doc_id']}, characters {p['start']}-{p['end']}): \"")
    assert strip_footnote(content) == text  # sent back as history, the list is dropped like a footnote
    answered = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": QUESTION}])
    assert answered.model_extra["closest_passages"] == [] and "Closest passages" not in answered.choices[0].message.content


def test_a_question_over_the_limit_is_refused_with_the_limit_and_the_fix(server: str) -> None:
    """Never cut silently: the SDK raises a typed error that names the limit, the setting and the fix."""
    import openai

    with pytest.raises(openai.BadRequestError) as e:
        openai_client(server).chat.completions.create(
            model="cited-answers", messages=[{"role": "user", "content": "Why " + "x" * 2496}])
    assert e.value.code == "string_above_max_length"
    assert "the question is 2500 characters; the limit is 2000" in e.value.message
    assert "RAG_MAX_QUESTION_CHARS" in e.value.message and "Shorten it" in e.value.message


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/v1/chat/completions", "POST"), ("PUT", "/v1/chat/completions", "POST"),
    ("DELETE", "/v1/models", "GET"), ("POST", "/v1/models/cited-answers", "GET"),
    ("POST", "/v1/chat/completions/chatcmpl-x/export", "GET"), ("GET", "/v1/completions", None),
    ("POST", "/v1/embeddings", None),
])
def test_a_wrong_method_or_route_gets_an_openai_shaped_error(server: str, method: str, path: str,
                                                             allow: str | None) -> None:
    """GET /v1/chat/completions used to fall through to the page: {"detail": "Not Found"}."""
    r = httpx.request(method, server + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert f"{method} {path}" in err["message"] and "POST /v1/chat/completions" in err["message"]
    if allow:
        assert r.status_code == 405 and r.headers["allow"] == allow and err["code"] == "method_not_allowed"
    else:
        assert r.status_code == 404 and err["code"] == "unknown_url"


def test_the_sdk_sees_a_405_as_a_typed_status_error(server: str) -> None:
    import openai

    with pytest.raises(openai.APIStatusError) as e:
        openai_client(server).get("/chat/completions", cast_to=object)
    assert e.value.status_code == 405 and e.value.code == "method_not_allowed"
    assert e.value.response.headers["allow"] == "POST"


def test_history_is_used_for_follow_ups(server: str) -> None:
    client = openai_client(server)
    first = client.chat.completions.create(model="cited-answers",
                                           messages=[{"role": "user", "content": "Who is Yun Sun?"}])
    follow = [{"role": "user", "content": "Who is Yun Sun?"},
              {"role": "assistant", "content": first.choices[0].message.content},
              {"role": "user", "content": "What else did she say?"}]
    with_history = client.chat.completions.create(model="cited-answers", messages=follow)
    alone = client.chat.completions.create(model="cited-answers", messages=follow[-1:])
    assert not with_history.model_extra["abstained"]
    assert with_history.choices[0].message.content != alone.choices[0].message.content
    # issue 29: the follow-up brings her other quote, never the sentence already shown (sent back as text)
    shown = first.choices[0].message.content.partition("\n\nSources:")[0]
    more = with_history.choices[0].message.content.partition("\n\nSources:")[0]
    assert "deepening engagement" in shown and "deepening engagement" not in more
    assert "irreplaceable role" in more
    follow += [{"role": "assistant", "content": with_history.choices[0].message.content},
               {"role": "user", "content": "anything more?"}]
    last = client.chat.completions.create(model="cited-answers", messages=follow)
    assert last.model_extra["abstained"]
    assert last.choices[0].message.content.startswith("The documents say nothing more about Yun Sun.")


def test_langchain_chat_openai_against_the_api(server: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server + "/v1", api_key=KEY, model="cited-answers", max_retries=0, timeout=120)
    msg = llm.invoke(QUESTION)
    assert "10,000" in msg.content and "\n\nSources:\n[1]" in msg.content
    streamed = "".join(str(c.content) for c in llm.stream(QUESTION))
    assert streamed == msg.content


def sse_events(raw: str) -> list[str]:
    """The data payloads of an SSE body, checking the framing: blank-line separated `data: ` events."""
    assert raw.endswith("\n\n")
    events = []
    for block in raw.split("\n\n")[:-1]:
        lines = [ln for ln in block.split("\n") if not ln.startswith(":")]  # comments are keep-alives
        if not lines:
            continue
        assert len(lines) == 1 and lines[0].startswith("data: "), block
        events.append(lines[0][len("data: "):])
    return events


def test_raw_sse_framing(server: str) -> None:
    with httpx.stream("POST", server + "/v1/chat/completions", timeout=120,
                      headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "cited-answers", "stream": True,
                            "messages": [{"role": "user", "content": QUESTION}]}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    final = chunks[-1]
    assert final["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert final["citations"] and final["abstained"] is False


@pytest.mark.parametrize("body, status, code", [
    ({"model": "cited-answers", "messages": []}, 400, "invalid_value"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_found"),
    ({"model": "cited-answers:nope", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_found"),
    ({"model": "cited-answers", "messages": [{"role": "user", "content": "x" * 5000}]}, 400,
     "string_above_max_length"),
    ({"model": "cited-answers", "messages": [{"role": "user", "content": "   "}]}, 400, "invalid_value"),
    ({"model": "cited-answers", "messages": [{"role": "assistant", "content": "hi"}]}, 400, "invalid_value"),
    ({"model": "cited-answers", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "invalid_value"),
    ({"model": "cited-answers", "stream": True, "messages": [{"role": "user", "content": "x" * 5000}]}, 400,
     "string_above_max_length"),
])
def test_bad_input_gets_openai_style_errors(server: str, body: dict, status: int, code: str) -> None:
    r = httpx.post(server + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"},
                   timeout=60)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["type"] == "invalid_request_error" and len(err["message"]) > 20


def test_sdk_raises_typed_errors(server: str) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as e:
        openai_client(server).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError) as e:
        openai_client(server, key="wrong").models.list()
    assert e.value.code == "invalid_api_key"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                                     {"Authorization": "Basic " + KEY}])
@pytest.mark.parametrize("method, path", [("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                                          ("GET", "/v1/anything"), ("POST", "/mcp")])
def test_every_api_route_needs_a_key(server: str, headers: dict, method: str, path: str) -> None:
    r = httpx.request(method, server + path, headers=headers, json={}, timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"


def test_malformed_json_and_page_without_key(server: str) -> None:
    r = httpx.post(server + "/v1/chat/completions", content=b"{not json", timeout=30,
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    assert httpx.get(server + "/config", timeout=30).status_code == 200  # the page keeps its own login


def test_stream_and_page_give_the_same_answer(server: str) -> None:
    """A streamed API answer and the page's /ask answer to one question: same text, same citations."""
    from gradio_client import Client

    from ui.openai_api import strip_footnote

    _, _, ui_answer = Client(server, verbose=False, download_files=False).predict(QUESTION, api_name="/ask")
    chunks = list(openai_client(server).chat.completions.create(
        model="cited-answers", stream=True, messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert strip_footnote(text) == ui_answer["text"]
    api_cites = chunks[-1].model_extra["citations"]
    ui_cites = [{"index": c["marker"], "chunk_id": c["chunk_id"], "start": c["start"], "end": c["end"],
                 "quote_start": c["quote_start"], "quote_end": c["quote_end"]} for c in ui_answer["citations"]]
    assert [{k: c[k] for k in ui_cites[0]} for c in api_cites] == ui_cites


def test_export_markdown(server: str) -> None:
    resp = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": QUESTION}])
    r = httpx.get(f"{server}/v1/chat/completions/{resp.id}/export", timeout=30,
                  headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    md = r.text
    quote = resp.model_extra["citations"][0]["quote"]
    assert f"## 1. {QUESTION}" in md and "[1] **The Elephant In The Room" in md and f"> {quote}" in md
    missing = httpx.get(f"{server}/v1/chat/completions/chatcmpl-none/export", timeout=30,
                        headers={"Authorization": f"Bearer {KEY}"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_page_exports_the_conversation_as_markdown(server: str, tmp_path: Path) -> None:
    """The page's download button gets its file from /export_markdown: questions, answers, quoted passages."""
    from gradio_client import Client

    c = Client(server, verbose=False, download_files=str(tmp_path))
    _, _, first = c.predict(QUESTION, api_name="/ask")
    _, _, second = c.predict("Who is Yun Sun?", api_name="/ask")
    update = c.predict(api_name="/export_markdown")  # the download button's new value, enabled
    assert update["interactive"] is True
    md = Path(update["value"]).read_text("utf-8")
    assert md.startswith("# Conversation\n") and f"## 1. {QUESTION}" in md and "## 2. Who is Yun Sun?" in md
    assert first["text"] in md and second["text"] in md
    from core.types import Citation
    from ui.export import quote_text

    for cite in first["citations"] + second["citations"]:
        assert f"> {' '.join(quote_text(Citation(**cite)).split())}" in md
    empty = Client(server, verbose=False, download_files=str(tmp_path)).predict(api_name="/export_markdown")
    assert empty["value"] is None and empty["interactive"] is False
