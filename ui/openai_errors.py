"""The /v1 API's errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, so the SDKs raise
their typed exceptions; and the routes that keep every /v1 answer in that shape.

Without the fallbacks a wrong method (GET /v1/chat/completions) or an unknown /v1 path fell through to the
page's mount at "/" and came back as Starlette's {"detail": "Not Found"}. Now a wrong method is a 405 with
`Allow`, an unknown path a 404 that lists the routes there are.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from core.errors import (
    GeneratorError,
    IndexMissingError,
    InputError,
    LimitError,
    RagError,
    StoreUnavailableError,
    UnknownCollectionError,
)

log = logging.getLogger(__name__)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiError(Exception):
    """An error answered in OpenAI's shape. `message` says what is wrong and how to fix it."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        return JSONResponse(self.body(), status_code=self.status, headers={**headers, **self.headers} or None)


def translate(e: Exception) -> ApiError:
    """The one place our errors become HTTP statuses."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, UnknownCollectionError):
        return ApiError(404, str(e), code="model_not_found", param="model")
    if isinstance(e, LimitError):
        return ApiError(400, str(e), code="string_above_max_length", param="messages")
    if isinstance(e, InputError):
        return ApiError(400, str(e), code="invalid_value", param="messages")
    if isinstance(e, IndexMissingError | StoreUnavailableError):
        return ApiError(503, str(e), kind="server_error", code="service_unavailable")
    if isinstance(e, GeneratorError):
        return ApiError(502, str(e), kind="server_error", code="generator_failed")
    if isinstance(e, RagError):
        return ApiError(500, str(e), kind="server_error")
    return ApiError(500, "the server failed while answering; its log has the details", kind="server_error")


def logged(e: Exception) -> ApiError:
    """The API error for `e`; a failure that is not one of ours also goes to the server log."""
    err = translate(e)
    if err.status >= 500 and not isinstance(e, RagError | ApiError):
        log.error("answering an API request failed", exc_info=e)
    return err


def _served(router: APIRouter) -> dict[str, list[str]]:
    """path -> the methods it serves, for every route of the router."""
    out: dict[str, set[str]] = {}
    for route in router.routes:
        out.setdefault(route.path, set()).update(route.methods)
    return {path: sorted(methods) for path, methods in out.items()}


def _not_allowed(allow: list[str], routes: str):
    async def not_allowed(request: Request) -> Response:
        return ApiError(405, f"{request.method} {request.url.path} is not supported: use {' or '.join(allow)} "
                        f"(the API serves {routes})", code="method_not_allowed",
                        headers={"Allow": ", ".join(allow)}).response()
    return not_allowed


def with_fallbacks(router: APIRouter) -> APIRouter:
    """Add, after the real routes: a 405 with `Allow` for every other method on each path, and a 404 for any
    other path under the router's prefix; both OpenAI-shaped and saying which routes there are."""
    served = _served(router)
    routes = ", ".join(f"{' or '.join(m)} {p.replace(':path}', '}')}" for p, m in served.items())
    for path, methods in served.items():
        router.add_api_route(path.removeprefix(router.prefix), _not_allowed(methods, routes),
                             methods=[m for m in METHODS if m not in methods], include_in_schema=False)

    async def unknown(request: Request) -> Response:
        return ApiError(404, f"{request.method} {request.url.path} is not a route of this API: it serves "
                        f"{routes}", code="unknown_url").response()

    router.add_api_route("/{rest:path}", unknown, methods=list(METHODS), include_in_schema=False)
    return router
