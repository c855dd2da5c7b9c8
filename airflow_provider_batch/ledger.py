"""The submission ledger: the durable record of which batch belongs to which task instance.

Every batch the provider creates is recorded here, keyed by the task instance that owns it,
``(dag_id, task_id, run_id, map_index)``, never by try number, plus the input part's index and
content SHA-256. A row moves through these states, and the state is written *before* the step it
names, so a crash at any point leaves a record the next try can finish from:

``intent`` (before the upload) -> ``uploading`` (the file id, as soon as the API assigns it,
before the bytes are sent) -> ``uploaded`` -> ``creating`` (before ``POST /batches``) ->
``created`` (the batch id). ``abandoned`` marks a row whose batch vanished from the API.

Why a ledger of our own: Together's batches carry no metadata, file names are not unique, the
Files API de-duplicates identical content, and the task state store is discarded by a clear. None
of them can say "this batch is mine". The ledger can, because it holds only what this provider
wrote, and it survives clears, retries and worker crashes.

It lives in any DB-API database reached through an Airflow connection (``ledger_conn_id``), or by
default in an SQLite file; see :mod:`airflow_provider_batch.hooks.ledger`. This module has no
Airflow imports: it works on a connection factory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from airflow_provider_batch.vendors import DEFAULT_VENDOR

__all__ = [
    "BatchOutcome",
    "BatchQuery",
    "DailySpend",
    "DEFAULT_LEDGER_TABLE",
    "DEFAULT_OUTCOME_TABLE",
    "FailureBucket",
    "Dialect",
    "LedgerConflictError",
    "LedgerError",
    "LedgerUnavailableError",
    "SubmissionLedger",
    "SubmissionRecord",
    "SubmissionState",
    "TaskIdentity",
    "sqlite_ledger",
]

log = logging.getLogger(__name__)

DEFAULT_LEDGER_TABLE = "together_batch_submissions"
DEFAULT_OUTCOME_TABLE = "together_batch_outcomes"
SubmissionState = Literal["intent", "uploading", "uploaded", "creating", "created", "abandoned"]
Dialect = Literal["sqlite", "postgres", "mysql", "generic"]
#: How long a ledger statement on SQLite waits for another writer (each write is one short transaction).
SQLITE_BUSY_TIMEOUT_MS = 60_000

_COLUMNS = (
    "submission_id", "identity_key", "dag_id", "task_id", "run_id", "map_index", "logical_date",
    "part_index", "part_sha256", "generation", "request_count", "endpoint", "together_conn_id",
    "state", "input_file_id", "batch_id", "batch_created_at", "last_status", "created_at", "updated_at",
    "model", "estimated_cost_usd", "vendor", "last_progress", "parent_batch_id",
)  # fmt: skip
# Columns added after the table was first released: ensure() adds them to an existing table.
# ``vendor`` is NULL on rows written before vendors had names: those are Together's.
# ``last_progress`` (percent, with ``last_status`` and ``updated_at``: what a task last saw) and
# ``parent_batch_id`` (the batch whose requests a follow-up batch re-sent) are NULL on older rows.
_ADDED_COLUMNS = {
    "model": "VARCHAR(200)", "estimated_cost_usd": "DOUBLE PRECISION", "vendor": "VARCHAR(32)",
    "last_progress": "DOUBLE PRECISION", "parent_batch_id": "VARCHAR(128)",
}  # fmt: skip
#: The final status of a ledger row's (alias ``s``) newest outcome, as an SQL scalar.
_NEWEST_FINAL_STATUS = (
    "(SELECT o.final_status FROM {o} o WHERE o.batch_id = s.batch_id ORDER BY o.loaded_at DESC LIMIT 1)"
)
#: The page's orders; a loaded figure is the newest load's (-1 before any load: last).
_SORTS = {
    "date": "COALESCE(s.logical_date, s.created_at) DESC",
    "spend": "COALESCE((SELECT MAX(o.cost_usd_batch) FROM {o} o WHERE o.batch_id = s.batch_id), -1) DESC",
    "failures": "COALESCE((SELECT MAX(o.failed) FROM {o} o WHERE o.batch_id = s.batch_id), -1) DESC",
}
_OUTCOME_SCALARS = (
    "batch_id", "identity_key", "dag_id", "task_id", "run_id", "map_index", "results_table",
    "summary_table", "warehouse_conn_id", "final_status", "requests", "succeeded", "failed",
    "missing", "expired", "cancelled", "prompt_tokens", "completion_tokens", "total_tokens",
    "cost_usd_batch", "cost_usd_list", "savings_usd", "loaded_at",
)  # fmt: skip


class LedgerError(RuntimeError):
    """Base of the ledger's errors."""


