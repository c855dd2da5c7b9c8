"""Anthropic's Message Batches routes under ``/v1/messages/batches``, on the shared store.

Errors have Anthropic's shape, ``{"type": "error", "error": {"type", "message"}}`` (see
:class:`~airflow_provider_batch.vendors.anthropic.server.app.AnthropicWire` for the answers the
shared middleware gives: 401, injected faults, unknown routes).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from airflow_provider_batch.testing.server.config import ServerConfig
from airflow_provider_batch.testing.server.store import Store
from airflow_provider_batch.vendors.anthropic.server.processing import start_anthropic_worker
from airflow_provider_batch.vendors.anthropic.server.records import AnthropicBatchRecord, batch_json

__all__ = [
    "CUSTOM_ID_PATTERN",
    "MAX_BATCH_BYTES",
    "MAX_REQUESTS",
    "anthropic_error",
    "anthropic_routes",
    "batch_limits",
]

#: Anthropic's rule for a ``custom_id``.
CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: Anthropic's limits per batch: requests, and bytes of the create request.
MAX_REQUESTS, MAX_BATCH_BYTES = 100_000, 256 * 1024**2
_DEFAULT_PAGE, _MAX_PAGE = 20, 1000
_ID_CHARS = string.ascii_letters + string.digits
_PREFIX = "/v1/messages/batches"


class Refused(Exception):
    """A create request Anthropic refuses as a whole: ``(status, error type, message)``."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def anthropic_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


def batch_limits(config: ServerConfig) -> tuple[int, int]:
    """``(most requests, most bytes)`` of one batch: Anthropic's, unless the server's ``max_lines`` or
    ``max_bytes`` were set away from their defaults (how a test meets a limit cheaply)."""
    fields = ServerConfig.model_fields
    lines = MAX_REQUESTS if config.max_lines == fields["max_lines"].default else config.max_lines
    size = MAX_BATCH_BYTES if config.max_bytes == fields["max_bytes"].default else config.max_bytes
    return lines, size


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _new_id() -> str:
    return "msgbatch_01" + "".join(secrets.choice(_ID_CHARS) for _ in range(22))


