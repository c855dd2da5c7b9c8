"""The streamed lists (``files.iter()``, ``batches.iter()``, ``list()``, ``find_by_input_file``) at
the wire, with :class:`httpx.MockTransport` bodies that arrive in pieces or break off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client import (
    ListElementTooLargeError,
    ResponseValidationError,
    StreamInterruptedError,
)
from tests.client.helpers import call, drain, first

BASE = "http://together.test/v1"


def _files(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"file-{n}", "filename": f"in-{n}.jsonl", "bytes": n} for n in range(start, start + count)]


def _jobs(count: int, input_file_id: str = "file-in") -> list[dict[str, Any]]:
    return [{"id": f"b-{n}", "input_file_id": input_file_id, "status": "COMPLETED"} for n in range(count)]


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent ``size`` bytes at a time that breaks off (``ReadError``) after ``cut`` bytes."""

    def __init__(self, body: bytes, size: int = 7, cut: int | None = None) -> None:
        self.body, self.size, self.cut = body, size, cut
        self.sent = 0
        self.closed = False

    def _pieces(self) -> Iterator[bytes]:
        end = len(self.body) if self.cut is None else self.cut
        for start in range(0, end, self.size):
            piece = self.body[start : min(start + self.size, end)]
            self.sent += len(piece)
            yield piece
        if self.cut is not None:
            raise httpx.ReadError("connection reset mid-body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            yield piece

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


class Lists:
    """Answers ``GET /v1/{path}`` with the scripted bodies in turn (the last one repeats)."""

    def __init__(self, *bodies: Pieces) -> None:
        self.bodies = list(bodies)
        self.calls = 0
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = self.bodies[min(self.calls, len(self.bodies) - 1)]
        self.calls += 1
        return httpx.Response(200, stream=body, headers={"content-type": "application/json"})


def wrapped(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"object": "list", "data": rows}).encode()


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 16])
async def test_iter_yields_typed_models_as_the_body_arrives(make_client, size: int) -> None:
    lists = Lists(Pieces(wrapped(_files(50)), size))
    client = make_client(BASE, lists.transport)
    files = await drain(client.files.iter())
    assert [f.id for f in files] == [f"file-{n}" for n in range(50)] and files[7].bytes == 7
    assert lists.calls == 1


async def test_batch_iter_reads_a_bare_array_or_null(make_client) -> None:
    lists = Lists(Pieces(json.dumps(_jobs(3)).encode()), Pieces(b"null"))
    client = make_client(BASE, lists.transport)
    assert [j.id for j in await drain(client.batches.iter())] == ["b-0", "b-1", "b-2"]
    assert await drain(client.batches.iter()) == []


async def test_closing_an_iterator_early_closes_the_answer(make_client) -> None:
    body = Pieces(json.dumps(_jobs(1000)).encode(), size=512)
    client = make_client(BASE, Lists(body).transport)
    job = await first(client.batches.iter())
    assert job.id == "b-0" and body.closed and body.sent < 2048, (body.closed, body.sent)


async def test_a_break_before_the_first_element_is_retried_from_scratch(make_client, sleeps) -> None:
    body = wrapped(_files(20))
    lists = Lists(Pieces(body, cut=30), Pieces(body))  # 30 bytes: inside the first element
    client = make_client(BASE, lists.transport)
    assert len(await drain(client.files.iter())) == 20
    assert lists.calls == 2 and len(sleeps.delays) == 1


async def test_a_break_after_elements_were_yielded_is_a_typed_error(make_client, sleeps) -> None:
    body = wrapped(_files(20))
    lists = Lists(Pieces(body, cut=len(body) // 2), Pieces(body))
    client = make_client(BASE, lists.transport)
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        if hasattr(stream := client.files.iter(), "__aiter__"):
            async for item in stream:
                seen.append(item.id)
        else:
            seen.extend(item.id for item in stream)
    assert caught.value.yielded == len(seen) > 0 and lists.calls == 1 and sleeps.delays == []
    assert "GET /files" in str(caught.value) and "ReadError" in str(caught.value)


async def test_list_starts_a_broken_stream_again_and_returns_each_element_once(make_client, sleeps) -> None:
    body = wrapped(_files(20))
    lists = Lists(Pieces(body, cut=len(body) // 2), Pieces(body, cut=len(body) - 3), Pieces(body))
    client = make_client(BASE, lists.transport)
    files = await call(client.files.list())
    assert [f.id for f in files] == [f"file-{n}" for n in range(20)]
    assert lists.calls == 3 and len(sleeps.delays) == 2


async def test_find_by_input_file_keeps_only_that_file_and_survives_a_break(make_client, sleeps) -> None:
    rows = [*_jobs(3, "file-a"), *_jobs(2, "file-b"), *_jobs(3, "file-a")]
    rows = [{**row, "id": f"b-{n}"} for n, row in enumerate(rows)]
    body = json.dumps(rows).encode()
    lists = Lists(Pieces(body, cut=len(body) - 10), Pieces(body))
    client = make_client(BASE, lists.transport)
    found = await call(client.batches.find_by_input_file("file-b"))
    assert [job.id for job in found] == ["b-3", "b-4"] and lists.calls == 2


async def test_an_element_over_the_cap_fails_without_retry(make_client) -> None:
    rows = [*_files(2), {"id": "file-huge", "pad": "x" * 5000}]
    lists = Lists(Pieces(wrapped(rows), size=1000))
    client = make_client(BASE, lists.transport, max_list_element_bytes=4096)
    with pytest.raises(ListElementTooLargeError) as caught:
        await drain(client.files.iter())
    assert caught.value.limit == 4096 and lists.calls == 1


@pytest.mark.parametrize("body", [b'{"error": "nope"}', b"<html>ok</html>", b'[{"id": "b-1"} {"id": "b-2"}]'])
async def test_a_body_that_is_not_a_list_fails_without_retry(make_client, body: bytes) -> None:
    lists = Lists(Pieces(body))
    client = make_client(BASE, lists.transport)
    with pytest.raises(ResponseValidationError, match="GET /batches"):
        await call(client.batches.list())
    assert lists.calls == 1
