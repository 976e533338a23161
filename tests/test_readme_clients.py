"""The README's client snippets work: every Python block runs against a real `python -m ui`, so does the
curl command, and the MCP host config reaches the tools.

The server is the real serving command (extractive generator, a private copy of the article index) with
the README's placeholder key; the README's address is replaced by the test server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from tests.ui_process import serve_ui

pytestmark = pytest.mark.slow

README = (PROJECT_ROOT / "README.md").read_text("utf-8")
ADDRESS = "http://127.0.0.1:7860"
KEY = "sk-your-key"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


@pytest.fixture(scope="module")
def server(article_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_ui(article_index, tmp_path_factory.mktemp("readme"), {"RAG_API_KEYS": KEY}) as url:
        yield url


def test_readme_has_a_section_per_client() -> None:
    for needle in ("from openai import OpenAI", "curl -s", "ChatOpenAI", "as_runnable()", '"mcpServers"'):
        assert needle in README
    assert len(README.encode()) < 8192


def test_every_python_snippet_runs(server: str, article_index: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    shutil.copytree(article_index, data)
    monkeypatch.setenv("RAG_DATA_DIR", str(data))  # the snippets' load_settings() reads the environment
    snippets = blocks("python")
    assert len(snippets) >= 3
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in snippets:
            exec(compile(code.replace(ADDRESS, server), "README.md", "exec"), {})
    printed = out.getvalue()
    assert printed.count("Sources:\n[1]") >= 2  # the OpenAI SDK and ChatOpenAI answers
    assert "'index': 1" in printed and "Citation(marker=1" in printed


def test_curl_snippet_streams(server: str) -> None:
    (command,) = blocks("bash")[-1:]
    assert command.startswith("curl")
    done = subprocess.run(["bash", "-c", command.replace(ADDRESS, server)], capture_output=True, text=True,
                          timeout=120, check=True)
    events = [e for e in done.stdout.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and '"citations"' in events[-2]


def test_mcp_host_config_reaches_the_tools(server: str) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    snippet = re.search(r"`(\{\"mcpServers\".*?\})`", README, re.S).group(1)
    entry = json.loads(snippet.replace(ADDRESS, server))["mcpServers"]["cited-answers"]

    async def tools() -> list[str]:
        http = httpx2.AsyncClient(headers=entry["headers"], timeout=60)
        async with Client(streamable_http_client(entry["url"], http_client=http)) as client:
            return sorted(t.name for t in (await client.list_tools()).tools)

    assert asyncio.run(tools()) == ["ask", "list_documents", "search"]
