"""Batch API routes."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_batch.testing.server.lists import json_list
from airflow_provider_batch.testing.server.processing import start_batch_worker
from airflow_provider_batch.testing.server.records import BatchRecord
from airflow_provider_batch.testing.server.routing import api_error
from airflow_provider_batch.testing.server.store import BATCH_ENDPOINTS, Store

__all__ = ["batch_routes"]


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _wire(store: Store, record: BatchRecord, now: float) -> dict[str, Any]:
    """The batch's wire JSON, its status renamed when ``status_aliases`` says so."""
    job = record.to_json(now)
    job["status"] = store.config.status_aliases.get(job["status"], job["status"])
    return job


def _known(request: Request) -> BatchRecord | Response:
    record = _store(request).get_batch(request.path_params["id"])
    if record is None:
        return api_error(request.url.path, 404, f"batch {request.path_params['id']} not found")
    return record


async def create_batch(request: Request) -> Response:
    """``POST /v1/batches``: 201 ``{job, warning}``, or 200 with a null job for an unusable file."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return api_error(request.url.path, 400, "request body is not valid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
        return api_error(request.url.path, 400, "input_file_id is required")
    endpoint = body.get("endpoint")
    if endpoint not in BATCH_ENDPOINTS:
        return api_error(request.url.path, 400, f"endpoint must be one of {', '.join(BATCH_ENDPOINTS)}")
    store = _store(request)
    reason = store.unusable_reason(body["input_file_id"])
    if reason is not None:
        return JSONResponse({"job": None, "warning": f"validation failed: {reason}"}, status_code=200)
    record = store.new_batch(body["input_file_id"], endpoint)
    start_batch_worker(store, record)
    return JSONResponse({"job": _wire(store, record, time.time()), "warning": None}, status_code=201)


async def list_batches(request: Request) -> Response:
    """A bare array, newest first, streamed; ``null`` when empty (``list_null_when_empty``)."""
    store = _store(request)
    now = time.time()
    empty_null = store.config.list_null_when_empty
    return json_list(store.list_batches(), lambda b: _wire(store, b, now), null_when_empty=empty_null)


async def retrieve_batch(request: Request) -> Response:
    record = _known(request)
    if isinstance(record, Response):
        return record
    return JSONResponse(_wire(_store(request), record, time.time()))


async def cancel_batch(request: Request) -> Response:
    """Move a live batch to ``CANCELING``; a terminal one gives 400."""
    record = _known(request)
    if isinstance(record, Response):
        return record
    if not _store(request).request_cancel(record):
        return api_error(
            request.url.path, 400, f"batch {record.id} is {record.status} and cannot be cancelled"
        )
    return JSONResponse(_wire(_store(request), record, time.time()))


def batch_routes() -> list[Route]:
    return [
        Route("/v1/batches", create_batch, methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{id}", retrieve_batch, methods=["GET"]),
        Route("/v1/batches/{id}/cancel", cancel_batch, methods=["POST"]),
    ]
