"""ASGI middleware: request ids, statistics, latency, bearer auth, JSON-only control, faults, access log."""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import threading
import time
import uuid
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_batch.testing.server.faults import FaultInjector
from airflow_provider_batch.testing.server.routing import api_error, match_template
from airflow_provider_batch.testing.server.store import Store

__all__ = ["ServerMiddleware"]

_RESET_DECLARED_BYTES = 4096
_CONTROL_PREFIX = "/_control"
_BODYLESS = frozenset({"GET", "HEAD"})


class _Abort(Exception):
    """Stops the app after a deliberately incomplete response."""


class ServerMiddleware:
    """Wraps the Starlette app; faults and latency never touch ``/_control``.

    ``/v1`` and ``/_control`` both require ``Authorization: Bearer <api key>``; a ``/_control``
    request other than ``GET`` must also declare an ``application/json`` body, so no request a web
    page can send without a CORS preflight (which this server never grants) reaches them.

    :param app: the routed application.
    :param store: counters and configuration.
    :param faults: the fault injector.
    """

    def __init__(self, app: ASGIApp, store: Store, faults: FaultInjector) -> None:
        self.app = app
        self.store = store
        self.faults = faults
        self._log_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        status: list[int] = [0]

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-request-id", request_id.encode()),
                    (b"cf-ray", f"{request_id[:16]}-LCL".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._handle(scope, receive, tagged_send)
        except Exception as exc:  # an _Abort may come back wrapped in an exception group
            if not _is_abort(exc):
                raise
        finally:
            self._log(scope, status[0], request_id, time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        api, upload = path.startswith("/v1/"), path.startswith("/_uploads/")
        control = path == _CONTROL_PREFIX or path.startswith(_CONTROL_PREFIX + "/")
        template = match_template(scope["method"], path)
        if template:
            self.store.count_request(template)
        if api and self.store.config.latency_ms > 0:
            await asyncio.sleep(self.store.config.latency_ms / 1000.0)
        if api and not self._authorized(scope):
            await api_error(path, 401, "Invalid API key provided", code="invalid_api_key")(
                scope, receive, send
            )
            return
        if control:
            refusal = self._control_refusal(scope)
            await (refusal or self.app)(scope, receive, send)
            return
        fault = self.faults.choose(template) if (api or upload) else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        await self._inject(scope, receive, send, *fault)

    async def _inject(
        self, scope: Scope, receive: Receive, send: Send, kind: str, params: dict[str, Any]
    ) -> None:
        """Answer the request with the chosen fault instead of (or after) the app."""
        self.store.count_fault(kind)
        if kind == "stall":
            await asyncio.sleep(float(params.get("seconds", self.store.config.stall_seconds)))
            await self.app(scope, receive, send)
        elif kind == "reset":
            if params.get("after"):  # the request takes effect, only the answer is lost
                await self.app(scope, receive, _discard)
            await self._reset(send)
        elif kind == "truncate":
            await self.app(scope, receive, _truncating(send, float(params.get("fraction", 0.5))))
        else:
            if params.get("after"):  # the request takes effect, then the answer is an error
                await self.app(scope, receive, _discard)
            await self._error(scope, receive, send, int(kind), params)

    def _authorized(self, scope: Scope) -> bool:
        expected = f"Bearer {self.store.config.api_key.get_secret_value()}".encode()
        given = dict(scope["headers"]).get(b"authorization", b"")
        return hmac.compare_digest(given, expected)

    def _control_refusal(self, scope: Scope) -> ASGIApp | None:
        """The 401 or 415 answer a ``/_control`` request gets, or ``None`` when it may pass."""
        if not self._authorized(scope):
            return JSONResponse(
                {"error": "the control API requires 'Authorization: Bearer <api key>'"},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["method"] not in _BODYLESS and content_type != b"application/json":
            message = "the control API accepts only 'Content-Type: application/json' bodies"
            return JSONResponse({"error": message}, status_code=415)
        return None

    async def _error(
        self, scope: Scope, receive: Receive, send: Send, status: int, params: dict[str, Any]
    ) -> None:
        headers: dict[str, str] = {}
        if status == 429:
            seconds = float(params.get("retry_after", self.store.config.retry_after_seconds))
            headers = {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(int(seconds * 1000))}
        message = {
            429: "rate limit exceeded",
            500: "internal server error",
            502: "bad gateway",
            503: "service unavailable",
        }[status]
        await api_error(scope["path"], status, f"{message} (injected)", headers=headers)(scope, receive, send)

    @staticmethod
    async def _reset(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(_RESET_DECLARED_BYTES).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
        raise _Abort

    def _log(self, scope: Scope, status: int, request_id: str, seconds: float) -> None:
        path = self.store.config.access_log
        if not path:
            return
        entry = json.dumps(
            {
                "ts": round(time.time(), 3),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "request_id": request_id,
                "duration_ms": round(seconds * 1000, 2),
            }
        )
        with self._log_lock, open(path, "a", encoding="utf-8") as handle:
            handle.write(entry + "\n")


async def _discard(message: Message) -> None:
    """A ``send`` that drops the app's response."""


def _is_abort(exc: BaseException) -> bool:
    if isinstance(exc, _Abort):
        return True
    group = getattr(exc, "exceptions", None)
    return bool(group) and all(_is_abort(e) for e in group)


def _truncating(send: Send, fraction: float) -> Send:
    """A ``send`` that passes the declared length but only ``fraction`` of the body, then aborts."""
    state = {"limit": 0, "sent": 0}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            length = dict(message.get("headers", [])).get(b"content-length", b"0")
            state["limit"] = max(int(int(length) * fraction), 0)
            await send(message)
            return
        body: bytes = message.get("body", b"")
        room = state["limit"] - state["sent"]
        if len(body) < room:
            state["sent"] += len(body)
            await send({**message, "more_body": True})
            return
        await send({"type": "http.response.body", "body": body[:room], "more_body": True})
        raise _Abort

    return wrapped
