"""One port for every client: the page (Gradio), the OpenAI-compatible API (/v1) and MCP tools (/mcp).

A FastAPI app holds the /v1 routes and the MCP endpoint, and the Gradio page is mounted on it at "/"
(gr.mount_gradio_app), so all three share one Assistant, one library and one process. RAG_API_KEYS
guards /v1 and /mcp with bearer tokens; the page keeps its own login (RAG_UI_AUTH).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

import gradio as gr
from fastapi import FastAPI

from core.errors import ConfigError
from core.settings import Settings
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.app import build_app, chat_concurrency, page_options
from ui.mcp_tools import build_mcp
from ui.openai_api import ApiError, OpenAIService

GUARDED = ("/v1", "/mcp")


def api_keys(settings: Settings) -> tuple[str, ...]:
    return tuple(k.strip() for k in settings.api_keys.split(",") if k.strip())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """An open API on a network interface would let anyone ask (and spend the CPU): refuse to start."""
    if not api_keys(settings) and not is_loopback(settings.host):
        raise ConfigError(
            f"host {settings.host} exposes /v1 and /mcp to the network without keys: set RAG_API_KEYS "
            "(comma-separated bearer tokens), or bind 127.0.0.1")


class BearerAuth:
    """ASGI middleware: every /v1 and /mcp request needs `Authorization: Bearer <one of the keys>`."""

    def __init__(self, app: Any, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if self.keys and any(path == p or path.startswith(p + "/") for p in GUARDED) and not self._ok(scope):
            err = ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>' with one of "
                           "the keys in RAG_API_KEYS", code="invalid_api_key")
            body = json.dumps(err.body()).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _ok(self, scope: dict) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        # compare against every key (no early exit) so the time taken says nothing about which matched
        matches = [hmac.compare_digest(token, k) for k in self.keys]
        return scheme.lower() == b"bearer" and any(matches)


def build_server(assistant: Assistant, library: Indexer, settings: Settings) -> FastAPI:
    """The one ASGI app: /v1 (OpenAI-compatible), /mcp (MCP tools), and the page at /."""
    check_exposure(settings)
    page = build_app(assistant, library, settings)
    page.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    mcp = build_mcp(assistant, library)
    # stateless: each MCP request stands alone, no session to lose when the client reconnects
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, host=settings.host)
    api = OpenAIService(assistant, settings, chat_concurrency(settings, assistant.generator_name),
                        collections=library.collections)
    app = FastAPI(title="cited-answers", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lambda _app: mcp.session_manager.run())
    app.include_router(api.router())
    app.router.routes.extend(mcp_app.routes)  # before the page, whose mount at "/" matches everything
    app = gr.mount_gradio_app(app, page, "/", server_name=settings.host, server_port=settings.port,
                              **page_options(settings))
    app.add_middleware(BearerAuth, keys=api_keys(settings))
    return app


def serve(app: FastAPI, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5)
