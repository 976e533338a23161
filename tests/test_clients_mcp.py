"""MCP tools through the `mcp` SDK's own client (streamable HTTP) against the real serving command.

`python -m ui` runs as its own process (extractive generator, a private copy of the article index,
RAG_API_KEYS set); the client lists the tools, calls each one, and sends bad arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui_process import serve_ui

pytestmark = pytest.mark.slow

KEY = "mcp-test-key"
QUESTION = "How many shipping containers has Russia received from North Korea?"
SHARED = "What is the mutual defense pact?"  # three sentences of one passage carry [1] (tests/test_claims_api.py)


@pytest.fixture(scope="module")
def server(article_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_ui(article_index, tmp_path_factory.mktemp("mcp"), {"RAG_API_KEYS": KEY}) as url:
        yield url


def session(url: str, key: str = KEY):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120)
    return Client(streamable_http_client(url + "/mcp", http_client=http))


async def _calls(url: str) -> dict:
    async with session(url) as client:
        tools = await client.list_tools()
        out = {"tools": {t.name: t for t in tools.tools}}
        out["ask"] = await client.call_tool("ask", {"question": QUESTION})
        out["off"] = await client.call_tool("ask", {"question": "What is the capital of France?"})
        out["shared"] = await client.call_tool("ask", {"question": SHARED})
        out["search"] = await client.call_tool("search", {"query": "shipping containers", "k": 3})
        out["docs"] = await client.call_tool("list_documents", {})
        out["bad_k"] = await client.call_tool("search", {"query": "x", "k": 0})
        out["bad_type"] = await client.call_tool("search", {"query": "x", "k": "many"})
        out["empty"] = await client.call_tool("ask", {"question": "   "})
        out["collection"] = await client.call_tool("list_documents", {"collection": "nope"})
        out["long"] = await client.call_tool("ask", {"question": "Why " + "x" * 2500})
        out["misspelt"] = await client.call_tool("ask", {"question": QUESTION, "colection": "default"})
        out["missing"] = await client.call_tool("ask", {})
        out["no_tool"] = await client.call_tool("answer", {"question": QUESTION})
        out["after"] = await client.call_tool("list_documents", {})  # still serving after the errors
        return out


@pytest.fixture(scope="module")
def calls(server: str) -> dict:
    return asyncio.run(_calls(server))


def test_tools_are_listed_with_typed_schemas(calls: dict) -> None:
    tools = calls["tools"]
    assert set(tools) == {"ask", "search", "list_documents"}
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["search"].input_schema["properties"]["k"]["type"] == "integer"
    assert "citations" in tools["ask"].output_schema["properties"]


def test_ask_returns_answer_citations_and_flag(calls: dict, article_library) -> None:
    result = calls["ask"]
    assert not result.is_error
    data = result.structured_content
    assert "10,000" in data["answer"] and "[1]" in data["answer"] and data["abstained"] is False
    cite = data["citations"][0]
    doc = article_library.document(cite["doc_id"]).text
    assert cite["index"] == 1 and cite["quote"] in doc[cite["start"]:cite["end"]]
    off = calls["off"].structured_content
    assert off["abstained"] is True and off["citations"] == []


def test_ask_citations_match_the_api_records(calls: dict, article_library) -> None:
    """docs/clients.md: MCP's citations are the API's: quote_start/quote_end slice the document to the quote."""
    tools = calls["tools"]
    cite_schema = tools["ask"].output_schema["$defs"]["CitationOut"]["properties"]
    assert {"quote_start", "quote_end"} <= set(cite_schema)
    for cite in calls["ask"].structured_content["citations"]:
        doc = article_library.document(cite["doc_id"]).text
        assert cite["start"] <= cite["quote_start"] < cite["quote_end"] <= cite["end"]
        assert doc[cite["quote_start"]:cite["quote_end"]] == cite["quote"]


def test_ask_citations_carry_one_quote_per_claim(calls: dict, article_library) -> None:
    """Issue 29, item 2, through MCP as through /v1: a marker shared by two answer sentences carries each
    sentence's own supporting quote in `claims`, spans slicing the document."""
    claim_schema = calls["tools"]["ask"].output_schema["$defs"]["ClaimOut"]["properties"]
    assert {"sentence", "text", "quote", "quote_start", "quote_end"} <= set(claim_schema)
    data = calls["shared"].structured_content
    shared = next(c for c in data["citations"] if len(c["claims"]) >= 2)
    doc = article_library.document(shared["doc_id"]).text
    for k in shared["claims"]:
        assert doc[k["quote_start"]:k["quote_end"]] == k["quote"]
        assert shared["start"] <= k["quote_start"] < k["quote_end"] <= shared["end"]
        assert k["text"].rstrip(".") in data["answer"] and k["text"].rstrip(".") in k["quote"], k
    quotes = [k["quote"] for k in shared["claims"]]
    assert len(set(quotes)) == len(quotes), "each claim has its own supporting sentence"
    assert shared["quote"] in quotes
    for cite in calls["ask"].structured_content["citations"]:  # every citation has its claims
        assert cite["quote"] in [k["quote"] for k in cite["claims"]]


