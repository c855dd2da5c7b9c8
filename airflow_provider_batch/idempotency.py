"""Retry safety: never create a second batch for the same input and task identity.

Identity is ``(dag_id, task_id, run_id, map_index)``, never ``try_number``, plus each input part's
content SHA-256. Two independent records guard every part:

1. **Task state store** (Airflow 3.3+, ``context["task_state_store"]``): the *intent* is written
   before the upload and the batch id right after create, with ``retention=NEVER_EXPIRE``. It
   survives retries and worker crashes, but a *clear* discards it.
2. **The API itself** (works on any Airflow 3, and after a clear): the part is uploaded under a
   content-addressed, identity-bearing file name ``apb-<identity 12>-<sha256 16>-p<part>.jsonl``.
   Before uploading, ``files.list()`` is searched for that name and ``batches.list()`` for a batch
   whose ``input_file_id`` is one of those files.

What a previous batch leads to:

* running (VALIDATING / IN_PROGRESS / CANCELING / unknown) -> re-attach and keep waiting;
* COMPLETED, EXPIRED, CANCELLED -> re-attach, so the task goes straight to completion (expired and
  cancelled batches hold paid-for partial results); with ``force_resubmit=True`` an EXPIRED or
  CANCELLED batch is replaced by a new one instead;
* FAILED -> raise :class:`TogetherBatchFailedError` (the same input would most likely fail again);
  with ``force_resubmit=True`` a new batch is submitted (re-using the uploaded file).

Known limit: the Files API de-duplicates identical content by checksum, so if *another* task
identity already uploaded byte-identical content, the upload returns that task's file (with that
task's name). Such a part is then protected by the task state store only (not after a clear).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.client.models import BatchJob, BatchStatus, FileObject
from airflow_provider_batch.exceptions import TogetherBatchFailedError

__all__ = [
    "TaskIdentity",
    "SubmitLedger",
    "PartLike",
    "PartOutcome",
    "submit_or_attach",
    "NEVER_EXPIRE",
]

log = logging.getLogger(__name__)

try:
    from airflow.sdk import NEVER_EXPIRE
except ImportError:  # Airflow < 3.3 has no task state store; the value is never used there
    from datetime import timedelta

    NEVER_EXPIRE = timedelta.max

_LEDGER_PREFIX = "together_batch"
_REPLACEABLE = {BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}


class PartLike(Protocol):
    """What the submit loop needs to know about one input part."""

    index: int
    path: Path
    lines: int
    sha256: str


@dataclass(frozen=True)
class TaskIdentity:
    """The task instance a submission belongs to, across tries."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> TaskIdentity:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))

    @property
    def key(self) -> str:
        raw = "\x1f".join((self.dag_id, self.task_id, self.run_id, str(self.map_index)))
        return hashlib.sha256(raw.encode()).hexdigest()

    def part_filename(self, sha256: str, index: int) -> str:
        return f"apb-{self.key[:12]}-{sha256[:16]}-p{index:04d}.jsonl"


class SubmitLedger:
    """Intent and batch-id records in the task state store; a no-op when there is none.

    A failing store is logged and ignored: the API-side lookup still protects the submit.
    """

    def __init__(self, store: Any | None) -> None:
        self.store = store

    @staticmethod
    def key(index: int, sha256: str) -> str:
        return f"{_LEDGER_PREFIX}/p{index:04d}/{sha256[:16]}"

    def get(self, index: int, sha256: str) -> dict[str, Any] | None:
        if self.store is None:
            return None
        try:
            value = self.store.get(self.key(index, sha256))
        except Exception as exc:
            log.warning("task state store read failed (%s); relying on the API lookup", exc)
            return None
        return value if isinstance(value, dict) else None

    def _set(self, key: str, value: dict[str, Any]) -> None:
        if self.store is None:
            return
        try:
            self.store.set(key, value, retention=NEVER_EXPIRE)
        except Exception as exc:
            log.warning("task state store write failed (%s); relying on the API lookup", exc)

    def record_intent(self, part: PartLike, filename: str) -> None:
        self._set(
            self.key(part.index, part.sha256),
            {"phase": "intent", "filename": filename, "sha256": part.sha256, "at": _now_iso()},
        )

    def record_batch(self, part: PartLike, filename: str, job: BatchJob) -> None:
        self._set(
            self.key(part.index, part.sha256),
            {
                "phase": "submitted",
                "filename": filename,
                "sha256": part.sha256,
                "batch_id": job.id,
                "input_file_id": job.input_file_id,
                "at": _now_iso(),
            },
        )


