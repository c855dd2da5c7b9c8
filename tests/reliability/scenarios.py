"""The behaviours of the hostile server, by scenario name (the first path segment).

Error answers quote the request's Authorization header back (the client copies error text into its
messages, so that is where a key could leak). Success bodies do not: a 2xx body is the caller's
data, and the real API never puts the key in one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from tests.reliability.hostile import BIG_BODY_BYTES, CHUNK, Behaviour, Exchange

__all__ = [
    "BEHAVIOURS",
    "BIG_LIST_ELEMENTS",
    "CUT_LIST_ELEMENTS_SENT",
    "DOWNLOAD_DECLARED",
    "DOWNLOAD_SENT",
    "UNKNOWN_STATUS",
]

UNKNOWN_STATUS = "QUANTUM_SUPERPOSITION"
DOWNLOAD_DECLARED, DOWNLOAD_SENT = 1000, 500
#: ``big-list``: this many batches of about 8 KB each, 36 MiB in all (over the 32 MiB body cap).
BIG_LIST_ELEMENTS = 36 * 128
#: ``cut-list``: whole elements sent before the connection drops.
CUT_LIST_ELEMENTS_SENT = 5


def _job(**fields: Any) -> dict[str, Any]:
    job = {
        "id": "b-1",
        "input_file_id": "file-in",
        "status": "IN_PROGRESS",
        "progress": 50.0,
        "created_at": "2025-01-01T00:00:00Z",
        "endpoint": "/v1/chat/completions",
    }
    job.update(fields)
    return {k: v for k, v in job.items() if v is not None}


def _file(**fields: Any) -> dict[str, Any]:
    data = {"id": "file-1", "object": "file", "bytes": 10, "purpose": "batch-api", "filename": "in.jsonl"}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def _page(ex: Exchange, title: str) -> bytes:
    """An nginx-style error page that quotes the request's headers back."""
    filler = "<p>" + "The upstream server sent an invalid response. " * 3 + "</p>"
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
        f"</center>{filler}<pre>Authorization: {ex.auth}</pre><hr><center>nginx</center>"
        "</body></html>"
    ).encode()


async def unknown_status(ex: Exchange) -> None:
    job = _job(status=UNKNOWN_STATUS, output_file_id="file-out")
    await ex.json([job] if ex.path == "/v1/batches" else job)


async def missing_id(ex: Exchange) -> None:
    if ex.path.startswith("/v1/files"):
        await ex.json(_file(id=None))
    else:
        await ex.json(_job(id=None, status="COMPLETED", output_file_id="file-out"))


async def extra_fields(ex: Exchange) -> None:
    extras = {"shiny_new_field": {"nested": [1, 2, 3]}, "billing_tier": "gold"}
    if ex.path.startswith("/v1/files"):
        await ex.json(_file(**extras))
    else:
        await ex.json(_job(status="COMPLETED", output_file_id="file-out", **extras))


async def html_502(ex: Exchange) -> None:
    await ex.answer(502, _page(ex, "502 Bad Gateway"), "text/html")


async def html_200(ex: Exchange) -> None:
    await ex.answer(200, _page(ex, "Welcome"), "text/html")


def _not_object(body: str) -> Behaviour:
    async def behaviour(ex: Exchange) -> None:
        await ex.answer(200, body.encode())

    return behaviour


def _json_filler(total: int) -> Iterator[bytes]:
    """A valid JSON object of ``total`` bytes or more: ``{"id": "b-1", "pad": "xxx..."}``."""
    yield b'{"id": "b-1", "status": "COMPLETED", "pad": "'
    for _ in range(total // CHUNK):
        yield b"x" * CHUNK
    yield b'"}'


async def huge_declared(ex: Exchange) -> None:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BIG_BODY_BYTES}\r\nConnection: close\r\n\r\n"
    )
    ex.writer.write(head.encode())
    for piece in _json_filler(BIG_BODY_BYTES):
        ex.writer.write(piece)
        await ex.writer.drain()


async def huge_chunked(ex: Exchange) -> None:
    await ex.chunked(200, _json_filler(BIG_BODY_BYTES))


def _endless(status: int) -> Behaviour:
    async def behaviour(ex: Exchange) -> None:
        opening = json.dumps({"id": "b-1", "error": ex.auth})[:-1].encode() + b', "pad": "'
        await ex.chunked(status, itertools.chain([opening], itertools.repeat(b"x" * CHUNK)))

    return behaviour


async def silent(ex: Exchange) -> None:
    """Read the request, then say nothing until the client gives up."""
    await ex.reader.read()


async def close(ex: Exchange) -> None:
    """Hang up without a single byte of answer."""


async def short_download(ex: Exchange) -> None:
    body = b"{" + b"x" * (DOWNLOAD_SENT - 1)
    await ex.answer(200, body, "application/octet-stream", length=DOWNLOAD_DECLARED)


def _list_element(n: int, pad: int = 0) -> bytes:
    return json.dumps(_job(id=f"b-{n}", error="x" * pad if pad else None)).encode()


async def big_list(ex: Exchange) -> None:
    """A valid batch list of 36 MiB, chunked: too big to hold whole, fine to stream."""
    element = _list_element(0, pad=8 * 1024 - 200)
    group = b",".join([element] * 128)
    groups = itertools.repeat(group + b",", BIG_LIST_ELEMENTS // 128 - 1)
    await ex.chunked(200, itertools.chain([b"["], groups, [group + b"]"]))


async def huge_element(ex: Exchange) -> None:
    """A list whose first element alone is 50 MB."""
    await ex.chunked(200, itertools.chain([b"["], _json_filler(BIG_BODY_BYTES), [b"]"]))


async def endless_list(ex: Exchange) -> None:
    """A list that never ends: ``[{...}, {...}, ...``."""
    group = b",".join([_list_element(0)] * 256) + b","
    await ex.chunked(200, itertools.chain([b"["], itertools.repeat(group)))


async def cut_list(ex: Exchange) -> None:
    """A list declared whole (Content-Length), of which a few elements arrive before the line drops."""
    elements = [_list_element(n) for n in range(50)]
    body = b"[" + b",".join(elements) + b"]"
    sent = b"[" + b",".join(elements[:CUT_LIST_ELEMENTS_SENT]) + b',{"id": "b-cut-'
    await ex.answer(200, sent, length=len(body))


BEHAVIOURS: dict[str, Behaviour] = {
    "unknown-status": unknown_status,
    "missing-id": missing_id,
    "extra-fields": extra_fields,
    "html-502": html_502,
    "html-200": html_200,
    "array": _not_object("[1, 2, 3]"),
    "string": _not_object('"just a string"'),
    "null": _not_object("null"),
    "number": _not_object("42"),
    "huge-declared": huge_declared,
    "huge-chunked": huge_chunked,
    "endless-200": _endless(200),
    "endless-502": _endless(502),
    "silent": silent,
    "close": close,
    "short-download": short_download,
    "big-list": big_list,
    "huge-element": huge_element,
    "endless-list": endless_list,
    "cut-list": cut_list,
}
