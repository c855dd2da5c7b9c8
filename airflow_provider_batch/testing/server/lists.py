"""Streamed JSON list answers: an account's whole history in one body, never built whole in memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from starlette.responses import JSONResponse, Response, StreamingResponse

__all__ = ["GROUP", "json_list"]

R = TypeVar("R")

#: Elements encoded per chunk of the body.
GROUP = 500


def json_list(
    records: Sequence[R],
    encode: Callable[[R], dict[str, Any]],
    *,
    key: str | None = None,
    null_when_empty: bool = False,
) -> Response:
    """``records`` as a JSON array (under ``key`` in an object when given), encoded and sent
    ``GROUP`` elements at a time; ``null`` for no records when ``null_when_empty``.

    :param records: a snapshot of the records (the list itself, not their JSON).
    :param encode: the wire JSON of one record.
    """
    if not records and null_when_empty:
        return JSONResponse(None)
    head, tail = (f'{{"object":"list","{key}":['.encode(), b"]}") if key else (b"[", b"]")
    return StreamingResponse(_chunks(records, encode, head, tail), media_type="application/json")


async def _chunks(
    records: Sequence[R], encode: Callable[[R], dict[str, Any]], head: bytes, tail: bytes
) -> AsyncIterator[bytes]:
    yield head
    for start in range(0, len(records), GROUP):
        group = json.dumps([encode(r) for r in records[start : start + GROUP]], separators=(",", ":"))
        yield (b"," if start else b"") + group[1:-1].encode()
        # Let the loop run between groups: other requests get their turn, and a client that hung
        # up (the Test button reads one chunk) is noticed, which ends this body early.
        await asyncio.sleep(0)
    yield tail
