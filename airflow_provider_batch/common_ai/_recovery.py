"""How common.ai submissions are kept in the submission ledger, and how an orphan is found again.

Together and Anthropic batches carry no metadata, so nothing on their API side can say "this batch
was created for that task instance". The provider's submission ledger can, on every vendor: every
batch this adapter creates is recorded there *before* the upload and the create, and bound to its
batch id right after.

Mapping of common.ai's identifiers onto a ledger row:

* common.ai's ``idempotency_key`` (the 16-hex-character short form of its run-stable task-instance
  key; never the try number) -> the row's identity
  ``TaskIdentity(dag_id="common.ai", task_id="llm_batch", run_id=<idempotency_key>, map_index=-1)``.
  The adapter sees only the key, never the task instance, so the identity is derived from the key
  alone; ``find_orphaned_batch`` can then rebuild it without any Airflow context.
* common.ai's ``input_fingerprint`` (SHA-256 of prompts, connection, model, params and output
  schema) -> the row's ``part_sha256``; the whole request file is part 0.
* a resubmission of the same content (after a FAILED batch, a lossy cancel, a 404) -> a new
  generation of that row, as for the provider's own operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_batch.core.identity import TaskIdentity
from airflow_provider_batch.ledger import (
    SubmissionLedger,
    SubmissionRecord,
)
from airflow_provider_batch.vendors import DEFAULT_VENDOR, vendor_named
from airflow_provider_batch.vendors.base import BatchVendor, LostCreate

__all__ = [
    "LEDGER_CONN_LABEL",
    "LEDGER_DAG_ID",
    "LEDGER_TASK_ID",
    "RequestFile",
    "find_orphan",
    "identity_for",
    "key_of",
]

log = logging.getLogger(__name__)

#: Owner columns of every ledger row written for common.ai (``run_id`` holds the key).
LEDGER_DAG_ID = "common.ai"
LEDGER_TASK_ID = "llm_batch"
#: Written as the row's ``together_conn_id``: common.ai hands an adapter credentials, not a conn id.
LEDGER_CONN_LABEL = "common.ai"


def identity_for(idempotency_key: str) -> TaskIdentity:
    """The ledger identity of one common.ai task instance, from its ``idempotency_key``."""
    return TaskIdentity(LEDGER_DAG_ID, LEDGER_TASK_ID, idempotency_key, -1)


def key_of(record: SubmissionRecord) -> str | None:
    """The common.ai ``idempotency_key`` a ledger row was written for, if it is such a row."""
    if record.dag_id == LEDGER_DAG_ID and record.task_id == LEDGER_TASK_ID:
        return record.run_id
    return None


@dataclass(frozen=True)
class RequestFile:
    """The whole request file of one common.ai batch, as the provider's submit loop sees a part."""

    path: Path
    lines: int
    sha256: str  # common.ai's input fingerprint, not the file's digest
    index: int = 0


def _parse_instant(value: str) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bind_interrupted_create(
    client: Any, ledger: SubmissionLedger, record: SubmissionRecord, vendor: BatchVendor
) -> SubmissionRecord | None:
    """Bind the batch a create interrupted after ``mark_creating`` made, if it made one: found the
    vendor's way (:meth:`BatchVendor.find_lost_create`, given this intent record), as the submit
    loop does.

    :raises LedgerConflictError: the vendor's search or the ledger cannot tell which batch is this
        row's.
    """
    lost = LostCreate(record, ledger, requests=record.request_count, part_index=record.part_index)
    job = vendor.find_lost_create(client, lost)
    if job is None:
        return None
    log.warning("common.ai batch: a create interrupted earlier made batch %s; binding it", job.id)
    return ledger.record_batch(record, job.id, job.created_at, str(job.status))


def find_orphan(
    client: Any,
    ledger: SubmissionLedger,
    idempotency_key: str,
    input_fingerprint: str,
    not_before: str,
    *,
    vendor: BatchVendor | None = None,
) -> str | None:
    """The newest batch recorded for this key and fingerprint, at or after ``not_before``.

    A row qualifies when (1) its identity is this key's, (2) its ``part_sha256`` is this
    fingerprint and (3) the ledger recorded it at or after ``not_before``. Both ``not_before`` (the
    intent record's write time) and the row's ``created_at`` (written right before the upload)
    come from the submitting worker's clock, so no clock-skew allowance is needed. A row whose
    create was interrupted is resolved through its own input file first (``vendor``'s search;
    ``None``: the default vendor's).
    """
    searched = vendor if vendor is not None else vendor_named(DEFAULT_VENDOR)
    cutoff = _parse_instant(not_before)
    rows = [
        r
        for r in ledger.records_for(identity_for(idempotency_key))
        if r.part_sha256 == input_fingerprint
        and r.state != "abandoned"
        and (cutoff is None or _aware(r.created_at) >= cutoff)
    ]
    bound: list[SubmissionRecord] = []
    for row in rows:
        if row.batch_id is None and row.state == "creating" and row.input_file_id:
            row = _bind_interrupted_create(client, ledger, row, searched) or row
        if row.batch_id is not None:
            bound.append(row)
    if not bound:
        return None
    newest = max(bound, key=lambda r: (_aware(r.created_at), r.generation))
    return newest.batch_id
