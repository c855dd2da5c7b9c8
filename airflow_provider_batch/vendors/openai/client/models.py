"""Typed models of OpenAI's Batch and Files wire objects.

Field names follow OpenAI's API reference and the ``openai`` SDK's ``types/batch.py``. Every model
tolerates unknown keys (the API adds fields over time); a status the API adds later parses as
:attr:`BatchStatus.UNKNOWN`, which callers treat as not terminal. The lines of the output and error
files have the shape the neutral models already describe (``{id, custom_id, response: {status_code,
request_id, body}, error}``), so :class:`OutputLine` is re-exported from the shared client.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, PrivateAttr, model_validator

from airflow_provider_batch.client.models import (
    ErrorLine,
    FileDeleted,
    LineError,
    OutputLine,
    ResponseEnvelope,
)
from airflow_provider_batch.core.status import TERMINAL_STATUS_NAMES

__all__ = [
    "BatchStatus",
    "OpenAIBatch",
    "BatchPage",
    "RequestCounts",
    "BatchErrors",
    "BatchErrorItem",
    "OpenAIFile",
    "FileDeleted",
    "OutputLine",
    "ErrorLine",
    "LineError",
    "ResponseEnvelope",
    "CHAT_COMPLETIONS",
    "RESPONSES",
    "EMBEDDINGS",
    "COMPLETIONS",
    "BATCH_ENDPOINTS",
    "COMPLETION_WINDOW",
    "BATCH_EXPIRED",
    "BATCH_CANCELLED",
]

CHAT_COMPLETIONS = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
BATCH_ENDPOINTS = (CHAT_COMPLETIONS, RESPONSES, EMBEDDINGS, COMPLETIONS)
#: The only completion window the API accepts.
COMPLETION_WINDOW = "24h"
#: ``error.code`` of an error-file line whose request never ran, by why.
BATCH_EXPIRED, BATCH_CANCELLED = "batch_expired", "batch_cancelled"


class BatchStatus(str, enum.Enum):
    """A batch's status, as OpenAI spells it (``cancelling`` with two L)."""

    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> BatchStatus:
        if isinstance(value, str) and value.lower() in {m.value for m in cls}:
            return cls(value.lower())
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """No further change: its files (if any) are final."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


#: OpenAI names its terminal statuses as the neutral set does (``completed`` ... ``cancelled``).
_TERMINAL = frozenset(status for status in BatchStatus if status.name in TERMINAL_STATUS_NAMES)


class _WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestCounts(_WireModel):
    """``request_counts``: requests in the batch, and how many finished well or badly so far."""

    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchErrorItem(_WireModel):
    """One entry of ``errors.data``: why the input file failed validation (``line`` is 1-based)."""

    code: str | None = None
    message: str | None = None
    param: str | None = None
    line: int | None = None


class BatchErrors(_WireModel):
    object: str | None = "list"
    data: list[BatchErrorItem] = Field(default_factory=list)


class OpenAIBatch(_WireModel):
    """A batch as returned by create, retrieve, cancel and list (times are Unix seconds)."""

    id: str
    object: str | None = "batch"
    endpoint: str | None = None
    input_file_id: str | None = None
    completion_window: str | None = None
    status: BatchStatus = BatchStatus.UNKNOWN
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: BatchErrors | None = None
    created_at: int | None = None
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    _raw_status: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_unknown_status(cls, data: Any, handler: ModelWrapValidatorHandler[OpenAIBatch]) -> OpenAIBatch:
        """A status this client does not know parses as UNKNOWN; the string as sent is kept."""
        batch = handler(data)
        raw = data.get("status") if isinstance(data, dict) else None
        if batch.status is BatchStatus.UNKNOWN and isinstance(raw, str):
            batch._raw_status = raw
        return batch

    @property
    def raw_status(self) -> str:
        """The status string as sent, even when it parsed as UNKNOWN."""
        return self._raw_status or self.status.value


class BatchPage(_WireModel):
    """One page of ``GET /batches`` (newest first); ``last_id`` is the ``after`` of the next page."""

    object: str | None = "list"
    data: list[OpenAIBatch] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class OpenAIFile(_WireModel):
    """A file of the Files API (``created_at`` and ``expires_at`` are Unix seconds)."""

    id: str
    object: str | None = "file"
    bytes: int | None = None
    created_at: int | None = None
    expires_at: int | None = None
    filename: str | None = None
    purpose: str | None = None
    status: str | None = None
    status_details: str | None = None
