"""OpenAI's Files and Batches routes under ``/v1``, on the shared store.

Errors have OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}`` (see
:class:`~airflow_provider_batch.vendors.openai.server.app.OpenAIErrorShape` for the answers the
shared middleware gives: 401, injected faults, unknown routes).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_batch.testing.server.files import delete_file, upload_chunks, write_stream
from airflow_provider_batch.testing.server.records import FileRecord
from airflow_provider_batch.testing.server.store import Store
from airflow_provider_batch.vendors.openai.server.processing import start_openai_worker
from airflow_provider_batch.vendors.openai.server.records import OpenAIBatchRecord, batch_json, file_json

__all__ = ["ENDPOINTS", "FILE_PURPOSES", "openai_routes", "openai_error"]

ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
FILE_PURPOSES = ("batch", "fine-tune", "assistants", "vision", "user_data", "evals")
_DEFAULT_PAGE, _MAX_PAGE = 20, 100
_METADATA_PAIRS, _KEY_CHARS, _VALUE_CHARS = 16, 64, 512


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# -- files -------------------------------------------------------------------------------------


async def upload_file(request: Request) -> Response:
    """``POST /v1/files``: multipart ``file`` and ``purpose``; a batch input must be ``.jsonl``."""
    async with request.form(max_files=1) as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            return openai_error(400, "'file' is a required property", param="file")
        if purpose not in FILE_PURPOSES:
            return openai_error(400, f"purpose must be one of {', '.join(FILE_PURPOSES)}", param="purpose")
        name = upload.filename or "upload.jsonl"
        if purpose == "batch" and not name.endswith(".jsonl"):
            return openai_error(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
        store = _store(request)
        record = store.new_file(name, str(purpose), "jsonl")
        size, sha, lines = await write_stream(upload_chunks(upload), record.path)
    store.finish_upload(record, size, sha, lines)
    return JSONResponse(file_json(record))


def _known_file(request: Request) -> FileRecord | Response:
    record = _store(request).get_file(request.path_params["id"])
    if record is None or not record.uploaded:
        return openai_error(404, f"No such File object: {request.path_params['id']}", param="id")
    return record


async def retrieve_file(request: Request) -> Response:
    record = _known_file(request)
    return record if isinstance(record, Response) else JSONResponse(file_json(record))


async def file_content(request: Request) -> Response:
    """The bytes, streamed; like the live API, a ``batch`` input file cannot be downloaded."""
    from airflow_provider_batch.testing.server.files import file_content as shared_content

    record = _known_file(request)
    if isinstance(record, Response):
        return record
    if record.purpose == "batch":
        return openai_error(400, "Not allowed to download files of purpose: batch")
    return await shared_content(request)


async def remove_file(request: Request) -> Response:
    record = _known_file(request)
    return record if isinstance(record, Response) else await delete_file(request)


# -- batches -----------------------------------------------------------------------------------


def _metadata_problem(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > _METADATA_PAIRS:
        return f"metadata must be an object of at most {_METADATA_PAIRS} pairs"
    for key, value in metadata.items():
        if len(key) > _KEY_CHARS or not isinstance(value, str) or len(value) > _VALUE_CHARS:
            return (
                f"metadata keys are at most {_KEY_CHARS} characters, values strings of at most {_VALUE_CHARS}"
            )
    return None


def _create_problem(store: Store, body: Any) -> Response | None:
    if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
        return openai_error(400, "'input_file_id' is a required property", param="input_file_id")
    if body.get("endpoint") not in ENDPOINTS:
        return openai_error(400, f"endpoint must be one of {', '.join(ENDPOINTS)}", param="endpoint")
    if body.get("completion_window") != "24h":
        return openai_error(400, "completion_window must be '24h'", param="completion_window")
    problem = _metadata_problem(body.get("metadata"))
    if problem:
        return openai_error(400, problem, param="metadata")
    source = store.get_file(body["input_file_id"])
    if source is None or not source.uploaded:
        return openai_error(400, f"No such File object: {body['input_file_id']}", param="input_file_id")
    if source.purpose != "batch":
        message = f"File {source.id} has purpose {source.purpose!r}; a batch input needs purpose 'batch'"
        return openai_error(400, message, param="input_file_id")
    return None


def _new_batch(store: Store, body: dict[str, Any]) -> OpenAIBatchRecord:
    now = time.time()
    source = store.files[body["input_file_id"]]
    record = OpenAIBatchRecord(
        id="batch_" + uuid.uuid4().hex,
        user_id=store.user_id,
        input_file_id=source.id,
        file_size_bytes=source.bytes,
        input_sha256=source.sha256 or "",
        endpoint=body["endpoint"],
        created_at=now,
        deadline=now + store.config.completion_window_seconds,
        processing_seconds=store.config.processing_seconds,
        metadata=body.get("metadata"),
    )
    with store.lock:
        store.batches[record.id] = record
        store.batch_creates += 1
    return record


async def create_batch(request: Request) -> Response:
    """``POST /v1/batches``: 200 with the new batch in ``validating``."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return openai_error(400, "We could not parse the JSON body of your request.")
    store = _store(request)
    with store.lock:
        problem = _create_problem(store, body)
        record = None if problem else _new_batch(store, body)
    if record is None:
        return problem  # type: ignore[return-value]
    start_openai_worker(store, record)
    return JSONResponse(batch_json(record, time.time()))


