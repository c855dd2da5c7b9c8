"""Assemble the Anthropic emulation: its routes and the shared control plane inside the shared
middleware (request ids, statistics, latency, bearer auth, fault injection, access log), wrapped in
:class:`AnthropicWire`, which speaks Anthropic's headers and error shapes at the edge."""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_batch.testing.server.app import routed_app
from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.testing.server.reshape import reshaping_send
from airflow_provider_batch.testing.server.store import Store
from airflow_provider_batch.vendors.anthropic.server.routes import anthropic_error, anthropic_routes

__all__ = ["AnthropicWire", "build_app"]

#: ``error.type`` of an error the shared layers answer, by HTTP status.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _reshape(status: int, raw: bytes, request_id: str, auth_message: str) -> bytes:
    """An error body in Anthropic's shape, with the request's id."""
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    if not (isinstance(body, dict) and body.get("type") == "error"):
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if status == 401:
            message = auth_message
        kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        body = {
            "type": "error",
            "error": {"type": kind, "message": str(message or raw.decode(errors="replace"))},
        }
    body["request_id"] = request_id
    return json.dumps(body).encode()


class AnthropicWire:
    """Anthropic's edge of the ``/v1`` routes, around the shared middleware.

    * Authentication: ``x-api-key: KEY`` (what the SDK sent through its 0.x and 1.x releases, and
      the provider's client sends) or ``Authorization: Bearer KEY`` (what the 2.x SDK sends). When
      ``x-api-key`` is present it alone decides; it is handed on as the bearer token the shared
      middleware checks, so the control plane and its statistics are the other vendors'.
    * ``anthropic-version`` is required on every authenticated ``/v1`` request (400 without it).
    * Every answer carries ``request-id`` (``req_`` + the shared ``x-request-id``), and every error
      has Anthropic's ``{"type": "error", "error": {"type", "message"}, "request_id"}`` shape,
      including those of the shared layers (401, injected 429 and 5xx, unknown routes).
    """

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app, self.store = app, store

    def _key_matches(self, given: bytes) -> bool:
        return hmac.compare_digest(given, self.store.config.api_key.get_secret_value().encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = [(k.lower(), v) for k, v in scope["headers"]]
        found = dict(headers)
        api_key, bearer = found.get(b"x-api-key"), found.get(b"authorization", b"")
        if api_key is not None:
            headers = [(k, v) for k, v in headers if k != b"authorization"]
            headers.append((b"authorization", b"Bearer " + api_key))
            authorized = self._key_matches(api_key)
        else:
            authorized = bearer.startswith(b"Bearer ") and self._key_matches(bearer[7:])
        auth_message = (
            "x-api-key header is required" if api_key is None and not bearer else "invalid x-api-key"
        )
        scope = {**scope, "headers": headers}
        if authorized and not found.get(b"anthropic-version"):
            answer = anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
            await answer(scope, receive, _shaping(send, auth_message))
            return
        await self.app(scope, receive, _shaping(send, auth_message))


def _shaping(send: Send, auth_message: str) -> Send:
    """A ``send`` that adds ``request-id`` and gives error bodies Anthropic's shape."""
    request_id = ["req_" + uuid.uuid4().hex]

    def tag(message: Message) -> Message:
        shared = dict(message.get("headers", [])).get(b"x-request-id")
        if shared:
            request_id[0] = "req_" + shared.decode()
        headers = [*message.get("headers", []), (b"request-id", request_id[0].encode())]
        return {**message, "headers": headers}

    return reshaping_send(send, lambda status, raw: _reshape(status, raw, request_id[0], auth_message), tag)


def build_app(controller: Controller) -> ASGIApp:
    """The Anthropic-speaking server: ``/v1/messages/batches``, ``/_control`` and the status pages."""
    return AnthropicWire(routed_app(controller, anthropic_routes()), controller.store)
