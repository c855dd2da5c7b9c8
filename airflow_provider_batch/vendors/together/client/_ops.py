"""Together's routes, pure: the :class:`RequestSpec` of each API call and the parser of its answer.

The sync and async clients both call these, so the wire details of every Together route live in
one place; the send loops are the shared transports (:mod:`airflow_provider_batch.client._transport`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from airflow_provider_batch.client._core import RequestSpec, RetryMode, TimeoutKind, path_segment, request_id
from airflow_provider_batch.client._listing import ListShape
from airflow_provider_batch.client._parse import FileCleanup, invalid_body, parse_json, parse_model
from airflow_provider_batch.client.errors import (
    AmbiguousCreateError,
    APIStatusError,
    BatchCreateRejectedError,
    ResponseValidationError,
)
from airflow_provider_batch.client.models import (
    CHAT_COMPLETIONS,
    BatchCreateResponse,
    BatchJob,
    FileDeleted,
    FileObject,
)

__all__ = [
    "BATCH_LIST",
    "FILE_LIST",
    "FileCleanup",
    "UploadTarget",
    "batch_cancel",
    "batch_create",
    "batch_list",
    "batch_retrieve",
    "batches_on_file",
    "created_batch",
    "existing_file_id",
    "file_content",
    "file_delete",
    "file_list",
    "file_preprocess",
    "file_put",
    "file_retrieve",
    "file_type_for",
    "parse_batch",
    "parse_create",
    "parse_file",
    "parse_file_deleted",
    "parse_upload_target",
    "upload_init",
]

logger = logging.getLogger("airflow_provider_batch.client")

_FILE_TYPES = {".jsonl": "jsonl", ".parquet": "parquet", ".csv": "csv"}

# -- files -------------------------------------------------------------------------------------


def file_type_for(name: str) -> str:
    """The API's ``file_type`` for a file name; batch inputs are JSONL."""
    suffix = Path(name).suffix.lower()
    if suffix not in _FILE_TYPES:
        raise ValueError(f"unsupported file extension {suffix!r}: expected one of {sorted(_FILE_TYPES)}")
    return _FILE_TYPES[suffix]


# Why the redirect flow (POST /files -> PUT to a presigned URL -> preprocess) rather than the
# one-shot multipart POST /files/upload: it is the flow both official Python SDKs use, so it is
# the best-trodden path on the live API, and the bytes go straight to object storage instead of
# through the API servers. The file id is assigned at the POST, before any byte is sent, so only
# the optional SHA-256 ``checksum`` lets the server recognise content it already holds (409 with
# the existing file id); without it every upload is a new file.
def upload_init(name: str, purpose: str, checksum: str | None = None) -> RequestSpec:
    fields = {"purpose": purpose, "file_name": name, "file_type": file_type_for(name)}
    if checksum is not None:
        fields["checksum"] = checksum
    # 409 answers "already uploaded": it is the dedupe signal, not a glitch to retry.
    return RequestSpec("POST", "/files", form=fields, accept_redirect=True, no_retry=frozenset({409}))


class UploadTarget(BaseModel):
    file_id: str
    location: str


def parse_upload_target(spec: RequestSpec, response: httpx.Response) -> UploadTarget:
    """The presigned PUT URL and the new file id from the answer to :func:`upload_init`."""
    location = response.headers.get("location", "")
    file_id = response.headers.get("x-together-file-id", "")
    if not file_id or not location.startswith(("http://", "https://")):
        raise ResponseValidationError(
            spec.method,
            spec.where,
            f"HTTP {response.status_code} without an absolute Location and an X-Together-File-Id",
            request_id=request_id(response.headers),
        )
    return UploadTarget(file_id=file_id, location=location)


