"""The neutral models the pipeline reads every vendor in: batches, files, result lines.

Together's wire objects parse straight into them (its field names and statuses are the neutral
ones); every other vendor's client maps its own objects onto them (``vendors/openai/vendor.py``).
Every model tolerates unknown keys (the API adds fields over time) and keeps the wire spelling
through aliases where it differs from Python style (``FileType``, ``LineCount``, ``Processed``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batch.core.status import TERMINAL_BATCH_STATUSES, BatchStatus
from airflow_provider_batch.endpoints import AUDIO_TRANSCRIPTIONS, AUDIO_TRANSLATIONS, CHAT_COMPLETIONS

__all__ = [
    "BatchStatus",
    "BatchJob",
    "BatchCreateResponse",
    "FileObject",
    "FileDeleted",
    "FileCleanupReport",
    "OutputLine",
    "ErrorLine",
    "ResponseEnvelope",
    "LineError",
    "CHAT_COMPLETIONS",
    "AUDIO_TRANSCRIPTIONS",
    "AUDIO_TRANSLATIONS",
    "BATCH_ENDPOINTS",
    "TERMINAL_BATCH_STATUSES",
]

BATCH_ENDPOINTS = (CHAT_COMPLETIONS, AUDIO_TRANSCRIPTIONS, AUDIO_TRANSLATIONS)


class _WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class BatchJob(_WireModel):
    """A batch job as returned by retrieve, list, cancel and (wrapped) create."""

    id: str
    user_id: str | None = None
    input_file_id: str | None = None
    file_size_bytes: int | None = None
    status: BatchStatus = BatchStatus.UNKNOWN
    job_deadline: datetime | None = None
    created_at: datetime | None = None
    endpoint: str | None = None
    progress: float = 0.0
    model_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    completed_at: datetime | None = None

    @property
    def raw_status(self) -> str | None:
        """The status string as sent, even when it parsed as UNKNOWN."""
        extra = self.__pydantic_extra__ or {}
        return extra.get("_raw_status", self.status.value)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> BatchJob:
        job = cls.model_validate(data)
        raw = data.get("status")
        if job.status is BatchStatus.UNKNOWN and raw is not None:
            extra = {**(job.__pydantic_extra__ or {}), "_raw_status": raw}
            object.__setattr__(job, "__pydantic_extra__", extra)
        return job


class BatchCreateResponse(_WireModel):
    """The create wrapper ``{"job": BatchJob | null, "warning": str | null}``."""

    job: BatchJob | None = None
    warning: str | None = None


class FileObject(_WireModel):
    """A file as returned by the Files API (``created_at`` is Unix seconds here)."""

    id: str
    object: str | None = "file"
    created_at: int | None = None
    filename: str | None = None
    bytes: int | None = None
    purpose: str | None = None
    file_type: str | None = Field(default=None, alias="FileType")
    line_count: int | None = Field(default=None, alias="LineCount")
    processed: bool | None = Field(default=None, alias="Processed")
    processing_status: str | None = None


class FileDeleted(_WireModel):
    id: str
    deleted: bool = False
    object: str | None = None


class FileCleanupReport(BaseModel):
    """What a best-effort delete of several files did (not a wire object).

    :param deleted: files the API deleted.
    :param missing: files that were already gone (404).
    :param failed: the other files, with the error text (never the key).
    """

    deleted: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every file is gone."""
        return not self.failed


class ResponseEnvelope(_WireModel):
    status_code: int
    body: dict[str, Any] | None = None
    request_id: str | None = None


class LineError(_WireModel):
    message: str | None = None
    code: str | int | None = None


class OutputLine(_WireModel):
    """One line of an output file: ``{"id", "custom_id", "response": {"status_code", "body"}}``."""

    id: str | None = None
    custom_id: str
    response: ResponseEnvelope | None = None
    error: LineError | None = None


class ErrorLine(_WireModel):
    """One line of an error file: ``{"custom_id", "error": {"message", "code"}}``."""

    custom_id: str | None = None
    error: LineError | None = None
    response: ResponseEnvelope | None = None
