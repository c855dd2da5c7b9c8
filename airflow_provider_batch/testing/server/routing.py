"""Route templates (used for statistics and fault scripts) and the two error-body shapes."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_batch.vendors import VENDORS, vendor_named

__all__ = [
    "UPLOAD_TEMPLATE",
    "api_error",
    "download_templates",
    "is_batch_path",
    "match_template",
    "route_templates",
]

UPLOAD_TEMPLATE = "PUT /_uploads/{id}"


@cache
def _collected() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every registered vendor's route and download templates (``BatchVendor.server_templates``,
    declared in ``vendors/<name>/server/templates.py``), in registry order, each once. Collected
    on first use: the vendors' emulations import this module."""
    routes: dict[str, None] = {}
    downloads: dict[str, None] = {}
    for name in VENDORS:
        vendor_routes, vendor_downloads = vendor_named(name).server_templates()
        routes.update(dict.fromkeys(vendor_routes))
        downloads.update(dict.fromkeys(vendor_downloads))
    return tuple(routes), tuple(downloads)


def route_templates() -> tuple[str, ...]:
    """Every route of the server that faults may hit, as ``"METHOD /path/{param}"``: the union of
    the registered vendors' emulations."""
    return _collected()[0]


def download_templates() -> tuple[str, ...]:
    """The downloads a ``truncate`` fault can cut short (file content, Anthropic's batch results)."""
    return _collected()[1]


def _compile(template: str) -> tuple[str, re.Pattern[str]]:
    method, path = template.split(" ", 1)
    return method, re.compile("^" + re.sub(r"\{[a-z]+\}", "[^/]+", path) + "$")


@cache
def _compiled() -> list[tuple[str, str, re.Pattern[str]]]:
    """The templates, literal paths before ``{param}`` ones so a literal path wins."""
    return [(t, *_compile(t)) for t in sorted(route_templates(), key=lambda t: t.count("{"))]


def match_template(method: str, path: str) -> str | None:
    """The template a request matches (literal paths win over ``{id}``), or ``None``."""
    for template, route_method, pattern in _compiled():
        if route_method == method and pattern.match(path):
            return template
    return None


def __getattr__(name: str) -> Any:
    """``ROUTE_TEMPLATES`` and ``DOWNLOAD_TEMPLATES``, collected from the vendors on first use."""
    if name == "ROUTE_TEMPLATES":
        return route_templates()
    if name == "DOWNLOAD_TEMPLATES":
        return download_templates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
