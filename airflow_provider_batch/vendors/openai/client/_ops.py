"""Pure per-operation pieces of the OpenAI client: the :class:`RequestSpec` of each call, the parser
of its answer, the multipart framing of an upload, and the choice after an ambiguous create.

Nothing here does I/O; both shells call these, and the shared ``client._core`` decides retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from airflow_provider_batch.client._core import RequestSpec, RetryMode, TimeoutKind, path_segment
from airflow_provider_batch.client._parse import parse_json, parse_model
from airflow_provider_batch.vendors.openai.client.errors import AmbiguousMetadataCreateError
from airflow_provider_batch.vendors.openai.client.models import (
    COMPLETION_WINDOW,
    BatchPage,
    FileDeleted,
    OpenAIBatch,
    OpenAIFile,
)

__all__ = [
    "MAX_PAGE",
    "Multipart",
    "batch_cancel",
    "batch_create",
    "batch_list",
    "batch_retrieve",
    "created_batch",
    "file_content",
    "file_delete",
    "file_retrieve",
    "file_upload",
    "identity_value",
    "matches",
    "next_after",
    "older_than",
    "parse_batch",
    "parse_file",
    "parse_file_deleted",
    "parse_page",
]

logger = logging.getLogger("airflow_provider_batch.vendors.openai.client")

#: Largest ``limit`` of one list page the API accepts.
MAX_PAGE = 100

M = TypeVar("M", bound=BaseModel)


# -- files -------------------------------------------------------------------------------------


class Multipart:
    """The ``multipart/form-data`` frame of an upload: ``purpose``, then the file's bytes.

    The body is ``head + <file bytes> + tail``, so the file is streamed (never read whole) and the
    Content-Length is known before the first byte is sent.

    :param boundary: the part boundary (the shells draw a random one).
    :param filename: the name the file is stored under.
    :param purpose: ``batch`` for batch input.
    """

    def __init__(self, boundary: str, filename: str, purpose: str) -> None:
        safe = filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()

    def length(self, size: int) -> int:
        """The body's length for a file of ``size`` bytes."""
        return len(self.head) + size + len(self.tail)


def file_upload(frame: Multipart, size: int, body: Callable[[], Any]) -> RequestSpec:
    """``POST /files``. Re-sending it after a lost answer can at worst store a second copy of the
    file (storage, not spend), so it is retried like a read."""
    headers = {"Content-Type": frame.content_type, "Content-Length": str(frame.length(size))}
    return RequestSpec("POST", "/files", body=body, headers=headers, timeout=TimeoutKind.TRANSFER)


def file_retrieve(file_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/files/{path_segment(file_id)}")


def file_delete(file_id: str) -> RequestSpec:
    return RequestSpec("DELETE", f"/files/{path_segment(file_id)}")


def file_content(file_id: str) -> RequestSpec:
    return RequestSpec(
        "GET",
        f"/files/{path_segment(file_id)}/content",
        headers={"Accept": "application/octet-stream"},
        timeout=TimeoutKind.TRANSFER,
    )


# -- batches -----------------------------------------------------------------------------------


def batch_create(
    input_file_id: str, endpoint: str, metadata: Mapping[str, str] | None, completion_window: str
) -> RequestSpec:
    body: dict[str, Any] = {
        "input_file_id": input_file_id,
        "endpoint": endpoint,
        "completion_window": completion_window or COMPLETION_WINDOW,
    }
    if metadata:
        body["metadata"] = dict(metadata)
    return RequestSpec("POST", "/batches", json_body=body, retry=RetryMode.CREATE)


def batch_retrieve(batch_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/batches/{path_segment(batch_id)}")


def batch_cancel(batch_id: str) -> RequestSpec:
    return RequestSpec("POST", f"/batches/{path_segment(batch_id)}/cancel")


def batch_list(limit: int = MAX_PAGE, after: str | None = None) -> RequestSpec:
    """One page, newest first: ``limit`` (1..100) batches created before the batch ``after``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    params = {"limit": str(limit)}
    if after is not None:
        params["after"] = after
    return RequestSpec("GET", "/batches", params=params)


def next_after(page: BatchPage) -> str | None:
    """The ``after`` of the page that follows ``page``, or ``None`` when it is the last."""
    if not page.has_more or not page.data:
        return None
    return page.last_id or page.data[-1].id


def older_than(batch: OpenAIBatch, created_after: int | None) -> bool:
    """The batch was created before ``created_after`` (never, when that is ``None``)."""
    return created_after is not None and (batch.created_at or 0) < created_after


def identity_value(metadata: Mapping[str, str] | None, key: str | None) -> str | None:
    """The identity a create carries in its metadata under ``key`` (``None`` without a key).

    :raises ValueError: ``key`` is given but is not in ``metadata``.
    """
    if key is None:
        return None
    if not metadata or key not in metadata:
        raise ValueError(f"identity_key {key!r} is not a key of metadata")
    return metadata[key]


def matches(batch: OpenAIBatch, key: str, value: str) -> bool:
    """The batch carries ``value`` under ``key`` in its metadata."""
    return (batch.metadata or {}).get(key) == value


def created_batch(
    found: Iterable[OpenAIBatch], key: str, value: str, known: Collection[str]
) -> OpenAIBatch | None:
    """The batch a create that failed ambiguously made, from the batches carrying its identity.

    Batches in ``known`` are the caller's already; of the rest, none means the create did not
    happen (it may be sent again), one is the one it made, more than one is not guessed at.

    :raises AmbiguousMetadataCreateError: more than one unknown batch carries the identity.
    """
    fresh = [b for b in found if matches(b, key, value) and b.id not in known]
    if len(fresh) > 1:
        raise AmbiguousMetadataCreateError(key, value, tuple(b.id for b in fresh))
    if fresh:
        logger.warning(
            "POST /batches failed ambiguously, but batch %s with metadata %s=%r exists; using it "
            "instead of sending the create again",
            fresh[0].id,
            key,
            value,
        )
        return fresh[0]
    logger.warning("POST /batches failed ambiguously; no batch with metadata %s=%r exists", key, value)
    return None


# -- parsing -----------------------------------------------------------------------------------


def _parser(model: type[M]) -> Callable[[RequestSpec, httpx.Response], M]:
    def parse(spec: RequestSpec, response: httpx.Response) -> M:
        return parse_model(spec, response, parse_json(spec, response), model.model_validate)

    return parse


parse_batch = _parser(OpenAIBatch)
parse_page = _parser(BatchPage)
parse_file = _parser(OpenAIFile)
parse_file_deleted = _parser(FileDeleted)
