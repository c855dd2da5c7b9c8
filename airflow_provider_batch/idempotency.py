"""Retry safety: a task instance attaches only to batches created for it, and never pays twice.

Identity is ``(dag_id, task_id, run_id, map_index)``, never ``try_number``, plus each input part's
index and content SHA-256. The record of "which batch is whose" is the submission ledger
(:mod:`airflow_provider_batch.ledger`), which survives retries, worker crashes and clears. It does
not rest on remote file names, on the task state store, or on a time window:

* every part is uploaded as **its own file** (no content de-duplication), so a file, and every
  batch created on it, belongs to exactly one ledger row;
* the ledger row is written *before* each step (intent, upload, create), so a crash anywhere
  leaves a row the next try finishes from;
* after an ambiguous create (timeout, 5xx, a crash), the batches on the row's own file are the
  only candidates; those the ledger already attributes are removed; exactly one left is ours,
  none means the create did not happen, more than one is refused, loudly, before paying again.

What a previous batch of the same part leads to:

* running (VALIDATING / IN_PROGRESS / CANCELING / unknown) -> re-attach and keep waiting;
* COMPLETED, EXPIRED, CANCELLED -> re-attach, so the task goes straight to completion (expired and
  cancelled batches hold paid-for partial results); with ``force_resubmit=True`` an EXPIRED or
  CANCELLED batch is replaced by a new generation instead;
* FAILED -> raise :class:`TogetherBatchFailedError` (the same input would most likely fail again);
  with ``force_resubmit=True`` a new generation is submitted, re-using the uploaded file;
* gone (404) -> a new generation.

Submissions of release 0.1.0 are adopted into the ledger, never paid for again. 0.1.0 kept no
ledger: it found its batch through the task state store (Airflow 3.3+, gone after a clear) or by
its upload file name ``apb-<identity key 12>-<sha256 16>-p<part>.jsonl``. A part without a ledger
row is therefore first looked for under both, in that order; the file-name look-up lists the
account's files (and the batches on the matching files) once per submit, and only on a retry or
a clear (``SubmitContext.earlier_tries``), never on a first try. A batch is adopted only when
exactly one batch the ledger does not already attribute is on files of exactly this identity's
name; several are refused (0.1.0 de-duplicated uploads by content, so another task instance's
batch may sit on the same file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.client.models import BatchJob, BatchStatus
from airflow_provider_batch.core.identity import TaskIdentity
from airflow_provider_batch.core.status import ENDED_UNSUCCESSFULLY
from airflow_provider_batch.exceptions import TogetherBatchFailedError
from airflow_provider_batch.ledger import (
    LedgerConflictError,
    SubmissionLedger,
    SubmissionRecord,
)
from airflow_provider_batch.vendors import DEFAULT_VENDOR, vendor_named
from airflow_provider_batch.vendors.base import BatchVendor, LostCreate

__all__ = [
    "PartLike",
    "PartOutcome",
    "SubmitContext",
    "TaskIdentity",
    "legacy_batch_id",
    "ran_before",
    "submit_or_attach",
]

log = logging.getLogger(__name__)

_REPLACEABLE = ENDED_UNSUCCESSFULLY
_LEGACY_PREFIX = "together_batch"


class PartLike(Protocol):
    """What the submit loop needs to know about one input part (read only)."""

    @property
    def index(self) -> int: ...
    @property
    def path(self) -> Path: ...
    @property
    def lines(self) -> int: ...
    @property
    def sha256(self) -> str: ...


def _estimate_of(part: PartLike) -> dict[str, Any]:
    """The ledger's ``model`` and ``estimated_cost_usd`` of a part that carries them
    (:class:`~airflow_provider_batch.inputs.split.InputPart`, a follow-up part; common.ai parts do
    not), and a follow-up part's ``parent_batch_id``."""
    return {
        "model": getattr(part, "model", None),
        "estimated_cost_usd": getattr(part, "estimated_cost_usd", None),
        "parent_batch_id": getattr(part, "parent_batch_id", None),
    }


@dataclass
class PartOutcome:
    """What happened to one part: the batch it is bound to and which path led there."""

    part: PartLike
    job: BatchJob
    path: str  # "submitted" | "re-attached (ledger)" | "recovered (...)"
    record: SubmissionRecord | None = None

    @property
    def reattached(self) -> bool:
        return self.path.startswith(("re-attached", "recovered"))


