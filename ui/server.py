"""One port for every client: the page (Gradio), the OpenAI-compatible API (/v1) and MCP tools (/mcp).

A FastAPI app holds the /v1 routes and the MCP endpoint, and the Gradio page is mounted on it at "/"
(gr.mount_gradio_app), so all three share one Assistant, one library and one process. RAG_API_KEYS
guards /v1 and /mcp with bearer tokens; the page keeps its own login (RAG_UI_AUTH).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
from http.cookies import SimpleCookie
from typing import Any

import gradio as gr
from fastapi import FastAPI

from core.errors import ConfigError
from core.settings import DEFAULT_COLLECTION, Settings
from index.pipeline import Indexer
from rag.compose import Assistant
from ui.app import build_app, chat_concurrency, page_options
from ui.idle import calm_queue
from ui.limits import LOGIN_ADDRESS, fair_queue
from ui.mcp_tools import build_mcp
from ui.openai_api import OpenAIService
from ui.openai_errors import ApiError
from ui.page_files import UploadLimit, empty_folder
from ui.uploads import sweep_orphan_uploads

GUARDED = ("/v1", "/mcp")
log = logging.getLogger(__name__)


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
    """On a network interface the page needs a login and /v1 and /mcp need keys (both are always served):
    refuse to start otherwise, saying what to set (issue 24, finding 2)."""
    if is_loopback(settings.host):
        return
    missing = [fix for fix, ok in (
        ("RAG_UI_AUTH=user:password (the page's login: uploads, removals, evaluations, feedback)", settings.ui_auth),
        ("RAG_API_KEYS=key1,key2 (bearer tokens for /v1 and /mcp)", api_keys(settings))) if not ok]
    if missing:
        raise ConfigError(f"host {settings.host} would serve the page, /v1 and /mcp to the network without "
                          f"{' and '.join(m.split('=')[0] for m in missing)}: set {'; and set '.join(missing)}. "
                          "A network host needs both RAG_UI_AUTH and RAG_API_KEYS; or bind 127.0.0.1")


class LoginAddress:
    """ASGI middleware: tells the login guard (ui.limits.LoginGuard) which address a POST /login comes from,
    so it can lock per address as well as per name. Forwarded-for headers are not trusted."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").rstrip("/").endswith("/login"):
            token = LOGIN_ADDRESS.set((scope.get("client") or ("unknown",))[0])
            try:
                await self.app(scope, receive, send)
            finally:
                LOGIN_ADDRESS.reset(token)
            return
        await self.app(scope, receive, send)


def page_user(gradio_app: Any):
    """scope -> "user:<login>" from the page's login cookie, else "addr:<client address>" when the page has no
    login, else "" (a visitor who has not logged in, whom Gradio refuses)."""
    def key_of(scope: dict) -> str:
        cookie = SimpleCookie()
        try:
            cookie.load(dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed cookie is an anonymous client
            cookie = SimpleCookie()
        tokens = getattr(gradio_app, "tokens", {}) or {}
        for name, morsel in cookie.items():
            if name.startswith("access-token") and tokens.get(morsel.value):
                return f"user:{tokens[morsel.value]}"
        if getattr(gradio_app, "auth", None):
            return ""  # not logged in: Gradio answers 401, and nothing is counted
        return f"addr:{(scope.get('client') or ('unknown',))[0]}"

    return key_of


def use_page_folder(settings: Settings) -> None:
    """Gradio's upload/cache folder becomes <data>/page-files, emptied now: whatever is there was left by an
    earlier process (a kill -9 mid-upload leaves its temp file; finding 19), and no session outlives one."""
    folder = settings.page_files_dir
    empty_folder(folder)
    os.environ["GRADIO_TEMP_DIR"] = str(folder.resolve())


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
    use_page_folder(settings)
    indexed = {(d.collection, d.source) for d in library.documents()}
    for name in sweep_orphan_uploads(settings.uploads_dir, indexed, DEFAULT_COLLECTION):
        log.warning("removed upload %s: no indexed document comes from it (an interrupted upload)", name)
    page = build_app(assistant, library, settings)
    page.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    fair_queue(page, settings.max_queued_per_user)
    calm_queue(page)  # no 1 ms polling while nobody asks (ui/idle.py)
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
    # mount_gradio_app never marks the Blocks launched, and Gradio skips its own upload-folder check on a
    # FileData path until it is: mark it, so Gradio's check backs up ui.paths (defence in depth)
    page.has_launched = True
    gradio_app = next(r.app for r in app.routes if getattr(r, "path", None) == "" and hasattr(r.app, "tokens"))
    app.add_middleware(UploadLimit, folder=settings.page_files_dir.resolve(),
                       per_user_bytes=settings.upload_bytes_per_hour, total_bytes=settings.page_files_max_bytes,
                       ttl_s=settings.page_files_ttl_s, key_of=page_user(gradio_app),
                       register=lambda: page.upload_file_set)
    app.add_middleware(LoginAddress)
    app.add_middleware(BearerAuth, keys=api_keys(settings))
    return app


def serve(app: FastAPI, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5)
