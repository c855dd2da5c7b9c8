"""Route templates (used for statistics and fault scripts) and the two error-body shapes."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["ROUTE_TEMPLATES", "UPLOAD_TEMPLATE", "api_error", "is_batch_path", "match_template"]

UPLOAD_TEMPLATE = "PUT /_uploads/{id}"

#: Every route of the server that faults may hit, as ``"METHOD /path/{param}"``.
ROUTE_TEMPLATES: tuple[str, ...] = (
    "POST /v1/files",
    "POST /v1/files/upload",
    "POST /v1/files/multipart/initiate",
    "POST /v1/files/multipart/complete",
    "POST /v1/files/multipart/abort",
    "GET /v1/files",
    "GET /v1/files/{id}",
    "DELETE /v1/files/{id}",
    "GET /v1/files/{id}/content",
    "POST /v1/files/{id}/preprocess",
    UPLOAD_TEMPLATE,
    "PUT /_uploads/{id}/parts/{part}",
    "POST /v1/batches",
    "GET /v1/batches",
    "GET /v1/batches/{id}",
    "POST /v1/batches/{id}/cancel",
    # Anthropic's Message Batches (vendors/anthropic/server)
    "POST /v1/messages/batches",
    "GET /v1/messages/batches",
    "GET /v1/messages/batches/{id}",
    "DELETE /v1/messages/batches/{id}",
    "POST /v1/messages/batches/{id}/cancel",
    "GET /v1/messages/batches/{id}/results",
)


def _compile(template: str) -> tuple[str, re.Pattern[str]]:
    method, path = template.split(" ", 1)
    return method, re.compile("^" + re.sub(r"\{[a-z]+\}", "[^/]+", path) + "$")


_COMPILED = [(template, *_compile(template)) for template in ROUTE_TEMPLATES]


def match_template(method: str, path: str) -> str | None:
    """The template a request matches (literal paths win over ``{id}``), or ``None``."""
    for template, route_method, pattern in _COMPILED:
        if route_method == method and pattern.match(path):
            return template
    return None


def is_batch_path(path: str) -> bool:
    return path.startswith("/v1/batches")


def api_error(
    path: str,
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error response in the shape of the route: a plain string under ``error`` on batch routes,
    an ``{message, type, param, code}`` object elsewhere (``param`` names the offending field)."""
    body: dict[str, Any]
    if is_batch_path(path):
        body = {"error": message}
    else:
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def not_found(request: Request, exc: Exception) -> Response:
    """The 404 of a path no route serves, in the API's error shape."""
    return api_error(request.url.path, 404, f"no route for {request.method} {request.url.path}")


async def bad_method(request: Request, exc: Exception) -> Response:
    """The 405 of a method a route does not take, in the API's error shape."""
    return api_error(request.url.path, 405, f"method {request.method} not allowed on {request.url.path}")
