"""Pure per-operation pieces: the :class:`RequestSpec` of each API call and the parser of its answer.

Both shells call these, so the wire details of every route live in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from airflow_provider_batch.client._core import RequestSpec, RetryMode, TimeoutKind, path_segment, request_id
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
    "UploadTarget",
    "batch_cancel",
    "batch_create",
    "batch_list",
    "batch_retrieve",
    "existing_file_id",
    "file_content",
    "file_delete",
    "file_list",
    "file_preprocess",
    "file_put",
    "file_retrieve",
    "file_type_for",
    "created_batch",
    "log_recovery",
    "parse_batch",
    "parse_batch_list",
    "parse_create",
    "parse_file",
    "parse_file_deleted",
    "parse_file_list",
    "parse_upload_target",
    "upload_init",
]

logger = logging.getLogger("airflow_provider_batch.client")

_FILE_TYPES = {".jsonl": "jsonl", ".parquet": "parquet", ".csv": "csv"}

M = TypeVar("M", bound=BaseModel)


# -- files -------------------------------------------------------------------------------------


def file_type_for(name: str) -> str:
    """The API's ``file_type`` for a file name; batch inputs are JSONL."""
    suffix = Path(name).suffix.lower()
    if suffix not in _FILE_TYPES:
        raise ValueError(f"unsupported file extension {suffix!r}: expected one of {sorted(_FILE_TYPES)}")
    return _FILE_TYPES[suffix]






# Why the redirect flow (POST /files -> PUT to a presigned URL -> preprocess) rather than the
# one-shot multipart POST /files/upload: it is the flow both official Python SDKs use, so it is
# the best-trodden path on the live API; the bytes go straight to object storage instead of
# through the API servers; and the SHA-256 checksum lets the server recognise content it already
# has (409 with the existing file id), so re-running an upload never stores a second copy.
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


def created_batch(jobs: Iterable[BatchJob], input_file_id: str, known: Collection[str]) -> BatchJob | None:
    """The batch a create with an ambiguous outcome made on ``input_file_id``, if it made one.

    Candidates are the batches on that file other than ``known`` (those the caller already has).
    No time window is involved: several candidates are refused rather than guessed between.

    :raises AmbiguousCreateError: more than one candidate.
    """
    candidates = [job for job in jobs if job.input_file_id == input_file_id and job.id not in known]
    if len(candidates) > 1:
        raise AmbiguousCreateError(input_file_id, [job.id for job in candidates])
    return candidates[0] if candidates else None


def log_recovery(input_file_id: str, found: BatchJob | None) -> None:
    """Say what the look-up after an ambiguous create failure found."""
    if found is not None:
        logger.warning(
            "POST /batches failed ambiguously, but batch %s for input file %s exists; "
            "using it instead of sending the create again",
            found.id,
            input_file_id,
        )
    else:
        logger.warning(
            "POST /batches failed ambiguously; no batch for input file %s exists yet", input_file_id
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# -- parsing -----------------------------------------------------------------------------------


def _json(spec: RequestSpec, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise _invalid(spec, response, f"not JSON ({type(exc).__name__})") from None


def _invalid(spec: RequestSpec, response: httpx.Response, detail: str) -> ResponseValidationError:
    return ResponseValidationError(spec.method, spec.where, detail, request_id=request_id(response.headers))


def _model(spec: RequestSpec, response: httpx.Response, data: Any, parse: Callable[[Any], M]) -> M:
    try:
        return parse(data)
    except ValidationError as exc:
        raise _invalid(spec, response, f"{exc.error_count()} validation error(s)") from None


def _items(spec: RequestSpec, response: httpx.Response, data: Any) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise _invalid(spec, response, f"expected a list, got {type(data).__name__}")
    return data


def _batch(data: Any) -> BatchJob:
    if not isinstance(data, dict):
        return BatchJob.model_validate(data)
    return BatchJob.from_wire(data)


def parse_batch(spec: RequestSpec, response: httpx.Response) -> BatchJob:
    return _model(spec, response, _json(spec, response), _batch)


def parse_batch_list(spec: RequestSpec, response: httpx.Response) -> list[BatchJob]:
    """A bare array, or ``null`` for an account without batches."""
    items = _items(spec, response, _json(spec, response))
    return [_model(spec, response, item, _batch) for item in items]


def parse_create(spec: RequestSpec, response: httpx.Response) -> BatchCreateResponse:
    """The ``{job, warning}`` wrapper; a null job raises, a warning is logged."""
    data = _json(spec, response)
    if not isinstance(data, dict):
        raise _invalid(spec, response, f"expected an object, got {type(data).__name__}")
    warning = data.get("warning")
    if data.get("job") is None:
        body = spec.json_body or {}
        raise BatchCreateRejectedError(
            str(body.get("input_file_id")), warning, request_id=request_id(response.headers)
        )
    job = _model(spec, response, data["job"], _batch)
    if warning:
        logger.warning("Batch %s was created with a warning: %s", job.id, warning)
    return BatchCreateResponse(job=job, warning=warning)


def parse_file(spec: RequestSpec, response: httpx.Response) -> FileObject:
    return _model(spec, response, _json(spec, response), FileObject.model_validate)


def parse_file_list(spec: RequestSpec, response: httpx.Response) -> list[FileObject]:
    """``{"data": [...]}`` (a bare array is tolerated)."""
    data = _json(spec, response)
    if isinstance(data, dict):
        data = data.get("data")
    items = _items(spec, response, data)
    return [_model(spec, response, item, FileObject.model_validate) for item in items]


def parse_file_deleted(spec: RequestSpec, response: httpx.Response) -> FileDeleted:
    return _model(spec, response, _json(spec, response), FileDeleted.model_validate)
