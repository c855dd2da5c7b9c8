"""Pure per-operation pieces of the Anthropic client: the :class:`RequestSpec` of each call, the
parser of its answer, and the request body of a create. Nothing here does network I/O; both
shells call these, and the shared ``client._core`` decides retries.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec
from pydantic import BaseModel

from airflow_provider_batch.client._core import RequestSpec, RetryMode, TimeoutKind, path_segment
from airflow_provider_batch.client._parse import parse_json, parse_model
from airflow_provider_batch.vendors.anthropic.client.models import BatchPage, Deleted, MessageBatch

__all__ = [
    "MAX_PAGE",
    "batch_cancel",
    "batch_create",
    "batch_delete",
    "batch_list",
    "batch_results",
    "batch_retrieve",
    "parse_batch",
    "parse_deleted",
    "parse_page",
    "write_create_body",
]

#: Largest ``limit`` of one list page the API accepts.
MAX_PAGE = 1000
_ROOT = "/messages/batches"

M = TypeVar("M", bound=BaseModel)


class _Line(msgspec.Struct):
    custom_id: str
    body: msgspec.Raw = msgspec.Raw(b"null")
    params: msgspec.Raw = msgspec.Raw(b"null")


_decode_line = msgspec.json.Decoder(_Line).decode
_encode = msgspec.json.Encoder().encode
_NULL = msgspec.Raw(b"null")
#: Requests written to the body per ``write`` call.
_WRITE_EVERY = 1024


def write_create_body(source: Path, dest: Path) -> int:
    """Write the body of ``POST /messages/batches`` for the requests of ``source`` to ``dest``.

    ``source`` holds one request a line, ``{custom_id, body}`` (or Anthropic's own
    ``{custom_id, params}``); ``dest`` gets ``{"requests": [{custom_id, params}, ...]}``, written
    ``_WRITE_EVERY`` requests at a time (memory stays flat). The ``params`` are the line's own
    bytes, never re-encoded. Returns the number of requests.
    """
    count = 0
    pending: list[bytes] = [b'{"requests":[']
    temp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    with source.open("rb") as src, temp.open("wb") as out:
        for raw in src:
            if not raw.strip():
                continue
            line = _decode_line(raw)
            params = line.params if line.params != _NULL else line.body
            cid = _encode(line.custom_id)
            pending.append((b',\n{"custom_id":' if count else b'\n{"custom_id":') + cid + b',"params":')
            pending.append(params)
            pending.append(b"}")
            count += 1
            if count % _WRITE_EVERY == 0:
                out.write(b"".join(pending))
                pending.clear()
        pending.append(b"\n]}")
        out.write(b"".join(pending))
    os.replace(temp, dest)
    return count


def batch_create(body: Callable[[], object], size: int) -> RequestSpec:
    """``POST /messages/batches`` with a staged body; a billable create, never blindly re-sent."""
    headers = {"Content-Type": "application/json", "Content-Length": str(size)}
    return RequestSpec(
        "POST", _ROOT, body=body, headers=headers, retry=RetryMode.CREATE, timeout=TimeoutKind.TRANSFER
    )


def batch_retrieve(batch_id: str) -> RequestSpec:
    return RequestSpec("GET", f"{_ROOT}/{path_segment(batch_id)}")


def batch_cancel(batch_id: str) -> RequestSpec:
    return RequestSpec("POST", f"{_ROOT}/{path_segment(batch_id)}/cancel")


def batch_delete(batch_id: str) -> RequestSpec:
    return RequestSpec("DELETE", f"{_ROOT}/{path_segment(batch_id)}")


def batch_results(batch_id: str) -> RequestSpec:
    """``GET .../results``: the JSONL of an ended batch (the path its ``results_url`` names, read
    below the connection's base URL so the key goes only where the connection points)."""
    return RequestSpec(
        "GET",
        f"{_ROOT}/{path_segment(batch_id)}/results",
        headers={"Accept": "application/binary"},
        timeout=TimeoutKind.TRANSFER,
    )


def batch_list(limit: int = MAX_PAGE, after_id: str | None = None) -> RequestSpec:
    """One page, newest first: ``limit`` batches older than the batch ``after_id``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    params = {"limit": str(limit)}
    if after_id is not None:
        params["after_id"] = after_id
    return RequestSpec("GET", _ROOT, params=params)


def next_after(page: BatchPage) -> str | None:
    """The ``after_id`` of the page after ``page``, or ``None`` when it is the last."""
    if not page.has_more or not page.data:
        return None
    return page.last_id or page.data[-1].id


def _parser(model: type[M]) -> Callable[[RequestSpec, httpx.Response], M]:
    def parse(spec: RequestSpec, response: httpx.Response) -> M:
        return parse_model(spec, response, parse_json(spec, response), model.model_validate)

    return parse


parse_batch = _parser(MessageBatch)
parse_page = _parser(BatchPage)
parse_deleted = _parser(Deleted)