@dataclass(frozen=True)
class SubmitContext:
    """Who submits, and where the record of it goes."""

    identity: TaskIdentity
    ledger: SubmissionLedger
    endpoint: str
    together_conn_id: str = "together_default"
    logical_date: datetime | None = None
    #: Airflow 3.3's task state store, read only to adopt records written by earlier releases.
    legacy_store: Any | None = None
    #: Whether this task instance ran before (a retry or a clear), so release 0.1.0 may have
    #: submitted it: then a part without a ledger row is looked for by 0.1.0's upload file name.
    earlier_tries: bool = False
    #: The connection's vendor: what file to upload for a part, how, and how a lost create is found
    #: (``None``: the default vendor, with the part uploaded as it is).
    vendor: BatchVendor | None = None

    @property
    def batch_vendor(self) -> BatchVendor:
        """:attr:`vendor`, or the default one when none is set."""
        return self.vendor if self.vendor is not None else vendor_named(DEFAULT_VENDOR)


def ran_before(context: Any) -> bool:
    """Whether the task instance of ``context`` has had an earlier try (a retry, or a run before a
    clear: Airflow keeps counting tries across clears); unknown counts as yes."""
    try_number = getattr(context.get("ti"), "try_number", None)
    return not isinstance(try_number, int) or try_number > 1


class _ReleaseNames:
    """Release 0.1.0's look-up: this identity's named upload files, then the batches on them.

    The account's files are listed once per submit, however many parts look; the batch list is
    read only for a name that has files.
    """

    def __init__(self, client: Any, identity: TaskIdentity, vendor: BatchVendor) -> None:
        self.client = client
        self.identity = identity
        self.vendor = vendor
        self._files: dict[str, list[str]] | None = None

    def _named(self) -> dict[str, list[str]]:
        if self._files is None:
            prefix = f"apb-{self.identity.key[:12]}-"
            found: dict[str, list[str]] = {}
            with closing(self.client.files.iter()) as files:
                for file in files:
                    if file.filename and file.filename.startswith(prefix):
                        found.setdefault(file.filename, []).append(file.id)
            self._files = found
        return self._files

    def batches(self, part: PartLike) -> list[BatchJob]:
        """The batches on every file named exactly as 0.1.0 named this part of this identity."""
        name = self.identity.part_filename(part.sha256, part.index)
        jobs: list[BatchJob] = []
        for file_id in self._named().get(name, []):
            jobs.extend(self.vendor.find_created(self.client, file_id) or ())
        return jobs


def legacy_batch_id(store: Any | None, part: PartLike) -> str | None:
    """The batch id an earlier release recorded in the task state store for this part, if any."""
    if store is None:
        return None
    try:
        value = store.get(f"{_LEGACY_PREFIX}/p{part.index:04d}/{part.sha256[:16]}")
    except Exception:  # an unreadable store only means there is nothing to adopt
        return None
    batch_id = value.get("batch_id") if isinstance(value, dict) else None
    return batch_id if isinstance(batch_id, str) and batch_id else None


def _must_replace(job: BatchJob, *, force_resubmit: bool) -> bool:
    if job.status not in _REPLACEABLE:
        return False
    if force_resubmit:
        log.warning(
            "batch %s for this input ended %s; force_resubmit=True, submitting a new batch",
            job.id,
            job.status,
        )
        return True
    if job.status is BatchStatus.FAILED:
        raise TogetherBatchFailedError(
            f"batch {job.id} for this input and task already FAILED ({job.error or 'no error text'}); "
            "not submitting again. Set force_resubmit=True to pay for a new batch.",
            batch_ids=[job.id],
        )
    return False