class LedgerUnavailableError(LedgerError):
    """The ledger could not be read or written; nothing was uploaded or created because of it."""


class LedgerConflictError(LedgerError):
    """A file or batch the API returned is already recorded for another task instance."""


@dataclass(frozen=True)
class TaskIdentity:
    """The task instance a submission belongs to, across tries and clears."""

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
        """A readable upload name; only for people reading the Files list, never for look-ups."""
        return f"apb-{self.key[:12]}-{sha256[:16]}-p{index:04d}.jsonl"


class SubmissionRecord(BaseModel):
    """One row of the ledger: one part of one task instance's input, one generation."""

    submission_id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    logical_date: datetime | None = None
    part_index: int
    part_sha256: str
    generation: int
    request_count: int | None = None
    endpoint: str
    together_conn_id: str
    state: SubmissionState
    input_file_id: str | None = None
    batch_id: str | None = None
    batch_created_at: datetime | None = None
    last_status: str | None = None
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    estimated_cost_usd: float | None = None
    #: The batch API (``together``, ``openai``); ``None`` on rows older than the column: Together.
    vendor: str | None = None
    #: Percent processed when a task last looked (``updated_at``); ``None``: not seen yet.
    last_progress: float | None = None
    #: For a follow-up batch: the batch whose failed or unanswered requests it re-sent.
    parent_batch_id: str | None = None

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


class FailureBucket(BaseModel):
    """The requests of one batch that failed with one error code, with a few of their ids."""

    code: str
    count: int
    examples: list[str] = Field(default_factory=list, description="up to five custom_ids")
    #: Of ``count``, how many a follow-up batch answered (``answered_by``): no longer failed.
    answered: int = 0
    answered_by: list[str] = Field(default_factory=list, description="the follow-up batches")


class BatchOutcome(BaseModel):
    """What a results task loaded from one batch: counts, tokens, spend, failures and where.

    ``dag_id``/``task_id``/``run_id``/``map_index`` name the *results* task instance that loaded
    it; one batch can be loaded by several (into several tables), each keeping its own outcome.
    """

    batch_id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    results_table: str
    summary_table: str
    warehouse_conn_id: str
    final_status: str
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    expired: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_list: float = 0.0
    savings_usd: float = 0.0
    failures: list[FailureBucket] = Field(default_factory=list)
    loaded_at: datetime

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


class BatchQuery(BaseModel):
    """Which batches a reader wants: exact filters (``None``: any), newest first, one page.

    ``dag_ids`` limits the answer to those DAGs (the ones the reader may see); an empty set
    matches nothing. ``since``/``until`` bound when the submission was recorded.
    """

    dag_ids: frozenset[str] | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    status: str | None = None
    #: The batch API (``together``, ``openai``); rows older than the ``vendor`` column are Together's.
    vendor: str | None = None
    #: Leave out follow-up batches (the page shows them under their parent).
    top_level: bool = False
    #: ``date``: newest run (logical date, else submission time) first; ``spend``/``failures``:
    #: the largest loaded spend or failed-request count first (unloaded batches last).
    sort: Literal["date", "spend", "failures"] = "date"
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class DailySpend(BaseModel):
    """What the batches of one UTC day, vendor and model cost, and how many requests failed."""

    day: str = Field(description="YYYY-MM-DD, UTC, of the load (or of the run's logical date)")
    vendor: str = "together"
    model: str
    batches: int = 0
    requests: int = 0
    failed: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_list: float = 0.0
    savings_usd: float = 0.0


def _now() -> str:
    return datetime.now(tz=timezone.utc).isoformat()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


