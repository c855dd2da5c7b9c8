"""The submission state machine: one ledger row per part of a task instance's input.

``intent`` (before the upload) -> ``uploading`` (the file id, as soon as the API assigns it,
before the bytes are sent) -> ``uploaded`` -> ``creating`` (before ``POST /batches``) ->
``created`` (the batch id). ``abandoned`` marks a row whose batch vanished from the API. Each
state is written *before* the step it names, so a crash at any point leaves a record the next try
can finish from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from airflow_provider_batch.ledger._store import (
    LedgerConflictError,
    LedgerStore,
    LedgerUnavailableError,
    _iso,
    _now,
)
from airflow_provider_batch.ledger.records import SubmissionRecord, TaskIdentity, neutral_status

__all__ = ["Submissions"]


class Submissions(LedgerStore):
    """The submission rows: opened before an upload, moved through their states, looked up by
    task instance, file and batch."""

    def _update(self, record: SubmissionRecord, **changes: Any) -> SubmissionRecord:
        self.ensure()
        changes["updated_at"] = _now()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        sql = self._sql(f"UPDATE {{t}} SET {assignments} WHERE submission_id = ?")
        with self._tx() as cur:
            cur.execute(sql, (*changes.values(), record.submission_id))
        stored = self._select("submission_id = ?", (record.submission_id,))
        if not stored:
            raise LedgerUnavailableError(f"submission {record.submission_id} vanished from {self.where}")
        return stored[0]

    # -- reads ---------------------------------------------------------------------------------

    def current(self, identity: TaskIdentity, part_index: int, part_sha256: str) -> SubmissionRecord | None:
        """The newest generation for this part of this task instance's input, if any."""
        rows = self._select(
            "identity_key = ? AND part_index = ? AND part_sha256 = ?",
            (identity.key, part_index, part_sha256),
            order="generation",
        )
        return rows[-1] if rows else None

    def batches_for(
        self, *, dag_id: str, task_id: str, run_id: str, map_index: int
    ) -> list[SubmissionRecord]:
        """Every record of that task instance with a batch, all parts and generations, oldest first."""
        key = TaskIdentity(dag_id, task_id, run_id, int(map_index)).key
        return self._select(
            "identity_key = ? AND batch_id IS NOT NULL", (key,), order="created_at, generation"
        )

    def records_for(self, identity: TaskIdentity) -> list[SubmissionRecord]:
        """Every record of that task instance, oldest first."""
        return self._select("identity_key = ?", (identity.key,), order="created_at, generation")

    def on_file(self, input_file_id: str) -> list[SubmissionRecord]:
        """Every record that uploaded (or re-used) that input file."""
        return self._select("input_file_id = ?", (input_file_id,))

    def by_batch(self, batch_id: str) -> SubmissionRecord | None:
        rows = self._select("batch_id = ?", (batch_id,))
        return rows[0] if rows else None

    def creating(self, vendor: str) -> list[SubmissionRecord]:
        """Every row of ``vendor`` whose create may have taken effect unrecorded (``creating``)."""
        return self._select("state = ? AND vendor = ?", ("creating", vendor))

    def by_submission(self, submission_id: str) -> SubmissionRecord | None:
        rows = self._select("submission_id = ?", (submission_id,))
        return rows[0] if rows else None

    # -- writes --------------------------------------------------------------------------------

    def open(
        self,
        identity: TaskIdentity,
        *,
        part_index: int,
        part_sha256: str,
        generation: int,
        request_count: int | None,
        endpoint: str,
        together_conn_id: str,
        logical_date: datetime | None = None,
        input_file_id: str | None = None,
        model: str | None = None,
        estimated_cost_usd: float | None = None,
        vendor: str | None = None,
        parent_batch_id: str | None = None,
    ) -> SubmissionRecord:
        """Record the intent to submit one part (before any upload); returns the stored row.

        If another try already opened the same generation, its row is returned instead.
        """
        self.ensure()
        now = _now()
        values = {
            "submission_id": uuid.uuid4().hex,
            "identity_key": identity.key,
            "dag_id": identity.dag_id,
            "task_id": identity.task_id,
            "run_id": identity.run_id,
            "map_index": identity.map_index,
            "logical_date": _iso(logical_date),
            "part_index": part_index,
            "part_sha256": part_sha256,
            "generation": generation,
            "request_count": request_count,
            "endpoint": endpoint,
            "together_conn_id": together_conn_id,
            "state": "uploaded" if input_file_id else "intent",
            "input_file_id": input_file_id,
            "batch_id": None,
            "batch_created_at": None,
            "last_status": None,
            "created_at": now,
            "updated_at": now,
            "model": model,
            "estimated_cost_usd": estimated_cost_usd,
            "vendor": vendor,
            "last_progress": None,
            "parent_batch_id": parent_batch_id,
        }
        sql = self._sql(f"INSERT INTO {{t}} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})")
        try:
            with self._tx() as cur:
                cur.execute(sql, tuple(values.values()))
        except LedgerUnavailableError:
            raise
        except Exception as exc:
            existing = self.current(identity, part_index, part_sha256)
            if existing is None or existing.generation != generation:
                raise LedgerUnavailableError(
                    f"the submission ledger ({self.where}) refused a write: {type(exc).__name__}: {exc}"
                ) from exc
            return existing
        return SubmissionRecord.model_validate(values)

    def record_upload(self, record: SubmissionRecord, input_file_id: str, *, complete: bool = True
                      ) -> SubmissionRecord:  # fmt: skip
        """Bind the file to this row (``complete=False``: its bytes may not have arrived yet).

        A file another task instance already uses is refused: this row could not tell its
        batches from that task's.
        """
        others = [r for r in self.on_file(input_file_id) if r.identity != record.identity]
        if others:
            owner = others[0]
            raise LedgerConflictError(
                f"the Files API answered with file {input_file_id}, which the submission ledger "
                f"already records for {_describe(owner)}; this task cannot tell its batches from "
                "that task's, so it stops before creating a batch (nothing was paid for)"
            )
        return self._update(
            record, state="uploaded" if complete else "uploading", input_file_id=input_file_id
        )

    def mark_creating(self, record: SubmissionRecord) -> SubmissionRecord:
        """Written right before ``POST /batches``: a create may take effect from here on."""
        return self._update(record, state="creating")

    def record_batch(self, record: SubmissionRecord, batch_id: str, created_at: datetime | None,
                     status: str | None) -> SubmissionRecord:  # fmt: skip
        """Bind the created batch to this row (right after create, or after finding it)."""
        owner = self.by_batch(batch_id)
        if owner is not None and owner.submission_id != record.submission_id:
            raise LedgerConflictError(
                f"batch {batch_id} is already recorded for {_describe(owner)}; not adopting it"
            )
        return self._update(
            record,
            state="created",
            batch_id=batch_id,
            batch_created_at=_iso(created_at),
            last_status=neutral_status(status) if status else None,
        )

    def settle_create(self, record: SubmissionRecord, batch_id: str | None) -> SubmissionRecord:
        """A person's answer to a create the ledger could not settle: ``batch_id`` is the batch it
        made (adopted on the next try), or ``None``: it made none, so the next try creates one."""
        if record.state != "creating":
            raise LedgerConflictError(
                f"{_describe(record)} is {record.state}, not creating: nothing to settle"
            )
        if batch_id is None:
            return self._update(record, state="uploaded")
        return self.record_batch(record, batch_id, None, None)

    def mark_abandoned(self, record: SubmissionRecord) -> SubmissionRecord:
        """The row's batch or file no longer exists at the API; a new generation replaces it."""
        return self._update(record, state="abandoned")

    def record_status(self, batch_id: str, status: str, progress: float | None = None) -> None:
        """Keep the status (and progress, percent) a task just saw for a batch, stamped now.

        For monitoring only (the page reads it; no decision does). The status is stored in the
        neutral spelling (``IN_PROGRESS``), whatever the vendor's; a status no neutral name has
        is kept upper-cased.
        """
        self.ensure()
        assignments = "last_status = ?, updated_at = ?"
        params: list[Any] = [neutral_status(status), _now()]
        if progress is not None:
            assignments += ", last_progress = ?"
            params.append(min(max(float(progress), 0.0), 100.0))
        sql = self._sql(f"UPDATE {{t}} SET {assignments} WHERE batch_id = ?")
        with self._tx() as cur:
            cur.execute(sql, (*params, batch_id))


def _describe(record: SubmissionRecord) -> str:
    where = f"map index {record.map_index}, " if record.map_index >= 0 else ""
    return f"dag {record.dag_id!r}, task {record.task_id!r}, {where}run {record.run_id!r}"