@dataclass
class PartOutcome:
    """What happened to one part: the batch it is bound to and which path led there."""

    part: PartLike
    job: BatchJob
    path: str  # "submitted" | "re-attached (task state store)" | "re-attached (file/batch lookup)"

    @property
    def reattached(self) -> bool:
        return self.path.startswith("re-attached")


class _ApiLookup:
    """Lists files and batches at most once per submit, however many parts there are."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._files: list[FileObject] | None = None
        self._batches: list[BatchJob] | None = None

    def files_named(self, filename: str) -> list[FileObject]:
        if self._files is None:
            self._files = list(self.client.files.list())
        return [f for f in self._files if f.filename == filename]

    def batches_on(self, file_ids: set[str]) -> list[BatchJob]:
        if not file_ids:
            return []
        if self._batches is None:
            self._batches = list(self.client.batches.list())
        return [b for b in self._batches if b.input_file_id in file_ids]


def _newest(items: list[Any]) -> Any:
    floor = datetime.min.replace(tzinfo=timezone.utc)
    return max(items, key=lambda i: _aware(getattr(i, "created_at", None)) or floor)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def _now_iso() -> str:
    return datetime.now(tz=timezone.utc).isoformat()


@dataclass
class _Previous:
    job: BatchJob | None
    file_id: str | None
    source: str


def _find_previous(
    client: Any, lookup: _ApiLookup, ledger: SubmitLedger, part: PartLike, filename: str
) -> _Previous:
    record = ledger.get(part.index, part.sha256)
    if record and record.get("batch_id"):
        try:
            job = client.batches.retrieve(record["batch_id"])
            return _Previous(job, job.input_file_id, "task state store")
        except NotFoundError:
            log.warning("batch %s from the task state store no longer exists", record["batch_id"])
    files = lookup.files_named(filename)
    if not files:
        return _Previous(None, None, "")
    jobs = lookup.batches_on({f.id for f in files})
    if jobs:
        job = _newest(jobs)
        return _Previous(job, job.input_file_id, "file/batch lookup")
    # A crash between the upload's POST and its PUT leaves a named file without content; creating
    # a batch on it is refused, so only a filled file is re-used (else upload again).
    filled = [f for f in files if f.processed is not False]
    return _Previous(None, _newest(filled).id if filled else None, "file/batch lookup")


def _must_submit(previous: _Previous, *, force_resubmit: bool) -> bool:
    job = previous.job
    if job is None:
        return True
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


def _submit(
    client: Any, ledger: SubmitLedger, part: PartLike, filename: str, file_id: str | None, endpoint: str
) -> BatchJob:
    ledger.record_intent(part, filename)
    if file_id is None:
        uploaded = client.files.upload(part.path, purpose="batch-api", filename=filename)
        file_id = uploaded.id
        log.info("part %d: uploaded %s as %s (%d lines)", part.index, filename, file_id, part.lines)
    else:
        log.info("part %d: re-using uploaded file %s (%s)", part.index, file_id, filename)
    job = client.batches.create(file_id, endpoint).job
    ledger.record_batch(part, filename, job)
    return job


def submit_or_attach(
    client: Any,
    parts: list[Any],
    *,
    identity: TaskIdentity,
    ledger: SubmitLedger,
    endpoint: str,
    force_resubmit: bool = False,
) -> list[PartOutcome]:
    """Bind every part to exactly one batch: an earlier one for this identity, or a new one.

    :param client: a synchronous Together client.
    :param parts: input parts (see :class:`PartLike`), in order.
    :param identity: the task instance, without try number.
    :param ledger: intent/batch-id records (task state store).
    :param endpoint: batch endpoint for new batches.
    :param force_resubmit: replace FAILED / EXPIRED / CANCELLED batches instead of re-attaching.
    """
    lookup = _ApiLookup(client)
    outcomes: list[PartOutcome] = []
    for part in parts:
        filename = identity.part_filename(part.sha256, part.index)
        previous = _find_previous(client, lookup, ledger, part, filename)
        if _must_submit(previous, force_resubmit=force_resubmit):
            job = _submit(client, ledger, part, filename, previous.file_id, endpoint)
            outcomes.append(PartOutcome(part, job, "submitted"))
            log.info("part %d: submitted batch %s (status %s)", part.index, job.id, job.status)
            continue
        assert previous.job is not None
        outcomes.append(PartOutcome(part, previous.job, f"re-attached ({previous.source})"))
        log.info(
            "part %d: re-attached to existing batch %s (status %s) found via %s; no new batch created",
            part.index,
            previous.job.id,
            previous.job.status,
            previous.source,
        )
    return outcomes