def existing_file_id(error: APIStatusError) -> str | None:
    """The id the server names in a 409 for content it already holds."""
    body = error.body if isinstance(error.body, dict) else {}
    candidates = [body, body.get("error") if isinstance(body.get("error"), dict) else {}]
    for where in candidates:
        value = where.get("file_id") if isinstance(where, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def file_put(location: str, size: int, body: Callable[[], Iterable[bytes] | Any]) -> RequestSpec:
    """The PUT of the bytes: explicit Content-Length, no Authorization (see ``RequestSpec.url``)."""
    return RequestSpec(
        "PUT",
        "",
        url=location,
        body=body,
        headers={"Content-Length": str(size)},
        timeout=TimeoutKind.TRANSFER,
    )


def file_preprocess(file_id: str) -> RequestSpec:
    return RequestSpec("POST", f"/files/{path_segment(file_id)}/preprocess")


def file_retrieve(file_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/files/{path_segment(file_id)}")


def file_list() -> RequestSpec:
    return RequestSpec("GET", "/files")


def file_delete(file_id: str) -> RequestSpec:
    return RequestSpec("DELETE", f"/files/{path_segment(file_id)}")


def file_content(file_id: str) -> RequestSpec:
    return RequestSpec(
        "GET",
        f"/files/{path_segment(file_id)}/content",
        headers={"Accept": "application/binary"},
        timeout=TimeoutKind.TRANSFER,
    )


# -- batches -----------------------------------------------------------------------------------


def batch_create(
    input_file_id: str,
    endpoint: str = CHAT_COMPLETIONS,
    *,
    completion_window: str | None = None,
    priority: int | None = None,
    model_id: str | None = None,
) -> RequestSpec:
    body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": endpoint}
    optional = {"completion_window": completion_window, "priority": priority, "model_id": model_id}
    body.update({key: value for key, value in optional.items() if value is not None})
    return RequestSpec("POST", "/batches", json_body=body, retry=RetryMode.CREATE)


def batch_retrieve(batch_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/batches/{path_segment(batch_id)}")


def batch_list() -> RequestSpec:
    return RequestSpec("GET", "/batches")


def batch_cancel(batch_id: str) -> RequestSpec:
    return RequestSpec("POST", f"/batches/{path_segment(batch_id)}/cancel")


def batches_on_file(input_file_id: str) -> ListShape[BatchJob]:
    """List elements to keep: the batches on one input file (others are skipped before any model
    is built; an element that is not an object is kept, so it fails validation loudly)."""

    def keep(data: object) -> bool:
        return not isinstance(data, dict) or data.get("input_file_id") == input_file_id

    return ListShape(_batch, keep)


def created_batch(jobs: Iterable[BatchJob], input_file_id: str, known: Collection[str]) -> BatchJob | None:
    """The batch a create that failed ambiguously made, from the batches on its input file.

    Batches in ``known`` are the caller's already; of the rest on ``input_file_id``, none means
    the create did not happen, one is the one it made, and more than one is a question the client
    will not guess at. No time window is involved.

    :raises AmbiguousCreateError: more than one batch on the file is not in ``known``.
    """
    fresh = [job for job in jobs if job.input_file_id == input_file_id and job.id not in known]
    if len(fresh) > 1:
        raise AmbiguousCreateError(input_file_id, tuple(job.id for job in fresh))
    if fresh:
        logger.warning(
            "POST /batches failed ambiguously, but batch %s on input file %s exists and is not among "
            "the %d known; using it instead of sending the create again",
            fresh[0].id,
            input_file_id,
            len(known),
        )
        return fresh[0]
    logger.warning("POST /batches failed ambiguously; no new batch on input file %s exists", input_file_id)
    return None


# -- parsing -----------------------------------------------------------------------------------


def _batch(data: Any) -> BatchJob:
    if not isinstance(data, dict):
        return BatchJob.model_validate(data)
    return BatchJob.from_wire(data)


def parse_batch(spec: RequestSpec, response: httpx.Response) -> BatchJob:
    return parse_model(spec, response, parse_json(spec, response), _batch)


def parse_create(spec: RequestSpec, response: httpx.Response) -> BatchCreateResponse:
    """The ``{job, warning}`` wrapper; a null job raises, a warning is logged."""
    data = parse_json(spec, response)
    if not isinstance(data, dict):
        raise invalid_body(spec, response, f"expected an object, got {type(data).__name__}")
    warning = data.get("warning")
    if data.get("job") is None:
        body = spec.json_body or {}
        raise BatchCreateRejectedError(
            str(body.get("input_file_id")), warning, request_id=request_id(response.headers)
        )
    job = parse_model(spec, response, data["job"], _batch)
    if warning:
        logger.warning("Batch %s was created with a warning: %s", job.id, warning)
    return BatchCreateResponse(job=job, warning=warning)


def parse_file(spec: RequestSpec, response: httpx.Response) -> FileObject:
    return parse_model(spec, response, parse_json(spec, response), FileObject.model_validate)


def parse_file_deleted(spec: RequestSpec, response: httpx.Response) -> FileDeleted:
    return parse_model(spec, response, parse_json(spec, response), FileDeleted.model_validate)


FILE_LIST: ListShape[FileObject] = ListShape(FileObject.model_validate)
BATCH_LIST: ListShape[BatchJob] = ListShape(_batch)
