"""Anthropic's view of the shared server's records: a batch record with the Message Batch's extra
fields, and the wire JSON of a ``message_batch``.

The batch runs on the shared processing clock (``testing/server/processing.py``), which speaks in
the shared record's statuses; :func:`processing_status` maps them onto Anthropic's three. A batch
whose clock has ended but whose results file is still being written is still ``in_progress``
(``canceling`` when it was canceled), so a client never sees ``ended`` before every result line
is on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_batch.testing.server.records import BatchRecord, rfc3339

__all__ = [
    "RESULTS_RETENTION_SECONDS",
    "RESULT_TYPES",
    "AnthropicBatchRecord",
    "batch_json",
    "processing_status",
]

#: Results stay downloadable for 29 days after the batch was created; then it is archived.
RESULTS_RETENTION_SECONDS = 29 * 86400
#: The result types, in the order of ``request_counts`` after ``processing``.
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


@dataclass
class AnthropicBatchRecord(BatchRecord):
    """A Message Batch on the shared clock.

    :param total: how many requests the batch holds.
    :param counts: ``{succeeded, errored, canceled, expired}`` once the results are written.
    :param results_file_id: the store's file that holds the results JSONL.
    :param ended_at: when processing ended (the results file was complete).
    """

    total: int = 0
    counts: dict[str, int] | None = None
    results_file_id: str | None = None
    ended_at: float | None = None
    finalized: threading.Event = field(default_factory=threading.Event, repr=False)

    def ended(self) -> bool:
        return self.finalized.is_set()

    def archived(self, now: float) -> bool:
        return now >= self.created_at + RESULTS_RETENTION_SECONDS


def processing_status(record: AnthropicBatchRecord) -> str:
    """``in_progress``, ``canceling`` or ``ended``."""
    if record.ended():
        return "ended"
    return "canceling" if record.cancel_requested_at is not None else "in_progress"


def batch_json(record: AnthropicBatchRecord, now: float, results_root: str) -> dict[str, Any]:
    """The ``message_batch`` object of Anthropic's API reference (the SDK's ``MessageBatch``).

    :param results_root: ``scheme://host[:port]`` the client reached the server at; the
        ``results_url`` is absolute, as on the live API.
    """
    ended = record.ended()
    counts = dict.fromkeys(RESULT_TYPES, 0)
    if ended and record.counts is not None:
        counts.update(record.counts)
    archived = ended and record.archived(now)
    return {
        "id": record.id,
        "type": "message_batch",
        "processing_status": processing_status(record),
        "request_counts": {"processing": 0 if ended else record.total, **counts},
        "ended_at": rfc3339(record.ended_at) if ended else None,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.deadline),
        "archived_at": rfc3339(record.created_at + RESULTS_RETENTION_SECONDS) if archived else None,
        "cancel_initiated_at": rfc3339(record.cancel_requested_at),
        "results_url": (
            f"{results_root}/v1/messages/batches/{record.id}/results" if ended and not archived else None
        ),
    }
