"""The ledger's store: its connection, its two tables and their migration.

Every statement goes through the connection's SQL dialect, the same one the warehouse loader
uses (:func:`airflow_provider_batch.warehouse.dialects.dialect_for`): its parameter marker, its
index DDL, how its connections wait for another writer's lock, and how its text is made to
compare bytes (MySQL). Table and column names are the ledger's own and are written unquoted, as
the tables of earlier releases were created.

Every write is its own short transaction; the tables are created on first use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_batch.core.figures import CACHE_TOKEN_FIELDS, FIGURE_FIELDS
from airflow_provider_batch.core.status import ROW_STATUSES
from airflow_provider_batch.ledger.records import BatchOutcome, SubmissionRecord
from airflow_provider_batch.warehouse.dialects import dialect_for
from airflow_provider_batch.warehouse.dialects._sql import Table
from airflow_provider_batch.warehouse.dialects.base import SqlDialect

__all__ = [
    "DEFAULT_LEDGER_TABLE",
    "DEFAULT_OUTCOME_TABLE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Dialect",
    "LedgerConflictError",
    "LedgerError",
    "LedgerStore",
    "LedgerUnavailableError",
]

log = logging.getLogger(__name__)

DEFAULT_LEDGER_TABLE = "together_batch_submissions"
DEFAULT_OUTCOME_TABLE = "together_batch_outcomes"
#: The dialect names a ledger accepts as text (any registered name works; these are the usual).
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
# Outcome columns added after the outcome table was first released (ensure() adds them): the
# prompt-cache tokens. NULL on outcomes recorded before, which read as 0 (none recorded).
_ADDED_OUTCOME_COLUMNS = dict.fromkeys(CACHE_TOKEN_FIELDS, "BIGINT")
_OUTCOME_SCALARS = (
    "batch_id", "identity_key", "dag_id", "task_id", "run_id", "map_index", "results_table",
    "summary_table", "warehouse_conn_id", "final_status", "requests", *ROW_STATUSES, *FIGURE_FIELDS,
    "loaded_at",
)  # fmt: skip


class LedgerError(RuntimeError):
    """Base of the ledger's errors."""


class LedgerUnavailableError(LedgerError):
    """The ledger could not be read or written; nothing was uploaded or created because of it."""


class LedgerConflictError(LedgerError):
    """A file or batch the API returned is already recorded for another task instance."""


def _now() -> str:
    return datetime.now(tz=timezone.utc).isoformat()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