class SubmissionLedger:
    """Reads and writes the ledger table through a DB-API connection factory.

    Every write is its own short transaction. The table is created on first use.

    :param connect: returns a new DB-API connection (closed by the ledger after each use).
    :param dialect: ``sqlite``, ``postgres``, ``mysql`` or ``generic``: only placeholders and
        the "already exists" handling differ.
    :param table: table name (``schema.table`` allowed); a plain identifier is required.
    :param outcome_table: the table of :class:`BatchOutcome` rows, in the same database.
    :param where: how to describe the ledger's location in messages (no secrets).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        dialect: Dialect = "generic",
        table: str = DEFAULT_LEDGER_TABLE,
        outcome_table: str = DEFAULT_OUTCOME_TABLE,
        where: str = "",
    ) -> None:
        for name in (table, outcome_table):
            if not all(part.isidentifier() for part in name.split(".")) or name.count(".") > 1:
                raise ValueError(f"unsafe ledger table name {name!r}")
        self._connect = connect
        self.dialect = dialect
        self.table = table
        self.outcome_table = outcome_table
        self.where = where or table
        self._ph = "?" if dialect == "sqlite" else "%s"
        self._ready = False
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        try:
            conn = self._connect()
        except Exception as exc:
            raise LedgerUnavailableError(
                f"the submission ledger ({self.where}) cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            cur = conn.cursor()
            yield cur
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):  # the connection may be gone; the original error matters
                conn.rollback()
            raise
        finally:
            conn.close()

    def _sql(self, text: str) -> str:
        return text.replace("{o}", self.outcome_table).replace("{t}", self.table).replace("?", self._ph)

    def ensure(self) -> None:
        """Create the table and its indexes when missing; safe to call from many processes."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            for create, table in ((self._create, self.table), (self._create_outcomes, self.outcome_table)):
                try:
                    create()
                except LedgerUnavailableError:
                    raise
                except Exception as exc:
                    # Two first uses may race on CREATE; the table being there afterwards is success.
                    if not self._exists(table):
                        raise LedgerUnavailableError(
                            f"the submission ledger table {table} could not be created in "
                            f"{self.where}: {type(exc).__name__}: {exc}"
                        ) from exc
            self._add_missing_columns()
            if self.dialect == "mysql":
                self._compare_bytes()
            self._ready = True

    def _compare_bytes(self) -> None:
        """MySQL/MariaDB: give every text column of both tables a collation that compares bytes
        (no case or accent folding, no padding), so ``dag_id`` and the other keys match only
        themselves. Tables created with the database default (or before this) are converted."""
        from airflow_provider_batch.results._mysql import byte_collation, text_collations

        with self._tx() as cur:
            collation = byte_collation(cur)
            for table in (self.table, self.outcome_table):
                schema, _, name = table.rpartition(".")
                if not set(text_collations(cur, schema or None, name).values()) - {collation}:
                    continue
                convert = f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
                try:
                    cur.execute(convert)
                except Exception as exc:
                    raise LedgerUnavailableError(
                        f"the submission ledger table {table} in {self.where} compares text without "
                        f"case and could not be converted ({type(exc).__name__}: {exc}); run, as a "
                        f"user who may alter it: {convert}"
                    ) from exc

    def _add_missing_columns(self) -> None:
        """Columns added after the table's first release, added to a table created before."""
        for name, sql_type in _ADDED_COLUMNS.items():
            if self._exists(self.table, column=name):
                continue
            try:
                with self._tx() as cur:
                    cur.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} {sql_type}")
            except LedgerUnavailableError:
                raise
            except Exception as exc:  # another process added it first
                if not self._exists(self.table, column=name):
                    raise LedgerUnavailableError(
                        f"column {name} could not be added to {self.table} in {self.where}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc

    def _create_outcomes(self) -> None:
        ident, text, money = "VARCHAR(250)", "VARCHAR(64)", "DOUBLE PRECISION"
        counts = ", ".join(
            f"{name} BIGINT NOT NULL"
            for name in _OUTCOME_SCALARS[
                _OUTCOME_SCALARS.index("requests") : _OUTCOME_SCALARS.index("total_tokens") + 1
            ]
        )
        ddl = f"""CREATE TABLE IF NOT EXISTS {self.outcome_table} (
            batch_id VARCHAR(128) NOT NULL, identity_key CHAR(64) NOT NULL,
            dag_id {ident} NOT NULL, task_id {ident} NOT NULL, run_id {ident} NOT NULL,
            map_index INTEGER NOT NULL, results_table {ident} NOT NULL, summary_table {ident} NOT NULL,
            warehouse_conn_id {ident} NOT NULL, final_status VARCHAR(32) NOT NULL, {counts},
            cost_usd_batch {money} NOT NULL, cost_usd_list {money} NOT NULL, savings_usd {money} NOT NULL,
            loaded_at {text} NOT NULL, failures_json TEXT NOT NULL,
            PRIMARY KEY (batch_id, identity_key, results_table)
        )"""
        with self._tx() as cur:
            cur.execute(ddl)

    def _create(self) -> None:
        ident, text = "VARCHAR(250)", "VARCHAR(64)"
        ddl = f"""CREATE TABLE IF NOT EXISTS {self.table} (
            submission_id VARCHAR(32) NOT NULL PRIMARY KEY,
            identity_key CHAR(64) NOT NULL,
            dag_id {ident} NOT NULL, task_id {ident} NOT NULL, run_id {ident} NOT NULL,
            map_index INTEGER NOT NULL, logical_date {text},
            part_index INTEGER NOT NULL, part_sha256 CHAR(64) NOT NULL, generation INTEGER NOT NULL,
            request_count INTEGER, endpoint VARCHAR(100) NOT NULL, together_conn_id {ident} NOT NULL,
            state VARCHAR(16) NOT NULL, input_file_id VARCHAR(128), batch_id VARCHAR(128),
            batch_created_at {text}, last_status VARCHAR(32),
            created_at {text} NOT NULL, updated_at {text} NOT NULL,
            model VARCHAR(200), estimated_cost_usd DOUBLE PRECISION, vendor VARCHAR(32),
            last_progress DOUBLE PRECISION, parent_batch_id VARCHAR(128),
            UNIQUE (identity_key, part_index, part_sha256, generation),
            UNIQUE (batch_id)
        )"""
        index = self.table.replace(".", "_")
        with self._tx() as cur:
            cur.execute(ddl)
        for name, cols in (("file", "input_file_id"), ("owner", "dag_id, run_id")):
            statement = f"CREATE INDEX {index}_{name} ON {self.table} ({cols})"
            if self.dialect in ("sqlite", "postgres"):
                statement = statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")
            try:
                with self._tx() as cur:
                    cur.execute(statement)
            except LedgerUnavailableError:
                raise
            except Exception:  # MySQL has no IF NOT EXISTS for indexes; it exists already
                pass

    def _exists(self, table: str, column: str = "1") -> bool:
        try:
            with self._tx() as cur:
                cur.execute(f"SELECT {column} FROM {table} WHERE 1 = 0")
                cur.fetchall()
            return True
        except Exception:
            return False

    def _select(
        self, where: str, params: tuple[Any, ...], order: str = "created_at"
    ) -> list[SubmissionRecord]:
        self.ensure()
        sql = self._sql(f"SELECT {', '.join(_COLUMNS)} FROM {{t}} s WHERE {where} ORDER BY {order}")
        with self._tx() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [SubmissionRecord.model_validate(dict(zip(_COLUMNS, row, strict=True))) for row in rows]

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

    def record_outcome(self, outcome: BatchOutcome) -> None:
        """Store what a results task loaded from a batch, replacing that task's earlier outcome
        for the same batch and table (a re-load reports what the table now holds)."""
        self.ensure()
        values: dict[str, Any] = {
            name: getattr(outcome, name) for name in _OUTCOME_SCALARS if name != "identity_key"
        }
        values["identity_key"] = outcome.identity.key
        values["loaded_at"] = _iso(outcome.loaded_at)
        values["failures_json"] = json.dumps([f.model_dump() for f in outcome.failures])
        key = (outcome.batch_id, values["identity_key"], outcome.results_table)
        delete = self._sql("DELETE FROM {o} WHERE batch_id = ? AND identity_key = ? AND results_table = ?")
        insert = self._sql(
            f"INSERT INTO {{o}} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})"
        )
        with self._tx() as cur:
            cur.execute(delete, key)
            cur.execute(insert, tuple(values.values()))

    def mark_answered(self, batch_id: str, follow_up_batch_id: str, answered: dict[str, int]) -> int:
        """Note on ``batch_id``'s outcomes that ``follow_up_batch_id`` answered some of its failures
        (error code -> how many); a second call for the same follow-up changes nothing. Returns how
        many outcomes changed."""
        changed = 0
        for outcome in self.outcomes_for([batch_id]):
            buckets = []
            for bucket in outcome.failures:
                n = answered.get(bucket.code, 0)
                if n and follow_up_batch_id not in bucket.answered_by:
                    bucket = bucket.model_copy(
                        update={
                            "answered": min(bucket.answered + n, bucket.count),
                            "answered_by": [*bucket.answered_by, follow_up_batch_id],
                        }
                    )
                buckets.append(bucket)
            if buckets != outcome.failures:
                self.record_outcome(outcome.model_copy(update={"failures": buckets}))
                changed += 1
        return changed

    def outcomes_for(self, batch_ids: list[str]) -> list[BatchOutcome]:
        """Every stored outcome of those batches, newest load first."""
        if not batch_ids:
            return []
        self.ensure()
        columns = [name for name in _OUTCOME_SCALARS if name != "identity_key"] + ["failures_json"]
        found: list[BatchOutcome] = []
        for start in range(0, len(batch_ids), 500):
            chunk = batch_ids[start : start + 500]
            sql = self._sql(
                f"SELECT {', '.join(columns)} FROM {{o}} WHERE batch_id IN ({', '.join('?' for _ in chunk)})"
            )
            with self._tx() as cur:
                cur.execute(sql, tuple(chunk))
                rows = cur.fetchall()
            for row in rows:
                data = dict(zip(columns, row, strict=True))
                data["failures"] = json.loads(data.pop("failures_json") or "[]")
                found.append(BatchOutcome.model_validate(data))
        return sorted(found, key=lambda o: o.loaded_at, reverse=True)

    # -- monitoring reads ----------------------------------------------------------------------

    def dag_ids(self) -> set[str]:
        """Every DAG with a batch in the ledger (the reader filters these by permission)."""
        self.ensure()
        with self._tx() as cur:
            cur.execute(self._sql("SELECT DISTINCT dag_id FROM {t} WHERE batch_id IS NOT NULL"))
            return {str(row[0]) for row in cur.fetchall()}

    def find_batches(self, query: BatchQuery) -> list[SubmissionRecord]:
        """The records with a batch that match ``query``, newest first, one page."""
        if query.dag_ids is not None and not query.dag_ids:
            return []
        params: list[Any] = []
        clauses = ["batch_id IS NOT NULL", *self._matching(query, params, "s.")]
        if query.top_level:
            clauses.append("parent_batch_id IS NULL")
        for column_op, bound in (("created_at >= ?", query.since), ("created_at < ?", query.until)):
            if bound is not None:
                clauses.append(column_op)
                params.append(_iso(bound))
        order = f"{_SORTS[query.sort]}, created_at DESC, part_index DESC, generation DESC"
        page = f"{order} LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
        return self._select(" AND ".join(clauses), tuple(params), order=page)

    def _matching(self, query: BatchQuery, params: list[Any], s: str) -> list[str]:
        """``query``'s filters on the submissions table (aliased ``s``, columns prefixed ``s``)."""
        clauses: list[str] = []
        exact = {"dag_id": query.dag_id, "run_id": query.run_id, "task_id": query.task_id,
                 "map_index": query.map_index}  # fmt: skip
        for column, value in exact.items():
            if value is not None:
                clauses.append(f"{s}{column} = ?")
                params.append(value)
        if query.status is not None:
            # The status the page shows: the newest load's final status, else the last one seen.
            clauses.append(f"UPPER(COALESCE({_NEWEST_FINAL_STATUS}, {s}last_status, {s}state)) = ?")
            params.append(neutral_status(query.status))
        if query.vendor is not None:
            clauses.append(f"COALESCE({s}vendor, '{DEFAULT_VENDOR}') = ?")
            params.append(query.vendor)
        if query.dag_ids is not None:
            clauses.append(self._in(f"{s}dag_id", query.dag_ids, params))
        return clauses

    def _in(self, column: str, values: frozenset[str] | list[str], params: list[Any]) -> str:
        names = sorted(values)
        params.extend(names)
        return f"{column} IN ({', '.join('?' for _ in names)})"

    def follow_ups_of(
        self, batch_ids: list[str], *, dag_ids: frozenset[str] | None = None
    ) -> dict[str, list[SubmissionRecord]]:
        """The follow-up batches (every round) of each of ``batch_ids``, oldest first."""
        found: dict[str, list[SubmissionRecord]] = {}
        if not batch_ids or (dag_ids is not None and not dag_ids):
            return found
        for start in range(0, len(batch_ids), 500):
            params: list[Any] = []
            where = self._in("parent_batch_id", list(batch_ids[start : start + 500]), params)
            if dag_ids is not None:
                where += " AND " + self._in("dag_id", dag_ids, params)
            for record in self._select(f"{where} AND batch_id IS NOT NULL", tuple(params)):
                found.setdefault(str(record.parent_batch_id), []).append(record)
        return found

    def daily_spend(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        dag_ids: frozenset[str] | None = None,
        query: BatchQuery | None = None,
        by: Literal["loaded", "logical"] = "loaded",
    ) -> list[DailySpend]:
        """Spend, savings and failed requests per UTC day, vendor and model, oldest day first.

        ``by="loaded"`` counts a batch on the day its results were loaded; ``by="logical"`` on its
        DAG run's logical date (a run without one, on its load day), so a backfill of three dates
        loaded today is three days. ``since``/``until`` bound that same date. ``query`` narrows
        the batches as the page's filters do (its paging is ignored). A batch loaded into several
        tables is counted once (its newest load): the money was spent once.
        """
        if dag_ids is not None and not dag_ids:
            return []
        rows = self._spend_rows(since, until, dag_ids, query, by)
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            kept = newest.get(row["batch_id"])
            if kept is None or str(row["loaded_at"]) > str(kept["loaded_at"]):
                newest[row["batch_id"]] = row
        sums: dict[tuple[str, str, str], list[float]] = {}
        for row in newest.values():
            day = str((row["logical_date"] if by == "logical" else None) or row["loaded_at"])[:10]
            key = (day, row["vendor"] or DEFAULT_VENDOR, row["model"] or "(unknown model)")
            figures = (1, row["requests"], row["failed"], row["cost_usd_batch"], row["cost_usd_list"],
                       row["savings_usd"])  # fmt: skip
            total = sums.setdefault(key, [0.0] * len(figures))
            for i, value in enumerate(figures):
                total[i] += float(value)
        fields = ("batches", "requests", "failed", "cost_usd_batch", "cost_usd_list", "savings_usd")
        return [
            DailySpend.model_validate(
                {"day": key[0], "vendor": key[1], "model": key[2], **dict(zip(fields, t, strict=True))}
            )
            for key, t in sorted(sums.items())
        ]

    def _spend_rows(
        self,
        since: datetime,
        until: datetime | None,
        dag_ids: frozenset[str] | None,
        query: BatchQuery | None,
        by: str,
    ) -> list[dict[str, Any]]:
        self.ensure()
        columns = ("batch_id", "loaded_at", "requests", "failed", "cost_usd_batch", "cost_usd_list",
                   "savings_usd", "model", "vendor", "logical_date")  # fmt: skip
        select = ", ".join(f"o.{c}" for c in columns[:7]) + ", s.model, s.vendor, s.logical_date"
        day = "COALESCE(s.logical_date, o.loaded_at)" if by == "logical" else "o.loaded_at"
        params: list[Any] = [_iso(since)]
        clauses = [f"{day} >= ?"]
        if until is not None:
            clauses.append(f"{day} < ?")
            params.append(_iso(until))
        wanted = (query or BatchQuery()).model_copy(update={"dag_ids": dag_ids})
        clauses.extend(self._matching(wanted, params, "s."))
        where = " AND ".join(clauses)
        sql = f"SELECT {select} FROM {{o}} o JOIN {{t}} s ON s.batch_id = o.batch_id WHERE {where}"
        with self._tx() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def neutral_status(status: str) -> str:
    """``in_progress``, ``IN_PROGRESS`` and ``BatchStatus.IN_PROGRESS`` all read ``IN_PROGRESS``."""
    return str(getattr(status, "value", status)).strip().upper()


def _describe(record: SubmissionRecord) -> str:
    where = f"map index {record.map_index}, " if record.map_index >= 0 else ""
    return f"dag {record.dag_id!r}, task {record.task_id!r}, {where}run {record.run_id!r}"


def sqlite_ledger(
    path: str, *, table: str = DEFAULT_LEDGER_TABLE, outcome_table: str = DEFAULT_OUTCOME_TABLE
) -> SubmissionLedger:
    """A ledger in an SQLite file (the embedded default); the folder must exist."""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        return conn

    return SubmissionLedger(
        connect, dialect="sqlite", table=table, outcome_table=outcome_table, where=f"SQLite file {path}"
    )
