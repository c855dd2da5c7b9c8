"""The one contract between :class:`~airflow_provider_batch.triggers.batch.TogetherBatchTrigger`
and the operator or sensor that resumes from it.

A trigger yields exactly one :class:`BatchEvent` (as a JSON payload). The resuming method parses it
with :meth:`BatchEvent.from_payload`, which refuses ``None``, unknown statuses and malformed
payloads, so nothing falls through to "success" by accident.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_batch.client.models import BatchJob, BatchStatus

__all__ = [
    "EventStatus",
    "BatchState",
    "BatchEvent",
    "InvalidEventError",
    "outcome_of",
    "XCOM_BATCH_ID",
    "XCOM_BATCH_IDS",
    "XCOM_MANIFEST",
]

#: XCom key of the first (or only) batch id, pushed right after create, before any deferral.
XCOM_BATCH_ID = "batch_id"
#: XCom key of all batch ids of a (possibly split) submission.
XCOM_BATCH_IDS = "batch_ids"
#: XCom key of the submit manifest, also pushed before raising on a non-completed outcome.
XCOM_MANIFEST = "manifest"


class EventStatus(str, enum.Enum):
    """Outcome of waiting for one or more batches."""

    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"  # a batch's own wall-clock deadline passed before it was terminal
    ERROR = "error"  # the trigger could not poll (transport, auth, exhausted retries)

    def __str__(self) -> str:
        return self.value


class InvalidEventError(ValueError):
    """The resuming method received no event, or one that does not match :class:`BatchEvent`."""


class BatchState(BaseModel):
    """Last known state of one batch, as carried by an event or a manifest."""

    model_config = ConfigDict(extra="ignore")

    batch_id: str
    status: str
    progress: float = 0.0
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    #: The batch's own deadline passed before it was terminal (absent from older payloads).
    timed_out: bool = False

    @classmethod
    def from_job(cls, job: BatchJob) -> BatchState:
        return cls(
            batch_id=job.id,
            status=job.raw_status or job.status.value,
            progress=job.progress,
            input_file_id=job.input_file_id,
            output_file_id=job.output_file_id,
            error_file_id=job.error_file_id,
            error=job.error,
            created_at=job.created_at,
            completed_at=job.completed_at,
        )

    @property
    def batch_status(self) -> BatchStatus:
        return BatchStatus(self.status)


class BatchEvent(BaseModel):
    """The payload of the single event a :class:`TogetherBatchTrigger` yields.

    :param status: overall outcome; see :class:`EventStatus`.
    :param batches: last known state of every watched batch, in the order they were given.
    :param message: human-readable summary (never contains credentials).
    :param error_type: exception class name for ``error`` events.

    A ``timeout`` event marks the batches whose own deadline passed with ``timed_out`` in their
    state; the others carry their last known (possibly terminal) state.
    """

    model_config = ConfigDict(extra="forbid")

    status: EventStatus
    batches: list[BatchState] = Field(default_factory=list)
    message: str = ""
    error_type: str | None = None

    @property
    def batch_ids(self) -> list[str]:
        return [b.batch_id for b in self.batches]

    @property
    def timed_out(self) -> list[str]:
        """Ids of the batches whose own deadline passed before they were terminal."""
        return [b.batch_id for b in self.batches if b.timed_out]

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: object) -> BatchEvent:
        """Parse a trigger payload; anything but a valid event raises :class:`InvalidEventError`."""
        if payload is None:
            raise InvalidEventError("resumed without a trigger event")
        if not isinstance(payload, Mapping):
            raise InvalidEventError(f"trigger event must be a mapping, got {type(payload).__name__}")
        try:
            return cls.model_validate(dict(payload))
        except ValidationError as exc:
            raise InvalidEventError(f"malformed trigger event: {exc.errors(include_input=False)}") from exc


def outcome_of(states: Iterable[BatchState]) -> EventStatus | None:
    """Overall outcome once every batch is terminal; ``None`` while any is still running.

    A mixed outcome is reported by its worst member: failed > expired > cancelled > completed.
    """
    statuses = [s.batch_status for s in states]
    if not statuses or not all(s.is_terminal for s in statuses):
        return None
    for bad, outcome in (
        (BatchStatus.FAILED, EventStatus.FAILED),
        (BatchStatus.EXPIRED, EventStatus.EXPIRED),
        (BatchStatus.CANCELLED, EventStatus.CANCELLED),
    ):
        if bad in statuses:
            return outcome
    return EventStatus.COMPLETED
