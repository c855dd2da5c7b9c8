"""Typed models of Anthropic's Message Batches wire objects (API reference, version 2023-06-01).

Every model tolerates unknown keys (the API adds fields over time). ``processing_status`` is
``in_progress``, ``canceling`` or ``ended``; a cancel shows only through ``cancel_initiated_at``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ENDED",
    "CANCELING",
    "IN_PROGRESS",
    "MessageBatch",
    "BatchPage",
    "RequestCounts",
    "Deleted",
]

IN_PROGRESS, CANCELING, ENDED = "in_progress", "canceling", "ended"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestCounts(_Wire):
    """Anthropic's five counts; together they are the batch's requests."""

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        return self.processing + self.succeeded + self.errored + self.canceled + self.expired


class MessageBatch(_Wire):
    id: str
    type: str | None = "message_batch"
    processing_status: str = IN_PROGRESS
    request_counts: RequestCounts = RequestCounts()
    created_at: datetime | None = None
    ended_at: datetime | None = None
    expires_at: datetime | None = None
    archived_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    results_url: str | None = None


class BatchPage(_Wire):
    data: list[MessageBatch] = []
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


class Deleted(_Wire):
    id: str
    type: str | None = None
