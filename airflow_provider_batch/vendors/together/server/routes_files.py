"""Together's Files API routes: the 302 upload flow, one-shot and multipart uploads, metadata.

Content, delete and the streamed write are the local server's shared file I/O
(:mod:`airflow_provider_batch.testing.server.files`)."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_batch.testing.server.files import (
    delete_file,
    file_content,
    known_file,
    readable_file,
    upload_chunks,
    write_stream,
)
from airflow_provider_batch.testing.server.files import (
    store_of as _store,
)
from airflow_provider_batch.testing.server.lists import json_list
from airflow_provider_batch.testing.server.records import FileRecord
from airflow_provider_batch.testing.server.routing import api_error

__all__ = ["FILE_PURPOSES", "FILE_TYPES", "file_routes"]

#: The spec's ``FilePurpose`` (``openapi.yaml`` 2.0.0), the purposes ``POST /v1/files/upload`` accepts.
FILE_PURPOSES: tuple[str, ...] = (
    "fine-tune",
    "eval",
    "eval-sample",
    "eval-output",
    "eval-summary",
    "batch-generated",
    "batch-api",
)
#: The spec's ``FileType``, the file types ``POST /v1/files/upload`` accepts.
FILE_TYPES: tuple[str, ...] = ("csv", "jsonl", "parquet")


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _fields(request: Request) -> dict[str, str]:
    fields = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form() as form:
            fields.update({k: v for k, v in form.multi_items() if isinstance(v, str)})
    return fields


async def create_file(request: Request) -> Response:
    """``POST /v1/files``: step 1 of the redirect upload."""
    fields = await _fields(request)
    purpose, file_name = fields.get("purpose"), fields.get("file_name") or fields.get("filename")
    if not purpose or not file_name:
        return api_error(request.url.path, 400, "purpose and file_name are required", code="missing_field")
    store = _store(request)
    existing = store.by_checksum(fields["checksum"]) if fields.get("checksum") else None
    if existing is not None:
        return JSONResponse({"file_id": existing.id}, status_code=409, headers={"x-should-retry": "false"})
    record = store.new_file(file_name, purpose, fields.get("file_type") or "jsonl")
    location = f"{_root(request)}/_uploads/{record.id}?token={record.upload_token}"
    return Response(status_code=302, headers={"Location": location, "X-Together-File-Id": record.id})


def _upload_target(request: Request) -> FileRecord | Response:
    record = _store(request).get_file(request.path_params["id"])
    if record is None:
        return Response("NoSuchUpload", status_code=404, media_type="text/plain")
    if not hmac.compare_digest(request.query_params.get("token", ""), record.upload_token):
        return Response("SignatureDoesNotMatch", status_code=403, media_type="text/plain")
    return record


async def put_upload(request: Request) -> Response:
    """The presigned ``PUT`` target: no auth, any content type, exactly 200."""
    record = _upload_target(request)
    if isinstance(record, Response):
        return record
    size, sha, lines = await write_stream(request.stream(), record.path)
    _store(request).finish_upload(record, size, sha, lines)
    return Response(status_code=200, headers={"ETag": f'"{sha[:32]}"'})


async def put_part(request: Request) -> Response:
    """A multipart-upload part; answers with its ``ETag``."""
    record = _upload_target(request)
    if isinstance(record, Response):
        return record
    number = int(request.path_params["part"])
    path = record.path.with_name(f"{record.id}.part{number}")
    _, sha, _ = await write_stream(request.stream(), path)
    record.parts[number] = (path, sha[:32])
    return Response(status_code=200, headers={"ETag": f'"{sha[:32]}"'})


async def preprocess(request: Request) -> Response:
    """``POST /v1/files/{id}/preprocess``: idempotent; any (or no) body is ignored."""
    record = readable_file(request)
    return record if isinstance(record, Response) else JSONResponse(record.to_json())


def _upload_form_problem(form: FormData) -> tuple[str, str, str] | None:
    """``(param, code, message)`` of the first field of a one-shot upload that the spec refuses with 400
    (``openapi.yaml`` 2.0.0, ``POST /files/upload``: ``file``, ``file_name`` and ``purpose`` are
    required, ``purpose`` is a ``FilePurpose``, ``file_type`` a ``FileType``), else ``None``."""
    if not isinstance(form.get("file"), UploadFile):
        return "file", "missing_field", "file is required"
    for name in ("file_name", "purpose"):
        value = form.get(name)
        if not isinstance(value, str) or not value:
            return name, "missing_field", f"{name} is required"
    purpose, file_type = form.get("purpose"), form.get("file_type", "jsonl")
    if purpose not in FILE_PURPOSES:
        return "purpose", "invalid_value", f"purpose {purpose!r} is not one of {', '.join(FILE_PURPOSES)}"
    if file_type not in FILE_TYPES:
        return "file_type", "invalid_value", f"file_type {file_type!r} is not one of {', '.join(FILE_TYPES)}"
    return None


async def upload_one_shot(request: Request) -> Response:
    """``POST /v1/files/upload``: multipart with ``file``, ``file_name``, ``purpose`` and an optional
    ``file_type`` (``jsonl`` when absent); a missing or out-of-spec field gets 400 and an error object."""
    async with request.form(max_files=1) as form:
        problem = _upload_form_problem(form)
        if problem is not None:
            param, code, message = problem
            return api_error(request.url.path, 400, message, code=code, param=param)
        upload = cast(UploadFile, form["file"])
        store = _store(request)
        file_type = str(form.get("file_type", "jsonl"))
        record = store.new_file(str(form["file_name"]), str(form["purpose"]), file_type)
        size, sha, lines = await write_stream(upload_chunks(upload), record.path)
    store.finish_upload(record, size, sha, lines)
    return JSONResponse(record.to_json())


async def list_files(request: Request) -> Response:
    """``{"object": "list", "data": [...]}``, oldest first, streamed."""
    return json_list(_store(request).list_files(), FileRecord.to_json, key="data")


async def retrieve_file(request: Request) -> Response:
    record = known_file(request)
    return record if isinstance(record, Response) else JSONResponse(record.to_json())


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def multipart_initiate(request: Request) -> Response:
    body = await _json_body(request)
    name, purpose = body.get("file_name") or body.get("filename"), body.get("purpose")
    parts = body.get("num_parts")
    if not isinstance(name, str) or not isinstance(purpose, str) or not isinstance(parts, int) or parts < 1:
        return api_error(request.url.path, 400, "file_name, purpose and num_parts are required")
    record = _store(request).new_file(name, purpose, str(body.get("file_type") or "jsonl"))
    record.upload_id = "upload-" + _store(request).new_uuid()
    base = f"{_root(request)}/_uploads/{record.id}/parts"
    return JSONResponse(
        {
            "upload_id": record.upload_id,
            "file_id": record.id,
            "parts": [
                {"PartNumber": n, "URL": f"{base}/{n}?token={record.upload_token}", "Headers": {}}
                for n in range(1, parts + 1)
            ],
        }
    )


def _multipart_target(request: Request, body: dict[str, Any]) -> FileRecord | Response:
    record = _store(request).get_file(str(body.get("file_id")))
    if record is None or record.upload_id is None or record.upload_id != body.get("upload_id"):
        return api_error(request.url.path, 404, "no such multipart upload", code="not_found")
    return record


async def _concatenate(paths: list[Path]) -> AsyncIterator[bytes]:
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk


async def multipart_complete(request: Request) -> Response:
    body = await _json_body(request)
    record = _multipart_target(request, body)
    if isinstance(record, Response):
        return record
    listed = sorted(
        (int(p.get("part_number", p.get("PartNumber", 0))), str(p.get("etag", p.get("ETag", ""))))
        for p in body.get("parts") or []
    )
    for number, etag in listed:
        if number not in record.parts or record.parts[number][1] != etag.strip('"'):
            return api_error(request.url.path, 400, f"part {number} is missing or its etag does not match")
    if not listed:
        return api_error(request.url.path, 400, "parts are required")
    paths = [record.parts[number][0] for number, _ in listed]
    size, sha, lines = await write_stream(_concatenate(paths), record.path)
    for path in paths:
        path.unlink(missing_ok=True)
    record.parts.clear()
    _store(request).finish_upload(record, size, sha, lines)
    return JSONResponse(record.to_json())


async def multipart_abort(request: Request) -> Response:
    body = await _json_body(request)
    record = _multipart_target(request, body)
    if isinstance(record, Response):
        return record
    _store(request).delete_file(record.id)
    return JSONResponse({"success": True})


def file_routes() -> list[Route]:
    """The Files API routes plus the upload targets (literal paths before ``{id}``)."""
    return [
        Route("/v1/files", create_file, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/upload", upload_one_shot, methods=["POST"]),
        Route("/v1/files/multipart/initiate", multipart_initiate, methods=["POST"]),
        Route("/v1/files/multipart/complete", multipart_complete, methods=["POST"]),
        Route("/v1/files/multipart/abort", multipart_abort, methods=["POST"]),
        Route("/v1/files/{id}", retrieve_file, methods=["GET"]),
        Route("/v1/files/{id}", delete_file, methods=["DELETE"]),
        Route("/v1/files/{id}/content", file_content, methods=["GET"]),
        Route("/v1/files/{id}/preprocess", preprocess, methods=["POST"]),
        Route("/_uploads/{id}", put_upload, methods=["PUT"]),
        Route("/_uploads/{id}/parts/{part:int}", put_part, methods=["PUT"]),
    ]