def test_an_abstention_says_why_and_lists_the_closest_passages(calls: dict, article_library) -> None:
    """Issue 29 #5: "The closest passages are listed below." with nothing below it. Now they are listed, in
    the text and as structured passages, and abstain_reason says why."""
    off = calls["off"].structured_content
    assert off["abstain_reason"]
    closest = off["closest"]
    assert 1 <= len(closest) <= 3
    head, _, listing = off["answer"].partition("\n\nClosest passages (not enough to answer):\n")
    assert head.startswith("The sources don't cover this question.")
    assert len(listing.splitlines()) == len(closest)
    for p, line in zip(closest, listing.splitlines(), strict=True):
        assert article_library.document(p["doc_id"]).text[p["start"]:p["end"]] == p["text"]
        assert f"({p['doc_id']}, characters {p['start']}-{p['end']})" in line
    assert calls["ask"].structured_content["closest"] == []  # an answer offers none


def test_search_returns_passages_with_spans(calls: dict, article_library) -> None:
    passages = calls["search"].structured_content["passages"]
    assert [p["rank"] for p in passages] == [1, 2, 3]
    for p in passages:
        assert article_library.document(p["doc_id"]).text[p["start"]:p["end"]] == p["text"]
    assert any("shipping containers" in p["text"] for p in passages)


def test_list_documents(calls: dict) -> None:
    data = calls["docs"].structured_content
    assert data["collection"] == "default"
    assert sorted(d["doc_id"] for d in data["documents"]) == ["elephant-in-the-room.txt", "kessick-narrows-bridge.txt"]


@pytest.mark.parametrize("name, expect", [
    ("bad_k", "'k' must be at least 1"), ("bad_type", "'k' must be a whole number"),
    ("empty", "the question is empty"), ("collection", "nope"), ("missing", "'question' is missing"),
    ("misspelt", "unknown argument(s) 'colection'; ask takes question, collection"),
    ("no_tool", "There is no tool 'answer': use one of ask, list_documents, search"),
    ("long", "the question is 2504 characters; the limit is 2000 (setting max_question_chars / "
             "RAG_MAX_QUESTION_CHARS). Shorten it"),
])
def test_bad_arguments_are_tool_errors(calls: dict, name: str, expect: str) -> None:
    """Clean messages that name the problem and the fix: never pydantic's own text, its URL, or the value."""
    result = calls[name]
    assert result.is_error
    text = result.content[0].text
    assert expect in text
    assert not any(raw in text for raw in ("Input should", "Field required", "pydantic", "http", "xxxxxxxx"))
    assert not calls["after"].is_error


def test_mcp_needs_the_key(server: str) -> None:
    async def attempt() -> None:
        async with session(server, key="wrong") as client:
            await client.list_tools()

    from mcp import MCPError

    # the SDK reports the 401 as an MCPError (the status itself: tests/test_clients_openai.py)
    with pytest.raises(BaseExceptionGroup) as e:
        asyncio.run(attempt())
    assert e.group_contains(MCPError, depth=None)