# -- create ------------------------------------------------------------------------------------


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (declared or received)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "request_too_large", f"Request exceeds the maximum size of {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "request_too_large", f"Request exceeds the maximum size of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _checked(raw: bytes, most: int) -> list[dict[str, Any]]:
    """The requests of a create body. :raises Refused: the body breaks a rule of the whole batch."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Refused(
            400, "invalid_request_error", "There was an issue with your request body: not valid JSON"
        ) from None
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list):
        raise Refused(400, "invalid_request_error", "requests: Field required")
    if not requests:
        raise Refused(400, "invalid_request_error", "requests: List should have at least 1 item, not 0")
    if len(requests) > most:
        message = f"requests: List should have at most {most} items, not {len(requests)}"
        raise Refused(400, "invalid_request_error", message)
    seen: set[str] = set()
    for index, item in enumerate(requests):
        _check_request(f"requests.{index}", item, seen)
    return requests


def _check_request(where: str, item: Any, seen: set[str]) -> None:
    """One entry of ``requests``: an object with a unique, well-formed ``custom_id`` and ``params``."""
    if not isinstance(item, dict):
        raise Refused(400, "invalid_request_error", f"{where}: Input should be a valid dictionary")
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str):
        raise Refused(400, "invalid_request_error", f"{where}.custom_id: Field required")
    if not CUSTOM_ID_PATTERN.match(custom_id):
        message = f"{where}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN.pattern}'"
        raise Refused(400, "invalid_request_error", message)
    if custom_id in seen:
        message = (
            f"{where}.custom_id: duplicate custom_id {custom_id!r}; each must be unique within the batch"
        )
        raise Refused(400, "invalid_request_error", message)
    seen.add(custom_id)
    if not isinstance(item.get("params"), dict):
        raise Refused(400, "invalid_request_error", f"{where}.params: Field required")


def _record(store: Store, raw: bytes) -> AnthropicBatchRecord:
    """Validate a create body, keep its requests in the store, and register the batch."""
    requests = _checked(raw, batch_limits(store.config)[0])
    batch_id = _new_id()
    source = store.new_file(f"{batch_id}_requests.jsonl", "batch-requests", "jsonl")
    size = 0
    with source.path.open("wb") as out:
        for item in requests:
            data = (json.dumps({"custom_id": item["custom_id"], "params": item["params"]}) + "\n").encode()
            out.write(data)
            size += len(data)
    sha = hashlib.sha256(raw).hexdigest()
    store.finish_upload(source, size, sha, len(requests), client_upload=False)
    model = requests[0]["params"].get("model")
    now = time.time()
    record = AnthropicBatchRecord(
        id=batch_id,
        user_id=store.user_id,
        input_file_id=source.id,
        file_size_bytes=len(raw),
        endpoint="/v1/messages",
        created_at=now,
        deadline=now + store.config.completion_window_seconds,
        processing_seconds=store.config.processing_seconds,
        input_sha256=sha,
        model_id=model if isinstance(model, str) else None,
        total=len(requests),
    )
    with store.lock:
        store.batches[record.id] = record
        store.batch_creates += 1
    return record


async def create_batch(request: Request) -> Response:
    """``POST /v1/messages/batches``: 200 with the new batch ``in_progress``."""
    store = _store(request)
    try:
        raw = await _body(request, batch_limits(store.config)[1])
        record = await run_in_threadpool(_record, store, raw)
    except Refused as exc:
        return anthropic_error(exc.status, exc.kind, exc.message)
    except ClientDisconnect:
        return Response(status_code=400)
    start_anthropic_worker(store, record)
    return JSONResponse(batch_json(record, time.time(), _root(request)))


# -- one batch ---------------------------------------------------------------------------------


def _known(request: Request) -> AnthropicBatchRecord | Response:
    batch_id = request.path_params["id"]
    record = _store(request).get_batch(batch_id)
    if not isinstance(record, AnthropicBatchRecord):
        return anthropic_error(404, "not_found_error", f"Message Batch {batch_id} not found.")
    return record


async def retrieve_batch(request: Request) -> Response:
    record = _known(request)
    if isinstance(record, Response):
        return record
    return JSONResponse(batch_json(record, time.time(), _root(request)))


async def cancel_batch(request: Request) -> Response:
    """A batch still processing goes ``canceling``, then ends with the results it has; cancelling a
    canceling batch changes nothing; an ended batch cannot be canceled (400)."""
    record = _known(request)
    if isinstance(record, Response):
        return record
    if record.ended():
        message = f"Message Batch {record.id} has already ended and cannot be canceled."
        return anthropic_error(400, "invalid_request_error", message)
    _store(request).request_cancel(record)  # a no-op once the clock has ended and results are due
    return JSONResponse(batch_json(record, time.time(), _root(request)))


async def delete_batch(request: Request) -> Response:
    """An ended batch and its results are deleted; one still processing must be canceled first."""
    record = _known(request)
    if isinstance(record, Response):
        return record
    if not record.ended():
        message = (
            f"Message Batch {record.id} is still processing; cancel it and let it end before deleting it."
        )
        return anthropic_error(400, "invalid_request_error", message)
    store = _store(request)
    with store.lock:
        store.batches.pop(record.id, None)
    for file_id in (record.results_file_id, record.input_file_id, record.output_file_id):
        if file_id:
            store.delete_file(file_id)
    return JSONResponse({"id": record.id, "type": "message_batch_deleted"})


async def batch_results(request: Request) -> Response:
    """The results JSONL of an ended batch, streamed with its length (so a truncated download shows)."""
    record = _known(request)
    if isinstance(record, Response):
        return record
    if not record.ended():
        message = f"Message Batch {record.id} has not ended; its results are available once processing ends."
        return anthropic_error(400, "invalid_request_error", message)
    results = _store(request).get_file(record.results_file_id or "")
    if record.archived(time.time()) or results is None:
        return anthropic_error(
            404, "not_found_error", f"The results of Message Batch {record.id} are no longer available."
        )
    return FileResponse(results.path, media_type="application/binary")


# -- list --------------------------------------------------------------------------------------


async def list_batches(request: Request) -> Response:
    """``GET /v1/messages/batches?limit=&after_id=&before_id=``: newest first, with ``has_more``,
    ``first_id`` and ``last_id``; ``after_id`` pages to older batches, ``before_id`` to newer."""
    raw = request.query_params.get("limit", str(_DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_PAGE:
        return anthropic_error(
            400, "invalid_request_error", f"limit: Input should be between 1 and {_MAX_PAGE}"
        )
    limit = int(raw)
    after, before = request.query_params.get("after_id"), request.query_params.get("before_id")
    if after and before:
        return anthropic_error(400, "invalid_request_error", "before_id and after_id cannot be set together")
    records = [b for b in _store(request).list_batches() if isinstance(b, AnthropicBatchRecord)]
    ids = [b.id for b in records]
    cursor = after or before
    if cursor and cursor not in ids:
        return anthropic_error(
            400, "invalid_request_error", f"{'after_id' if after else 'before_id'}: no Message Batch {cursor}"
        )
    if before:
        end = ids.index(before)
        start = max(end - limit, 0)
        more = start > 0
    else:
        start = ids.index(after) + 1 if after else 0
        end = start + limit
        more = end < len(records)
    now, root = time.time(), _root(request)
    page = [batch_json(b, now, root) for b in records[start:end]]
    return JSONResponse(
        {
            "data": page,
            "has_more": more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def anthropic_routes() -> list[Route]:
    return [
        Route(_PREFIX, create_batch, methods=["POST"]),
        Route(_PREFIX, list_batches, methods=["GET"]),
        Route(_PREFIX + "/{id}", retrieve_batch, methods=["GET"]),
        Route(_PREFIX + "/{id}", delete_batch, methods=["DELETE"]),
        Route(_PREFIX + "/{id}/cancel", cancel_batch, methods=["POST"]),
        Route(_PREFIX + "/{id}/results", batch_results, methods=["GET"]),
    ]
