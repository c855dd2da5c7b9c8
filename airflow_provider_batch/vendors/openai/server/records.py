"""OpenAI's view of the shared server's records: a batch record with OpenAI's extra fields, and the
wire JSON of batches and files.

The batch runs on the shared processing clock (``testing/server/processing.py``), which speaks in
the shared record's statuses; :func:`wire_status` maps them onto OpenAI's. A batch whose clock
has ended but whose files are still being written is ``finalizing`` (``cancelling`` when it was
cancelled), so a client never sees a terminal status before both files are complete.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_batch.testing.server.records import TERMINAL, BatchRecord, FileRecord

__all__ = ["OpenAIBatchRecord", "batch_json", "file_json", "wire_status"]

_LIVE = {"VALIDATING": "validating", "IN_PROGRESS": "in_progress", "CANCELING": "cancelling"}
_ENDED = {"COMPLETED": "completed", "FAILED": "failed", "EXPIRED": "expired", "CANCELLED": "cancelled"}
_ENDING = {
    "COMPLETED": "finalizing",
    "EXPIRED": "finalizing",
    "CANCELLED": "cancelling",
    "FAILED": "validating",
}
#: The time stamp each OpenAI terminal status sets.
_ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}


@dataclass
class OpenAIBatchRecord(BatchRecord):
    """A batch with what OpenAI's batch object adds: metadata, validation errors, request counts.

    :param failed_prefix: ``failed_prefix[k]`` is how many of the first ``k`` requests in
        processing order fail, so the running counts follow the clock without a scan.
    :param counts: the final ``(completed, failed)`` once the files are written.
    """

    completion_window: str = "24h"
    metadata: dict[str, str] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    failed_prefix: list[int] = field(default_factory=lambda: [0])
    counts: tuple[int, int] | None = None
    usage: dict[str, Any] | None = None
    finalizing_at: float | None = None
    ended_at: float | None = None
    finalized: threading.Event = field(default_factory=threading.Event, repr=False)

    def running_counts(self, now: float) -> tuple[int, int]:
        """``(completed, failed)`` at ``now``."""
        if self.counts is not None:
            return self.counts
        done = min(math.floor(self.total * self.fraction_done(now)), len(self.failed_prefix) - 1)
        failed = self.failed_prefix[done]
        return done - failed, failed


def wire_status(record: OpenAIBatchRecord, now: float) -> str:
    """OpenAI's status for the shared record's state at ``now``."""
    if record.finalized.is_set():
        return _ENDED[record.status]
    if record.status in TERMINAL:
        return _ENDING[record.status]
    if record.status == "IN_PROGRESS" and record.fraction_done(now) >= 1.0:
        return "finalizing"
    # A status the shared clock never sets (a test's "status the API adds later") is sent as set.
    return _LIVE.get(record.status, record.status)


def _seconds(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch)


def batch_json(record: OpenAIBatchRecord, now: float) -> dict[str, Any]:
    """The batch object of OpenAI's API reference (and the SDK's ``types/batch.py``)."""
    status = wire_status(record, now)
    completed, failed = record.running_counts(now)
    body: dict[str, Any] = {
        "id": record.id,
        "object": "batch",
        "endpoint": record.endpoint,
        "model": record.model_id,
        "errors": {"object": "list", "data": record.errors} if record.errors else None,
        "input_file_id": record.input_file_id,
        "completion_window": record.completion_window,
        "status": status,
        "output_file_id": record.output_file_id if record.finalized.is_set() else None,
        "error_file_id": record.error_file_id if record.finalized.is_set() else None,
        "created_at": int(record.created_at),
        "in_progress_at": _seconds(record.started_at),
        "expires_at": int(record.deadline),
        "finalizing_at": _seconds(record.finalizing_at),
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": _seconds(record.cancel_requested_at),
        "cancelled_at": None,
        "request_counts": {"total": record.total, "completed": completed, "failed": failed},
        "metadata": record.metadata,
        "usage": record.usage,
    }
    if status in _ENDED_AT:
        body[_ENDED_AT[status]] = _seconds(record.ended_at)
    return body


def file_json(record: FileRecord) -> dict[str, Any]:
    """The file object of OpenAI's Files API."""
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "expires_at": None,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed" if record.uploaded else "uploaded",
        "status_details": None,
    }
