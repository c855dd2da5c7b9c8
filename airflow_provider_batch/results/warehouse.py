"""Load reconciled rows and batch summaries into warehouse tables through a common.sql hook.

One :meth:`WarehouseLoader.load` is one transaction: either every row and summary is visible
afterwards, or none is. Rows are keyed by ``(owner_key, batch_id, custom_id)``: a task instance
owns the rows it loads, and no other run, DAG or map index overwrites or deletes them (the rules
are in :mod:`._ownership`). Summaries (spend) are keyed by ``batch_id`` and never deleted. Every
write is an upsert, so re-running a load never duplicates a row.

How rows reach the table is the hook's dialect's business (:mod:`airflow_provider_batch.
warehouse.dialects`, picked by :func:`~airflow_provider_batch.warehouse.dialects.dialect_for`):
SQLite stages the rows in a temporary table and merges them with one upsert, so concurrent loads
into one file wait for each other's writes only; PostgreSQL streams ``COPY``; MySQL/MariaDB sends
multi-row ``INSERT … ON DUPLICATE KEY UPDATE``; DuckDB scans Arrow batches into one ``INSERT …
SELECT`` in an explicit transaction on one connection; any other DB-API database gets
delete-then-insert with ``executemany`` (atomic only where its driver and tables are
transactional).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_batch.results._adapt import adapted, result_adapter
from airflow_provider_batch.results._migrate import migrate_table
from airflow_provider_batch.results._ownership import (
    Superseded,
    mark_spend,
    replace_scope,
    supersede_batches,
    supersede_rows,
)
from airflow_provider_batch.results.models import (
    OWNER_COLUMNS,
    RESULT_COLUMNS,
    RESULT_KEY,
    SUMMARY_COLUMNS,
    SUMMARY_KEY,
    SUPERSEDED_COLUMNS,
    BatchSummary,
    ResultRow,
    RunContext,
)
from airflow_provider_batch.warehouse.dialects import dialect_for
from airflow_provider_batch.warehouse.dialects._sql import Table, check_identifier, parse_table
from airflow_provider_batch.warehouse.dialects.base import Column, SqlDialect

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_batch.results.reconcile import Reconciliation

__all__ = [
    "ADDED_RESULT_COLUMNS",
    "LoadMode",
    "LoadStats",
    "SpendState",
    "WarehouseLoader",
    "check_metadata_columns",
    "check_table_names",
]

log = logging.getLogger(__name__)

LoadMode = Literal["merge", "replace_logical_date"]

#: Results-table columns newer than the first release; :meth:`WarehouseLoader.ensure_tables` adds
#: them (and any other missing column) to an existing table.
ADDED_RESULT_COLUMNS = (
    "answered_by_batch_id", "attempts", "task_id", "map_index", "owner_key", "superseded", "superseded_by",
    "superseded_at", "response_embedding",
)  # fmt: skip


@dataclass(frozen=True)
class LoadStats:
    """What one :meth:`WarehouseLoader.load` wrote."""

    rows: int
    summaries: int
    deleted_rows: int
    deleted_summaries: int  # always 0: spend rows are never deleted
    mode: str
    dialect: str
    seconds: float
    superseded_rows: int = 0
    superseded_summaries: int = 0

    @property
    def rows_per_second(self) -> float:
        """Result rows written per second of the whole load."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class SpendState:
    """What the spend table holds about one batch (see :meth:`WarehouseLoader.spend_states`)."""

    batch_id: str
    final_status: str | None
    measured: bool
    owner_key: str | None
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    superseded: bool

    def owned_by(self, run: RunContext) -> bool:
        """The row is ``run``'s task instance's, or its run's from before rows had owners."""
        return self.owner_key in (run.owner_key, run.legacy_key)


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
        self._dialect: SqlDialect | None = None
        self._result_columns = _spread_metadata(self.metadata_columns)

    @property
    def result_columns(self) -> tuple[str, ...]:
        """Column names of the results table, in order."""
        return tuple(name for name, _ in self._result_columns)

    @property
    def summary_columns(self) -> tuple[str, ...]:
        """Column names of the spend table, in order."""
        return tuple(name for name, _ in SUMMARY_COLUMNS)

    def dialect(self) -> SqlDialect:
        """The write strategy for this hook (SQLite, PostgreSQL, MySQL or generic DB-API)."""
        if self._dialect is None:  # one per loader: ensure_tables may tell it about the server
            self._dialect = dialect_for(self.hook, name=self._dialect_name)
        return self._dialect

    def create_table_statements(self) -> list[str]:
        """The ``CREATE TABLE IF NOT EXISTS`` statements :meth:`ensure_tables` runs."""
        dialect = self.dialect()
        return [
            dialect.create_table_sql(self.results_table, self._result_columns, RESULT_KEY),
            dialect.create_table_sql(self.summary_table, SUMMARY_COLUMNS, SUMMARY_KEY),
        ]

    def named_tables(self) -> list[tuple[Table, Sequence[Column]]]:
        """Both tables, each with its columns (name, kind)."""
        return [(self.results_table, self._result_columns), (self.summary_table, SUMMARY_COLUMNS)]

    def ensure_tables(self) -> None:
        """Create both tables if they do not exist, else bring them to this release's shape.

        An existing table keeps every row: missing columns are added (NULL in older rows: the
        columns of later releases, and metadata columns the DAG gained since), rows from before
        rows had owners get ``owner_key(dag_id, NULL, run_id, NULL)`` and ``superseded = false``,
        and an older primary key is replaced (SQLite: the table is rebuilt); on Snowflake, tables
        an earlier release created quoted (``"wf_results"``) are first renamed in place
        (:meth:`~airflow_provider_batch.warehouse.dialects.base.SqlDialect.adopt_earlier_tables`,
        which refuses when both names exist); all in one
        transaction where the database has transactional DDL. See :mod:`._migrate`. Concurrent
        callers on SQLite, PostgreSQL and MySQL take turns (the dialect's lock).
        """
        dialect = self.dialect()
        with closing(dialect.connect(self.hook)) as conn:
            try:
                dialect.prepare_ddl(conn, (self.results_table, self.summary_table))
                for change in dialect.adopt_earlier_tables(conn, self.named_tables()):
                    log.info("%s", change)
                creates = zip(self.named_tables(), self.create_table_statements(), strict=True)
                for (table, _), sql in creates:
                    if not dialect.table_exists(conn, table):  # None (cannot tell): create if not exists
                        dialect.execute(conn, sql)
                self._add_missing_columns(conn, dialect)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _add_missing_columns(self, conn: Any, dialect: SqlDialect) -> None:
        tables = (
            (self.results_table, self._result_columns, RESULT_KEY),
            (self.summary_table, SUMMARY_COLUMNS, SUMMARY_KEY),
        )
        for table, columns, key in tables:
            for change in migrate_table(conn, dialect, table, columns, key):
                log.info("table %s: %s", table.sql(dialect.quote), change)

    def load(
        self,
        rows: Iterable[ResultRow],
        summaries: Sequence[BatchSummary] | Callable[[], Sequence[BatchSummary]],
        *,
        mode: LoadMode = "merge",
        logical_date: datetime | None = None,
        run: RunContext | None = None,
        superseded: Mapping[str, str | None] | None = None,
    ) -> LoadStats:
        """Write ``rows`` and ``summaries`` in one transaction: all of it is visible, or none.

        ``rows`` is consumed once, in chunks, so it can be a generator such as
        :meth:`BatchStream.rows`; a key repeated within one load keeps its last row.
        ``summaries`` may be a callable: it is called once every row is written, so summaries
        that are complete only at the end of the stream are written last, in the same
        transaction.

        The loading task instance (``run``, else the owner of the first summary or row) owns the
        rows. After writing them, in the same transaction:

        * ``"merge"``: its rows of other batches that this load answered again are marked
          ``superseded``, and so are its other current rows of every batch whose spend row is
          marked (a batch is superseded as a whole);
        * ``"replace_logical_date"``: the rows of its scope that this load did not write are
          deleted: ``(dag_id, task_id, logical_date)`` at any map index, written by another run,
          by this task instance, or by this run at a map index outside ``run.map_indexes`` (see
          :mod:`._ownership`); the other shards of this run are never touched;
        * spend rows are never deleted: those of batches whose answers were superseded or
          deleted are marked ``superseded``. A spend row keeps the owner that first loaded it.

        :param mode: ``"merge"`` or ``"replace_logical_date"``.
        :param logical_date: required for ``"replace_logical_date"``.
        :param run: the loading task instance (default: taken from the summaries or rows).
        :param superseded: more batches to mark superseded in the spend table (batch id -> the
            batch that replaced it), e.g. earlier batches of the same submission.
        :raises ValueError: for an unknown mode or a missing ``logical_date``.
        """
        if mode not in ("merge", "replace_logical_date"):
            raise ValueError(f"unknown load mode {mode!r}: use 'merge' or 'replace_logical_date'")
        if mode == "replace_logical_date" and logical_date is None:
            raise ValueError("mode 'replace_logical_date' needs logical_date")
        rows = iter(rows)
        first = next(rows, None)
        run = run or _owner_of([] if callable(summaries) else summaries, first)
        rows = itertools.chain([first] if first is not None else [], rows)
        dialect = self.dialect()
        started = time.perf_counter()
        with closing(dialect.connect(self.hook)) as conn:
            try:
                dialect.begin(conn)
                stats = self._load_in(
                    conn, dialect, rows, summaries, mode, logical_date, run, superseded or {}
                )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return dataclasses.replace(stats, seconds=time.perf_counter() - started)

    def _load_in(
        self,
        conn: Any,
        dialect: SqlDialect,
        rows: Iterable[ResultRow],
        later_summaries: Sequence[BatchSummary] | Callable[[], Sequence[BatchSummary]],
        mode: str,
        logical_date: datetime | None,
        run: RunContext | None,
        superseded: Mapping[str, str | None],
    ) -> LoadStats:
        batches: dict[str, None] = {}
        n_rows = self._write_rows(conn, dialect, _noting_batches(rows, batches))
        summaries = later_summaries() if callable(later_summaries) else later_summaries
        current = list(batches)
        replaced, deleted = Superseded(), 0
        if run is not None and mode == "replace_logical_date" and logical_date is not None:
            deleted, replaced = replace_scope(conn, dialect, self.results_table, run, current, logical_date)
        elif run is not None:
            replaced = supersede_rows(conn, dialect, self.results_table, run, current)
        n_summaries = self._write_summaries(conn, dialect, summaries)
        marked = 0
        if run is not None:
            marks = {**replaced.by, **superseded}
            in_load = current + [s.batch_id for s in summaries if not s.superseded]
            scope_date = logical_date if mode == "replace_logical_date" else None
            marked = mark_spend(conn, dialect, self.summary_table, run, marks, current=in_load,
                                logical_date=scope_date)  # fmt: skip
            if scope_date is None:  # a batch is superseded as a whole, rows and spend alike
                replaced.rows += supersede_batches(conn, dialect, self.results_table, run, marks,
                                                   current=in_load)  # fmt: skip
        return LoadStats(
            rows=n_rows, summaries=n_summaries, deleted_rows=deleted, deleted_summaries=0, mode=mode,
            dialect=dialect.name, seconds=0.0, superseded_rows=replaced.rows, superseded_summaries=marked,
        )  # fmt: skip

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

    def spend_states(self, batch_ids: Sequence[str]) -> dict[str, SpendState]:
        """What the spend table holds about ``batch_ids`` (absent ones are left out)."""
        if not batch_ids:
            return {}
        dialect = self.dialect()
        with closing(dialect.connect(self.hook)) as conn:
            found = _spend_rows(conn, dialect, self.summary_table.sql(dialect.quote), batch_ids)
        return {
            batch_id: SpendState(
                batch_id,
                row["final_status"],
                row["cost_usd_batch"] is not None,
                row["owner_key"],
                row["dag_id"],
                row["task_id"],
                row["run_id"],
                bool(row["superseded"]),
            )
            for batch_id, row in found.items()
        }

    def _write_rows(self, conn: Any, dialect: SqlDialect, rows: Iterable[ResultRow]) -> int:
        row_values = map(result_adapter(self.metadata_columns, dialect), rows)
        return dialect.write(
            conn, self.results_table, self._result_columns, RESULT_KEY, row_values, chunk_size=self.chunk_size
        )

    def _write_summaries(self, conn: Any, dialect: SqlDialect, summaries: Sequence[BatchSummary]) -> int:
        """Upsert spend rows; a row another task instance loaded first keeps its owner and marks."""
        if not summaries:
            return 0
        table = self.summary_table.sql(dialect.quote)
        existing = _spend_rows(conn, dialect, table, [s.batch_id for s in summaries])
        values = []
        for summary in summaries:
            row = summary.values()
            kept = existing.get(summary.batch_id)
            theirs = kept is not None and kept["owner_key"] != row[_SUMMARY_POS["owner_key"]]
            if kept is not None and theirs and not _adopts(kept, summary):
                named = zip(_SUMMARY_NAMES, row, strict=True)
                row = tuple(kept[n] if n in _KEPT else value for n, value in named)
            values.append(row)
        return dialect.write(
            conn, self.summary_table, SUMMARY_COLUMNS, SUMMARY_KEY, adapted(values, SUMMARY_COLUMNS, dialect),
            chunk_size=self.chunk_size, bulk=False,
        )  # fmt: skip


