"""Rewrite the error answers of an ASGI app as they are sent: how a vendor emulation gives the
shared layers' errors (401, injected faults, unknown routes) its own API's shape."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Send

__all__ = ["reshaping_send"]


def reshaping_send(
    send: Send,
    reshape: Callable[[int, bytes], bytes],
    on_start: Callable[[Message], Message] | None = None,
) -> Send:
    """A ``send`` that holds an answer of status 400 or more until its body is complete, then sends
    ``reshape(status, body)`` with a matching ``content-length``; other answers pass as they come.

    :param on_start: applied to every ``http.response.start`` message first (e.g. to add a header).
    """
    held: list[Message] = []
    chunks: list[bytes] = []

    async def shaping(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = on_start(message) if on_start else message
            if message["status"] >= 400:
                held.append(message)
                return
        if not held:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            start = held[0]
            body = reshape(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return shaping