class _PartSubmitter:
    """Drives one part from whatever its ledger row says to a bound batch."""

    def __init__(
        self,
        client: Any,
        ctx: SubmitContext,
        part: PartLike,
        *,
        force_resubmit: bool,
        names: _ReleaseNames | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.ctx = ctx
        self.part = part
        self.force_resubmit = force_resubmit
        self._wire: Path | None = None

    def _open(self, generation: int, input_file_id: str | None = None) -> SubmissionRecord:
        return self.ctx.ledger.open(
            self.ctx.identity,
            part_index=self.part.index,
            part_sha256=self.part.sha256,
            generation=generation,
            request_count=self.part.lines,
            endpoint=self.ctx.endpoint,
            together_conn_id=self.ctx.together_conn_id,
            logical_date=self.ctx.logical_date,
            input_file_id=input_file_id,
            vendor=self.ctx.batch_vendor.name,
            **_estimate_of(self.part),
        )

    def run(self) -> PartOutcome:
        ledger = self.ctx.ledger
        record = ledger.current(self.ctx.identity, self.part.index, self.part.sha256)
        if record is None:
            record = self._adopt_legacy() or self._adopt_named() or self._open(1)
        while True:
            if record.batch_id is not None:
                try:
                    job = self.client.batches.retrieve(record.batch_id)
                except NotFoundError:
                    log.warning("part %d: batch %s no longer exists; submitting a new one",
                                self.part.index, record.batch_id)  # fmt: skip
                    ledger.mark_abandoned(record)
                    record = self._open(record.generation + 1)
                    continue
                if _must_replace(job, force_resubmit=self.force_resubmit):
                    record = self._open(record.generation + 1, input_file_id=record.input_file_id)
                    continue
                return PartOutcome(self.part, job, "re-attached (ledger)", record)
            if record.state == "creating":
                found = self._find_interrupted_create(record)
                if found is not None:
                    record = ledger.record_batch(record, found.id, found.created_at, str(found.status))
                    return PartOutcome(self.part, found, "recovered (interrupted create)", record)
            return self._submit(record)

    def _adopt_legacy(self) -> SubmissionRecord | None:
        batch_id = legacy_batch_id(self.ctx.legacy_store, self.part)
        if batch_id is None or self.ctx.ledger.by_batch(batch_id) is not None:
            return None
        try:
            job = self.client.batches.retrieve(batch_id)
        except NotFoundError:
            return None
        return self._adopt(job, "recorded by an earlier release in the task state store")

    def _adopt(self, job: BatchJob, how: str) -> SubmissionRecord:
        """Record an earlier release's batch of this part as this task instance's first generation."""
        log.info("part %d: adopting batch %s, %s", self.part.index, job.id, how)
        record = self._open(1, input_file_id=job.input_file_id)
        return self.ctx.ledger.record_batch(record, job.id, job.created_at, str(job.status))

    def _adopt_named(self) -> SubmissionRecord | None:
        """The batch release 0.1.0 created for this part, found by its upload file name."""
        if self.names is None:
            return None
        ledger = self.ctx.ledger
        candidates = [job for job in self.names.batches(self.part) if ledger.by_batch(job.id) is None]
        if len(candidates) > 1 and self.force_resubmit:
            log.warning(
                "part %d: %d batches of release 0.1.0 (%s) are on this task instance's named file and "
                "none can be told to be its own; force_resubmit=True: submitting a new batch",
                self.part.index, len(candidates), ", ".join(sorted(j.id for j in candidates)),
            )  # fmt: skip
            return None
        if len(candidates) > 1:
            raise LedgerConflictError(
                f"part {self.part.index}: {len(candidates)} batches the submission ledger does not "
                f"know ({', '.join(sorted(j.id for j in candidates))}) are on the input file that "
                "release 0.1.0 named for this task instance; 0.1.0 shared files of identical content "
                "between task instances, so this task cannot tell which is its own, and it stops "
                "instead of paying again. To submit this part anew (a new batch, paid again), set "
                "force_resubmit=True on the operator and clear the task"
            )
        if not candidates:
            return None
        job = candidates[0]
        if job.input_file_id and any(
            r.identity != self.ctx.identity for r in ledger.on_file(job.input_file_id)
        ):
            return None
        return self._adopt(job, "submitted by release 0.1.0 (found by its upload file name)")

    def _known_on_file(self, record: SubmissionRecord) -> set[str]:
        assert record.input_file_id is not None
        return {r.batch_id for r in self.ctx.ledger.on_file(record.input_file_id) if r.batch_id}

    def _find_interrupted_create(self, record: SubmissionRecord) -> BatchJob | None:
        """The batch an interrupted create made for this row, if it made one: the vendor's way
        (:meth:`BatchVendor.find_lost_create`, given the intent record the ledger wrote)."""
        lost = LostCreate(record, self.ctx.ledger, requests=self.part.lines, part_index=self.part.index)
        return self.ctx.batch_vendor.find_lost_create(self.client, lost)

    def _upload_is_whole(self, record: SubmissionRecord) -> bool:
        """Whether a file whose upload an earlier try started holds all of this part's bytes."""
        assert record.input_file_id is not None
        try:
            found = self.client.files.retrieve(record.input_file_id)
        except NotFoundError:
            return False
        size = self._wire_path().stat().st_size
        return found.processed is not False and (found.bytes is None or found.bytes == size)

    def _wire_path(self) -> Path:
        """The file uploaded for this part: the part itself, or the vendor's wire form of it."""
        if self._wire is None:
            self._wire = self.ctx.batch_vendor.wire_input(self.part.path, self.ctx.endpoint)
        return self._wire

    def _upload(self, record: SubmissionRecord) -> SubmissionRecord:
        ledger, part = self.ctx.ledger, self.part
        filename = self.ctx.identity.part_filename(part.sha256, part.index)
        started: list[SubmissionRecord] = []

        def remember(file_id: str) -> None:  # before the bytes: a crash mid-upload leaves a known file
            started.append(ledger.record_upload(record, file_id, complete=False))

        uploaded = self.ctx.batch_vendor.upload_input(
            self.client, self._wire_path(), filename=filename, on_file_id=remember
        )
        log.info("part %d: uploaded %s as %s (%d lines)", part.index, filename, uploaded.id, part.lines)
        return ledger.record_upload(started[-1] if started else record, uploaded.id)

    def _submit(self, record: SubmissionRecord) -> PartOutcome:
        ledger, part = self.ctx.ledger, self.part
        staged = self.ctx.vendor is not None and self.ctx.vendor.input_staged_locally
        if (
            record.input_file_id is None
            or staged
            or (record.state == "uploading" and not self._upload_is_whole(record))
        ):
            record = self._upload(record)
        else:
            log.info("part %d: re-using this task's uploaded file %s", part.index, record.input_file_id)
        assert record.input_file_id is not None
        known = self._known_on_file(record)
        record = ledger.mark_creating(record)
        job = self.client.batches.create(record.input_file_id, self.ctx.endpoint, known_batch_ids=known).job
        record = ledger.record_batch(record, job.id, job.created_at, str(job.status))
        log.info("part %d: submitted batch %s (status %s)", part.index, job.id, job.status)
        return PartOutcome(part, job, "submitted", record)


def submit_or_attach(
    client: Any,
    parts: Sequence[PartLike],
    ctx: SubmitContext,
    *,
    force_resubmit: bool = False,
    on_bound: Callable[[PartOutcome], None] | None = None,
) -> list[PartOutcome]:
    """Bind every part to exactly one batch of this task instance: an earlier one, or a new one.

    :param client: a synchronous client of ``ctx``'s vendor (``BatchVendor.client``).
    :param parts: input parts (see :class:`PartLike`), in order.
    :param ctx: the task instance, its ledger and endpoint.
    :param force_resubmit: replace FAILED / EXPIRED / CANCELLED batches instead of re-attaching.
    :param on_bound: called as soon as each part is bound, before the next part is touched, so
        its batch id can be published even if a later part fails.
    :raises LedgerConflictError: ownership cannot be established; nothing more is paid for.
    :raises LedgerUnavailableError: the ledger cannot be reached; nothing more is paid for.
    """
    names = _ReleaseNames(client, ctx.identity, ctx.batch_vendor) if ctx.earlier_tries else None
    outcomes: list[PartOutcome] = []
    for part in parts:
        outcome = _PartSubmitter(client, ctx, part, force_resubmit=force_resubmit, names=names).run()
        if outcome.path != "submitted":
            log.info("part %d: %s to batch %s (status %s); no new batch created",
                     part.index, outcome.path, outcome.job.id, outcome.job.status)  # fmt: skip
        outcomes.append(outcome)
        if on_bound is not None:
            on_bound(outcome)
    return outcomes