def _known_batch(request: Request) -> OpenAIBatchRecord | Response:
    record = _store(request).get_batch(request.path_params["id"])
    if not isinstance(record, OpenAIBatchRecord):
        return openai_error(404, f"No batch found with id '{request.path_params['id']}'.", param="id")
    return record


async def retrieve_batch(request: Request) -> Response:
    record = _known_batch(request)
    return record if isinstance(record, Response) else JSONResponse(batch_json(record, time.time()))


async def cancel_batch(request: Request) -> Response:
    """A live batch goes ``cancelling``, then ``cancelled`` with the output it has; an ended one is 400."""
    record = _known_batch(request)
    if isinstance(record, Response):
        return record
    if not _store(request).request_cancel(record):
        status = batch_json(record, time.time())["status"]
        return openai_error(400, f"Cannot cancel a batch with status '{status}'.")
    return JSONResponse(batch_json(record, time.time()))


def _page_size(request: Request) -> int | None:
    raw = request.query_params.get("limit", str(_DEFAULT_PAGE))
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= _MAX_PAGE else None


async def list_batches(request: Request) -> Response:
    """``GET /v1/batches?limit=&after=``: newest first, ``has_more`` and ``last_id`` to page on."""
    limit = _page_size(request)
    if limit is None:
        return openai_error(400, f"limit must be an integer between 1 and {_MAX_PAGE}", param="limit")
    records = [b for b in _store(request).list_batches() if isinstance(b, OpenAIBatchRecord)]
    after = request.query_params.get("after")
    start = 0
    if after is not None:
        ids = [b.id for b in records]
        if after not in ids:
            return openai_error(400, f"No batch found with id '{after}'.", param="after")
        start = ids.index(after) + 1
    now = time.time()
    page = [batch_json(b, now) for b in records[start : start + limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(records),
        }
    )


def openai_routes() -> list[Route]:
    return [
        Route("/v1/files", upload_file, methods=["POST"]),
        Route("/v1/files/{id}", retrieve_file, methods=["GET"]),
        Route("/v1/files/{id}", remove_file, methods=["DELETE"]),
        Route("/v1/files/{id}/content", file_content, methods=["GET"]),
        Route("/v1/batches", create_batch, methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{id}", retrieve_batch, methods=["GET"]),
        Route("/v1/batches/{id}/cancel", cancel_batch, methods=["POST"]),
    ]
