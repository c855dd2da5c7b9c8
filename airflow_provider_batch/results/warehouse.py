"""Load reconciled rows and batch summaries into warehouse tables through a common.sql hook.

One :meth:`WarehouseLoader.load` is one transaction: either every row and summary is visible
afterwards, or none is. Rows are keyed by ``(batch_id, custom_id)`` and summaries by
``batch_id``, and every write is an upsert, so re-running a load never duplicates a row.

Fast paths by the hook's ``dialect_name``: SQLite upserts with ``executemany``; PostgreSQL
streams ``COPY`` into a temporary table and merges with one ``INSERT … SELECT … ON CONFLICT``;
MySQL/MariaDB sends multi-row ``INSERT … ON DUPLICATE KEY UPDATE``; any other DB-API database
gets delete-then-insert with ``executemany`` (atomic only where its driver and tables are
transactional, see :class:`GenericDialect`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_batch.results._adapt import adapted, result_adapter
from airflow_provider_batch.results._dialects import GenericDialect, SqliteDialect
from airflow_provider_batch.results._mysql import MySqlDialect
from airflow_provider_batch.results._postgres import PostgresDialect
from airflow_provider_batch.results._sql import check_identifier, parse_table, to_utc
from airflow_provider_batch.results.models import (
    RESULT_COLUMNS,
    RESULT_KEY,
    SUMMARY_COLUMNS,
    SUMMARY_KEY,
    BatchSummary,
    ResultRow,
)

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_batch.results.reconcile import Reconciliation

__all__ = [
    "ADDED_RESULT_COLUMNS",
    "LoadMode",
    "LoadStats",
    "WarehouseLoader",
    "check_metadata_columns",
    "check_table_names",
]

LoadMode = Literal["merge", "replace_logical_date"]

#: Results-table columns newer than the first release; :meth:`WarehouseLoader.ensure_tables` adds
#: them to an existing table.
ADDED_RESULT_COLUMNS = ("answered_by_batch_id", "attempts")


@dataclass(frozen=True)
class LoadStats:
    """What one :meth:`WarehouseLoader.load` wrote."""

    rows: int
    summaries: int
    deleted_rows: int
    deleted_summaries: int
    mode: str
    dialect: str
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Result rows written per second of the whole load."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


class WarehouseLoader:
    """Writes :class:`ResultRow` and :class:`BatchSummary` objects to two tables.

    :param hook: any Airflow common.sql ``DbApiHook`` (``SqliteHook``, ``PostgresHook``, …).
    :param results_table: ``table`` or ``schema.table`` for one row per request.
    :param summary_table: ``table`` or ``schema.table`` for one row per batch.
    :param metadata_columns: input metadata keys stored as TEXT columns after ``response_json``.
    :param dialect: force a strategy (``"sqlite"``, ``"postgresql"``, ``"mysql"`` or
        ``"generic"``) instead of the hook's ``dialect_name``.
    :param chunk_size: rows per ``executemany`` / COPY chunk.
    :raises ValueError: for any unsafe table or column name, before any SQL runs.
    """

    def __init__(
        self,
        hook: DbApiHook,
        *,
        results_table: str = "together_batch_results",
        summary_table: str = "together_batch_summary",
        metadata_columns: Sequence[str] = (),
        dialect: str | None = None,
        chunk_size: int = 10_000,
    ) -> None:
        self.hook = hook
        self.results_table = parse_table(results_table, "results table name")
        self.summary_table = parse_table(summary_table, "summary table name")
        self.metadata_columns = check_metadata_columns(metadata_columns)
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self._dialect_name = dialect
        self._dialect: GenericDialect | None = None
        self._result_columns = _spread_metadata(self.metadata_columns)

    @property
    def result_columns(self) -> tuple[str, ...]:
        """Column names of the results table, in order."""
        return tuple(name for name, _ in self._result_columns)

    @property
    def summary_columns(self) -> tuple[str, ...]:
        """Column names of the spend table, in order."""
        return tuple(name for name, _ in SUMMARY_COLUMNS)

    def dialect(self) -> GenericDialect:
        """The write strategy for this hook (SQLite, PostgreSQL, MySQL or generic DB-API)."""
        if self._dialect is None:  # one per loader: ensure_tables may tell it about the server
            name = self._dialect_name or getattr(self.hook, "dialect_name", "generic")
            self._dialect = _dialect_for(name, self.hook)
        return self._dialect

    def create_table_statements(self) -> list[str]:
        """The ``CREATE TABLE IF NOT EXISTS`` statements :meth:`ensure_tables` runs."""
        dialect = self.dialect()
        return [
            dialect.create_table_sql(self.results_table, self._result_columns, RESULT_KEY),
            dialect.create_table_sql(self.summary_table, SUMMARY_COLUMNS, SUMMARY_KEY),
        ]

    def ensure_tables(self) -> None:
        """Create both tables if they do not exist.

        An existing results table only gains the columns added in later versions
        (:data:`ADDED_RESULT_COLUMNS`, NULL in older rows); nothing else about it changes.
        Concurrent callers on SQLite, PostgreSQL and MySQL take turns (the dialect's lock).
        """
        dialect = self.dialect()
        with closing(self.hook.get_conn()) as conn:
            dialect.prepare_ddl(conn, (self.results_table, self.summary_table))
            for sql in self.create_table_statements():
                dialect.execute(conn, sql)
            self._add_missing_columns(conn, dialect)
            conn.commit()

    def _add_missing_columns(self, conn: Any, dialect: GenericDialect) -> None:
        table = self.results_table.sql(dialect.quote)
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            cur.fetchall()  # mysql-connector refuses to close a cursor with an unread result
            present = {str(d[0]).lower() for d in cur.description or ()}
        finally:
            cur.close()
        for name, kind in RESULT_COLUMNS:
            if name in ADDED_RESULT_COLUMNS and name not in present:
                column = f"{dialect.quote.format(name)} {dialect.types[kind]}"
                dialect.execute(conn, f"ALTER TABLE {table} ADD COLUMN {column}")

    def load(
        self,
        rows: Iterable[ResultRow],
        summaries: Sequence[BatchSummary],
        *,
        mode: LoadMode = "merge",
        logical_date: datetime | None = None,
    ) -> LoadStats:
        """Write ``rows`` and ``summaries`` in one transaction: all of it is visible, or none.

        ``rows`` is consumed once, in chunks, so it can be a generator such as
        :meth:`Reconciliation.rows`; a key repeated within one load keeps its last row.

        :param mode: ``"merge"`` upserts on the keys; ``"replace_logical_date"`` first deletes
            every row and summary of ``logical_date`` (for backfills), then upserts.
        :param logical_date: required for ``"replace_logical_date"``.
        :raises ValueError: for an unknown mode or a missing ``logical_date``.
        """
        if mode not in ("merge", "replace_logical_date"):
            raise ValueError(f"unknown load mode {mode!r}: use 'merge' or 'replace_logical_date'")
        if mode == "replace_logical_date" and logical_date is None:
            raise ValueError("mode 'replace_logical_date' needs logical_date")
        dialect = self.dialect()
        started = time.perf_counter()
        with closing(self.hook.get_conn()) as conn:
            try:
                dialect.begin(conn)
                deleted = (0, 0)
                if mode == "replace_logical_date" and logical_date is not None:
                    deleted = self._delete_logical_date(conn, dialect, logical_date)
                written = self._write_all(conn, dialect, rows, summaries)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return LoadStats(
            rows=written[0],
            summaries=written[1],
            deleted_rows=deleted[0],
            deleted_summaries=deleted[1],
            mode=mode,
            dialect=dialect.name,
            seconds=time.perf_counter() - started,
        )

    def load_reconciliation(
        self,
        reconciliation: Reconciliation,
        *,
        mode: LoadMode = "merge",
        logical_date: datetime | None = None,
    ) -> LoadStats:
        """Load one :class:`Reconciliation`: its rows and its summary, in one transaction."""
        rows, summaries = reconciliation.rows(), [reconciliation.summary]
        return self.load(rows, summaries, mode=mode, logical_date=logical_date)

    def _delete_logical_date(
        self, conn: Any, dialect: GenericDialect, logical_date: datetime
    ) -> tuple[int, int]:
        value = dialect.timestamp(to_utc(logical_date))
        return (
            dialect.delete_equal(conn, self.results_table, "logical_date", value),
            dialect.delete_equal(conn, self.summary_table, "logical_date", value),
        )

    def _write_all(
        self, conn: Any, dialect: GenericDialect, rows: Iterable[ResultRow], summaries: Sequence[BatchSummary]
    ) -> tuple[int, int]:
        row_values = map(result_adapter(self.metadata_columns, dialect), rows)
        n_rows = dialect.write(
            conn, self.results_table, self._result_columns, RESULT_KEY, row_values, chunk_size=self.chunk_size
        )
        summary_values = adapted((s.values() for s in summaries), SUMMARY_COLUMNS, dialect)
        n_summaries = dialect.write(
            conn, self.summary_table, SUMMARY_COLUMNS, SUMMARY_KEY, summary_values,
            chunk_size=self.chunk_size, bulk=False,
        )
        return n_rows, n_summaries


def check_table_names(results_table: str, summary_table: str) -> None:
    """Refuse table names :class:`WarehouseLoader` would refuse (call it before paying for a batch).

    :raises ValueError: naming the unsafe name.
    """
    parse_table(results_table, "results table name")
    parse_table(summary_table, "summary table name")


def check_metadata_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Refuse metadata column names that are unsafe, repeat, or clash with a result column.

    :returns: the names as a tuple.
    :raises ValueError: naming the offending names.
    """
    columns = tuple(check_identifier(c, "metadata column name") for c in names)
    fixed = {name for name, _ in RESULT_COLUMNS}
    clashes = sorted(({c.lower() for c in columns} & fixed) | _repeated(columns))
    if clashes:
        raise ValueError(f"metadata column names clash with result columns or repeat: {clashes}")
    return columns


def _repeated(names: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    repeated = set()
    for name in names:
        if name.lower() in seen:
            repeated.add(name.lower())
        seen.add(name.lower())
    return repeated


def _spread_metadata(metadata_columns: Sequence[str]) -> tuple[tuple[str, str], ...]:
    columns: list[tuple[str, str]] = []
    for name, kind in RESULT_COLUMNS:
        if name == "metadata":
            columns.extend((meta, "text") for meta in metadata_columns)
        else:
            columns.append((name, kind))
    return tuple(columns)


def _dialect_for(name: str, hook: Any) -> GenericDialect:
    """The strategy for a hook's ``dialect_name``; anything unknown gets the generic one."""
    if name == "sqlite":
        return SqliteDialect()
    if name in ("postgresql", "postgres"):
        return PostgresDialect()
    if name in ("mysql", "mariadb"):
        return MySqlDialect()
    quote = getattr(hook, "escape_word_format", None) or '"{}"'
    return GenericDialect(quote=quote, placeholder=getattr(hook, "placeholder", "%s"), hook=hook)
