"""File I/O every vendor's emulation shares: the streamed, atomic write of an upload, the file of a
request's path, and the content and delete routes (the same on every API the server speaks)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from airflow_provider_batch.testing.server.records import FileRecord
from airflow_provider_batch.testing.server.routing import api_error
from airflow_provider_batch.testing.server.store import Store

__all__ = [
    "delete_file",
    "file_content",
    "known_file",
    "readable_file",
    "store_of",
    "upload_chunks",
    "write_stream",
]

_CHUNK = 1 << 16
_DOWNLOAD_CHUNK = 1 << 18


def store_of(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def write_stream(chunks: AsyncIterator[bytes], path: Path) -> tuple[int, str, int]:
    """Write ``chunks`` to ``path`` as they come; return ``(size, sha256 hex, line count)``.

    Like an object-store PUT, the write is atomic: the bytes go to a temporary file that replaces
    ``path`` only once the whole body has arrived, so an interrupted or stalled upload that finishes
    after a successful retry can never truncate the stored file.
    """
    digest, size, newlines, last = hashlib.sha256(), 0, 0, b""
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with partial.open("wb") as handle:
            async for chunk in chunks:
                if not chunk:
                    continue
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return size, digest.hexdigest(), newlines + (1 if size and last != b"\n" else 0)


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


def known_file(request: Request) -> FileRecord | Response:
    record = store_of(request).get_file(request.path_params["id"])
    if record is None:
        return api_error(
            request.url.path, 404, f"file {request.path_params['id']} not found", code="not_found"
        )
    return record


def readable_file(request: Request) -> FileRecord | Response:
    """The file of the path, if its bytes have arrived."""
    record = known_file(request)
    if isinstance(record, FileRecord) and not record.uploaded:
        return api_error(request.url.path, 400, f"file {record.id} has no content yet", code="not_uploaded")
    return record


async def file_content(request: Request) -> Response:
    """Stream the bytes from disk, with ``Content-Length``."""
    record = readable_file(request)
    if isinstance(record, Response):
        return record
    try:
        # Opened here, so a delete or reset racing this response cannot pull the file away.
        handle = record.path.open("rb")
    except FileNotFoundError:
        return api_error(request.url.path, 404, f"file {record.id} not found", code="not_found")
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        _read_chunks(handle), media_type="application/octet-stream", headers={"Content-Length": str(size)}
    )


async def _read_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := handle.read(_DOWNLOAD_CHUNK):
            yield chunk
    finally:
        handle.close()


async def delete_file(request: Request) -> Response:
    record = known_file(request)
    if isinstance(record, Response):
        return record
    store_of(request).delete_file(record.id)
    return JSONResponse({"id": record.id, "object": "file", "deleted": True})
