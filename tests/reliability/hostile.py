"""A deliberately misbehaving HTTP/1.1 server on loopback, written on raw asyncio streams.

The first path segment names the behaviour: a client built with ``base_url=server.url("silent")``
sends ``GET /silent/v1/batches/b-1`` and gets the ``silent`` treatment. Raw sockets (not an ASGI
app) are what make the worst cases possible: no answer at all, a connection closed on accept, a
body shorter than its Content-Length, a chunked body that never ends.

Every answer that has a body echoes the request's Authorization header back, so a client that
copied answer text into an error message would leak the key there.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BIG_BODY_BYTES", "CHUNK", "Behaviour", "Exchange", "HostileServer", "Seen"]

#: Size of the "huge" answers: far above the client's 32 MiB default cap.
BIG_BODY_BYTES = 50 * 1024 * 1024
CHUNK = 256 * 1024


@dataclass
class Exchange:
    """One request as the server read it, plus the stream to answer on."""

    method: str
    path: str
    headers: dict[str, str]
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader

    @property
    def auth(self) -> str:
        return self.headers.get("authorization", "")

    async def answer(
        self, status: int, body: bytes, content_type: str = "application/json", *, length: int | None = None
    ) -> None:
        """Send a complete answer (``length`` may lie about the body's size)."""
        declared = len(body) if length is None else length
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()

    async def json(self, data: Any, status: int = 200) -> None:
        await self.answer(status, json.dumps(data).encode())

    async def chunked(self, status: int, chunks: Any, content_type: str = "application/json") -> None:
        """Send a chunked answer from an iterable of byte strings (possibly endless)."""
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        self.writer.write(head.encode())
        for chunk in chunks:
            self.writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await self.writer.drain()
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()


Behaviour = Callable[[Exchange], Awaitable[None]]


@dataclass
class Seen:
    """What the server saw of one request (the key is kept only to prove it was sent)."""

    scenario: str
    method: str
    path: str
    authorization: str


@dataclass
class HostileServer:
    """Serves :data:`behaviours` on ``127.0.0.1`` from a background event loop."""

    behaviours: dict[str, Behaviour]
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-server", daemon=True)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    def url(self, scenario: str) -> str:
        """The client's ``base_url`` for ``scenario``."""
        return f"http://127.0.0.1:{self.port}/{scenario}/v1"

    def requests_for(self, scenario: str) -> list[Seen]:
        return [s for s in self.seen if s.scenario == scenario]

    def start(self) -> HostileServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._dispatch(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up: that is what several scenarios are about
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _dispatch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        scenario, _, rest = target.lstrip("/").partition("/")
        path = "/" + rest.split("?", 1)[0]
        self.seen.append(Seen(scenario, method, path, headers.get("authorization", "")))
        behaviour = self.behaviours[scenario]
        await behaviour(Exchange(method, path, headers, writer, reader))