class LedgerStore:
    """The ledger's tables behind a DB-API connection factory (the base of every ledger part).

    :param connect: returns a new DB-API connection (closed by the ledger after each use).
    :param dialect: the database's :class:`~airflow_provider_batch.warehouse.dialects.base.
        SqlDialect`, or a registered name (``sqlite``, ``postgres``, ``mysql``, ``generic``).
    :param table: table name (``schema.table`` allowed); a plain identifier is required.
    :param outcome_table: the table of :class:`BatchOutcome` rows, in the same database.
    :param where: how to describe the ledger's location in messages (no secrets).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        dialect: Dialect | str | SqlDialect = "generic",
        table: str = DEFAULT_LEDGER_TABLE,
        outcome_table: str = DEFAULT_OUTCOME_TABLE,
        where: str = "",
    ) -> None:
        for name in (table, outcome_table):
            if not all(part.isidentifier() for part in name.split(".")) or name.count(".") > 1:
                raise ValueError(f"unsafe ledger table name {name!r}")
        self._connect = connect
        #: The SQL dialect every statement goes through (shared with the warehouse loader).
        self.sql_dialect = dialect_for(name=dialect) if isinstance(dialect, str) else dialect
        #: The dialect's name as given (``postgres``, ``sqlite``, …).
        self.dialect = dialect if isinstance(dialect, str) else dialect.name
        self.table = table
        self.outcome_table = outcome_table
        self.where = where or table
        self._ph = self.sql_dialect.placeholder
        self._ready = False
        self._lock = threading.Lock()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """One connection, committed when the block ends, rolled back if it raises, then closed."""
        try:
            conn = self._connect()
        except Exception as exc:
            raise LedgerUnavailableError(
                f"the submission ledger ({self.where}) cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            yield conn
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):  # the connection may be gone; the original error matters
                conn.rollback()
            raise
        finally:
            conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor in one transaction (see :meth:`_connection`)."""
        with self._connection() as conn:
            yield conn.cursor()

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
            self._compare_bytes()
            self._ready = True

    def _compare_bytes(self) -> None:
        """Give every text column of both tables a collation that compares bytes where the
        dialect says it needs one (MySQL/MariaDB: no case or accent folding, no padding), so
        ``dag_id`` and the other keys match only themselves. Tables created with the database
        default (or before this) are converted."""
        with self._connection() as conn:
            for table in (self.table, self.outcome_table):
                schema, _, name = table.rpartition(".")
                convert = self.sql_dialect.text_conversion_sql(conn, Table(name, schema or None))
                if convert is None:
                    continue
                try:
                    self.sql_dialect.execute(conn, convert)
                except Exception as exc:
                    raise LedgerUnavailableError(
                        f"the submission ledger table {table} in {self.where} compares text without "
                        f"case and could not be converted ({type(exc).__name__}: {exc}); run, as a "
                        f"user who may alter it: {convert}"
                    ) from exc

    def _add_missing_columns(self) -> None:
        """Columns added after a table's first release, added to a table created before."""
        for table, added in ((self.table, _ADDED_COLUMNS), (self.outcome_table, _ADDED_OUTCOME_COLUMNS)):
            for name, sql_type in added.items():
                if self._exists(table, column=name):
                    continue
                try:
                    with self._tx() as cur:
                        cur.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
                except LedgerUnavailableError:
                    raise
                except Exception as exc:  # another process added it first
                    if not self._exists(table, column=name):
                        raise LedgerUnavailableError(
                            f"column {name} could not be added to {table} in {self.where}: "
                            f"{type(exc).__name__}: {exc}; run, as a user who may alter it: "
                            f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"
                        ) from exc

    def _create_outcomes(self) -> None:
        ident, text, money = "VARCHAR(250)", "VARCHAR(64)", "DOUBLE PRECISION"
        counts = ", ".join(
            f"{name} BIGINT NOT NULL"
            for name in _OUTCOME_SCALARS[
                _OUTCOME_SCALARS.index("requests") : _OUTCOME_SCALARS.index("total_tokens") + 1
            ]
        )
        cache = ", ".join(f"{name} {sql_type}" for name, sql_type in _ADDED_OUTCOME_COLUMNS.items())
        ddl = f"""CREATE TABLE IF NOT EXISTS {self.outcome_table} (
            batch_id VARCHAR(128) NOT NULL, identity_key CHAR(64) NOT NULL,
            dag_id {ident} NOT NULL, task_id {ident} NOT NULL, run_id {ident} NOT NULL,
            map_index INTEGER NOT NULL, results_table {ident} NOT NULL, summary_table {ident} NOT NULL,
            warehouse_conn_id {ident} NOT NULL, final_status VARCHAR(32) NOT NULL, {counts},
            cost_usd_batch {money} NOT NULL, cost_usd_list {money} NOT NULL, savings_usd {money} NOT NULL,
            loaded_at {text} NOT NULL, failures_json TEXT NOT NULL, {cache},
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
            statement = self.sql_dialect.create_index_sql(f"{index}_{name}", self.table, cols)
            try:
                with self._tx() as cur:
                    cur.execute(statement)
            except LedgerUnavailableError:
                raise
            except Exception:  # no IF NOT EXISTS for indexes here (MySQL): it exists already
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
                for name in _ADDED_OUTCOME_COLUMNS:  # NULL: recorded before the column
                    data[name] = data[name] or 0
                found.append(BatchOutcome.model_validate(data))
        return sorted(found, key=lambda o: o.loaded_at, reverse=True)