_SUMMARY_NAMES = tuple(name for name, _ in SUMMARY_COLUMNS)
_SUMMARY_POS = {name: i for i, name in enumerate(_SUMMARY_NAMES)}
_KEPT = frozenset(OWNER_COLUMNS + SUPERSEDED_COLUMNS)


def _adopts(kept: Mapping[str, Any], summary: BatchSummary) -> bool:
    """A spend row from before rows had owners is taken over by a task instance of its run."""
    return (kept["task_id"] is None and kept["map_index"] is None and kept["dag_id"] == summary.dag_id
            and kept["run_id"] == summary.run_id)  # fmt: skip


def _spend_rows(conn: Any, dialect: SqlDialect, table: str, batch_ids: Sequence[str]) -> dict[str, dict]:
    names = ("batch_id", "final_status", "cost_usd_batch", *OWNER_COLUMNS, *SUPERSEDED_COLUMNS)
    found: dict[str, dict] = {}
    cur = conn.cursor()
    try:
        for chunk in _chunked(list(dict.fromkeys(batch_ids)), 500):
            marks = ", ".join([dialect.placeholder] * len(chunk))
            cols = ", ".join(dialect.quote.format(n) for n in names)
            cur.execute(f"SELECT {cols} FROM {table} WHERE {dialect.quote.format('batch_id')} IN ({marks})",
                        tuple(chunk))  # fmt: skip
            for values in cur.fetchall():
                row = dict(zip(names, values, strict=True))
                row["superseded"] = bool(row["superseded"])
                found[row["batch_id"]] = row
    finally:
        cur.close()
    return found


def _chunked(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _noting_batches(rows: Iterable[ResultRow], batches: dict[str, None]) -> Iterator[ResultRow]:
    """Pass rows through, noting their batch ids in order of first appearance."""
    last = None
    for row in rows:
        if row[0] != last:
            last = row[0]
            batches[last] = None
        yield row


def _owner_of(summaries: Sequence[BatchSummary], row: ResultRow | None) -> RunContext | None:
    for s in summaries:
        return RunContext(s.dag_id, s.run_id, s.logical_date, s.loaded_at, s.task_id, s.map_index)
    if row is not None:
        return RunContext(row.dag_id, row.run_id, row.logical_date, row.loaded_at, row.task_id, row.map_index)
    return None


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
