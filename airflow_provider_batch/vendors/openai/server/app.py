"""Assemble the OpenAI emulation: its routes and the shared control plane, inside the shared
middleware (request ids, statistics, latency, bearer auth, fault injection, access log)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_provider_batch.testing.server.app import routed_app
from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.testing.server.reshape import reshaping_send
from airflow_provider_batch.vendors.openai.server.routes import openai_routes

__all__ = ["OpenAIErrorShape", "build_app"]

_CODES = {401: "invalid_api_key", 404: "not_found", 405: "method_not_allowed", 429: "rate_limit_exceeded"}


def _reshape(status: int, raw: bytes) -> bytes:
    """An error body in OpenAI's shape (a plain ``{"error": "text"}`` becomes an error object)."""
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = {"error": raw.decode("utf-8", errors="replace")}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return raw
    kind = "invalid_request_error" if status < 500 else "server_error"
    shaped = {
        "error": {"message": str(error or body), "type": kind, "param": None, "code": _CODES.get(status)}
    }
    return json.dumps(shaped).encode()


class OpenAIErrorShape:
    """Gives the error answers the shared layers write under ``/v1`` (401, injected 429/5xx, unknown
    routes, which use Together's shapes) OpenAI's ``{"error": {message, type, param, code}}``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, reshaping_send(send, _reshape))


def build_app(controller: Controller) -> ASGIApp:
    """The OpenAI-speaking server: ``/v1`` Files and Batches, ``/_control`` and the status pages."""
    return OpenAIErrorShape(routed_app(controller, openai_routes()))
