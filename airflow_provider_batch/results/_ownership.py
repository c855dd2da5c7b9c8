"""Who may replace or supersede which rows: the owner rules of :class:`WarehouseLoader.load`.

Every statement here runs inside the load's transaction, after the load's rows were written,
and touches only rows of the loading task instance (its *owner*), or in replace mode of its
*scope*: the rows of ``(dag_id, task_id, logical_date)``, at any map index, that another run
wrote, that this task instance wrote, or that this run wrote at a map index the task no longer has
(an earlier expansion with more shards; :attr:`RunContext.map_indexes`). The other mapped shards
of the same run are never in it, so concurrent shards never delete each other's fresh rows:

* **merge**: a row of the owner from another batch, whose ``custom_id`` this load answered
  again, is marked ``superseded`` (``superseded_by`` = the new batch, ``superseded_at`` = the
  load's time). A batch is current or superseded as a whole, in the results as in the spend
  table: every batch whose spend row a load marks (one it answered again in part, an earlier
  generation of the submission) has the owner's other current rows marked too, so the sums
  ``WHERE NOT superseded`` of both tables stay equal (:func:`supersede_batches`);
* **replace_logical_date**: every row of the scope that this load did not write is deleted;
* rows loaded before rows had owners (``task_id`` and ``map_index`` NULL, ``owner_key`` of
  ``dag_id, run_id`` only) count as the owner's when ``dag_id`` and ``run_id`` match (merge), or
  ``dag_id`` and ``logical_date`` match and this load answered their ``custom_id`` (replace);
* spend rows are never deleted: a batch whose answers were superseded or replaced has its spend
  row marked ``superseded`` instead (when the row is the owner's, or in replace mode the scope's).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_batch.results.models import RunContext
from airflow_provider_batch.warehouse.dialects._sql import Table, to_utc
from airflow_provider_batch.warehouse.dialects._sql import execute_sql as _execute
from airflow_provider_batch.warehouse.dialects._sql import query_sql as _query
from airflow_provider_batch.warehouse.dialects.base import SqlDialect

__all__ = ["Superseded", "mark_spend", "replace_scope", "supersede_batches", "supersede_rows"]

Params = list[Any]


@dataclass
class Superseded:
    """What a load replaced: old batch -> the batch of this load that answered its requests."""

    by: dict[str, str] = field(default_factory=dict)
    rows: int = 0

    def add(self, old: Iterable[str | None], new: str) -> None:
        for batch_id in old:
            if batch_id and batch_id != new:
                self.by.setdefault(batch_id, new)


class _Where:
    """WHERE fragments with bound parameters, NULL-safe for known values; columns optionally
    qualified by a table alias."""

    def __init__(self, dialect: SqlDialect, alias: str | None = None) -> None:
        self.dialect = dialect
        self.ph = dialect.placeholder
        self._prefix = f"{alias}." if alias else ""

    def q(self, name: str) -> str:
        return self._prefix + self.dialect.quote.format(name)

    def value(self, value: Any) -> Any:
        moment = to_utc(value) if isinstance(value, datetime) else None
        return self.dialect.timestamp(moment) if moment is not None else value

    def eq(self, **columns: Any) -> tuple[str, Params]:
        parts, params = [], []
        for name, value in columns.items():
            if value is None:
                parts.append(f"{self.q(name)} IS NULL")
            else:
                parts.append(f"{self.q(name)} = {self.ph}")
                params.append(self.value(value))
        return " AND ".join(parts), params

    def within(self, name: str, values: Collection[Any], *, negate: bool = False) -> tuple[str, Params]:
        if not values:
            return ("1 = 1" if negate else "1 = 0"), []
        marks = ", ".join([self.ph] * len(values))
        return f"{self.q(name)} {'NOT IN' if negate else 'IN'} ({marks})", list(values)

    def current(self) -> tuple[str, Params]:
        return f"({self.q('superseded')} IS NULL OR {self.q('superseded')} = {self.ph})", [False]

    def owners(self, run: RunContext) -> tuple[str, Params]:
        """Rows of ``run``'s task instance, and of its run from before rows had owners."""
        return self.within("owner_key", sorted({run.owner_key, run.legacy_key}))

    def scope(self, run: RunContext, logical_date: datetime) -> tuple[str, Params]:
        """What a replace-mode load owns on its date (see the module doc): the task's rows of
        another run, its own, and its run's at map indexes the task no longer has."""
        date = self.eq(dag_id=run.dag_id, task_id=run.task_id, logical_date=logical_date)
        whose = [(f"{self.q('run_id')} <> {self.ph}", [run.run_id]), self.eq(owner_key=run.owner_key)]
        if run.map_indexes is not None:
            whose.append(self.within("map_index", run.map_indexes, negate=True))
        return _and(date, _or(*whose))

    def legacy_scope(self, run: RunContext, logical_date: datetime) -> tuple[str, Params]:
        return self.eq(task_id=None, map_index=None, dag_id=run.dag_id, logical_date=logical_date)

    def written(self, run: RunContext, batches: Collection[str]) -> tuple[str, Params]:
        """Rows this load wrote: the owner's, of the load's batches."""
        return _and(self.eq(owner_key=run.owner_key), self.within("batch_id", batches))

    def answered(self, table: Table, run: RunContext, batch_id: str) -> tuple[str, Params]:
        """This load wrote the row's ``custom_id`` in ``batch_id``: one lookup on the whole key."""
        n, quote = _Where(self.dialect, "n"), self.dialect.quote.format
        outer = self._prefix or f"{quote(table.name)}."
        sql, params = n.eq(owner_key=run.owner_key, batch_id=batch_id)
        inner = f"SELECT 1 FROM {table.sql(self.dialect.quote)} {quote('n')} WHERE {sql}"
        return f"EXISTS ({inner} AND {n.q('custom_id')} = {outer}{quote('custom_id')})", params


def _and(*parts: tuple[str, Params]) -> tuple[str, Params]:
    return " AND ".join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]


def _or(*parts: tuple[str, Params]) -> tuple[str, Params]:
    return " OR ".join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]


def _not(part: tuple[str, Params]) -> tuple[str, Params]:
    return f"NOT ({part[0]})", part[1]


def _marks(w: _Where) -> str:
    return f"{w.q('superseded')} = {w.ph}, {w.q('superseded_by')} = {w.ph}, {w.q('superseded_at')} = {w.ph}"


def _old_rows(
    conn: Any, w: _Where, table: Table, run: RunContext, batches: Sequence[str], where: tuple[str, Params]
) -> list[tuple[str, str, str | None]]:
    """Distinct ``(owner_key, batch_id, task_id)`` of the rows matching ``where`` that this load
    did not write."""
    sql, params = _and(where, _not(w.written(run, batches)))
    cols = ", ".join(w.q(c) for c in ("owner_key", "batch_id", "task_id"))
    return _query(conn, f"SELECT DISTINCT {cols} FROM {table.sql(w.dialect.quote)} WHERE {sql}", params)


def _replaced_by(
    conn: Any,
    w: _Where,
    table: Table,
    run: RunContext,
    part: tuple[str, str, str | None],
    batch_id: str,
    *,
    current_only: bool,
) -> tuple[tuple[str, Params], list[str | None]]:
    """Rows of ``part`` (an owner key and a batch) whose ``custom_id`` this load wrote in
    ``batch_id``: their WHERE clause, and the batches that answered them."""
    conditions = [w.eq(owner_key=part[0], batch_id=part[1]), w.answered(table, run, batch_id)]
    if current_only:
        conditions.insert(1, w.current())
    sql, params = _and(*conditions)
    found = _query(conn, f"SELECT DISTINCT {w.q('answered_by_batch_id')} FROM {table.sql(w.dialect.quote)} "
                         f"WHERE {sql}", params)  # fmt: skip
    return (sql, params), [part[1], *(r[0] for r in found)] if found else []


def supersede_rows(
    conn: Any, dialect: SqlDialect, table: Table, run: RunContext, batches: Sequence[str]
) -> Superseded:
    """Merge mode: mark the owner's rows of other batches that this load answered again.

    Every statement reads through the key: the owner's rows by its ``owner_key`` prefix, one
    batch at a time, each row checked with one lookup of ``(owner_key, batch_id, custom_id)``.
    """
    w, found = _Where(dialect), Superseded()
    name = table.sql(dialect.quote)
    if not batches:
        return found
    if run.legacy_key != run.owner_key:
        for batch_id in batches:
            # A row of this run from before rows had owners, of the same batch: the new row
            # (the same answer, with its full owner) takes its place.
            sql, params = _and(w.eq(owner_key=run.legacy_key, batch_id=batch_id),
                               w.answered(table, run, batch_id))  # fmt: skip
            _execute(conn, f"DELETE FROM {name} WHERE {sql}", params)
    when = w.value(run.loaded_at)
    for part in _old_rows(conn, w, table, run, batches, w.owners(run)):
        for batch_id in batches:
            (sql, params), old = _replaced_by(conn, w, table, run, part, batch_id, current_only=True)
            if old:
                found.add(old, batch_id)
                found.rows += _execute(conn, f"UPDATE {name} SET {_marks(w)} WHERE {sql}",
                                       [True, batch_id, when, *params])  # fmt: skip
    return found


def supersede_batches(
    conn: Any,
    dialect: SqlDialect,
    table: Table,
    run: RunContext,
    marks: Mapping[str, str | None],
    *,
    current: Collection[str],
) -> int:
    """Merge mode: mark the owner's still-current rows of every batch in ``marks`` (batch -> the
    batch that replaced it) but ``current``, as their spend rows are; returns the rows marked.

    Without it a batch answered again in part (a re-run whose input dropped a request) kept a
    current row while its whole spend row was marked, and the current spend no longer equalled
    the current rows' cost. Reads through the key: the owner's rows of one batch at a time.
    """
    w, marked = _Where(dialect), 0
    name, when = table.sql(dialect.quote), w.value(run.loaded_at)
    for batch_id, by in marks.items():
        if batch_id in current:
            continue
        sql, params = _and(w.owners(run), w.eq(batch_id=batch_id), w.current())
        marked += _execute(conn, f"UPDATE {name} SET {_marks(w)} WHERE {sql}", [True, by, when, *params])
    return marked


def replace_scope(
    conn: Any,
    dialect: SqlDialect,
    table: Table,
    run: RunContext,
    batches: Sequence[str],
    logical_date: datetime,
) -> tuple[int, Superseded]:
    """Replace mode: delete the scope's rows this load did not write; returns (deleted, replaced).

    One pass over the table finds the scope's other ``(owner_key, batch_id)``; everything else
    reads through the key.
    """
    w, found, deleted = _Where(dialect), Superseded(), 0
    name = table.sql(dialect.quote)
    in_scope = _or(w.scope(run, logical_date), w.legacy_scope(run, logical_date))
    for part in _old_rows(conn, w, table, run, batches, in_scope):
        # Rows from before rows had owners (no task_id) when this load knows its task.
        legacy = part[2] is None and run.task_id is not None
        for batch_id in batches:
            (sql, params), old = _replaced_by(conn, w, table, run, part, batch_id, current_only=False)
            found.add(old, batch_id)
            if legacy and old:
                # From before rows had owners: only the rows this load answered again go.
                deleted += _execute(conn, f"DELETE FROM {name} WHERE {sql}", params)
        if not legacy:
            sql, params = w.eq(owner_key=part[0], batch_id=part[1])
            deleted += _execute(conn, f"DELETE FROM {name} WHERE {sql}", params)
    return deleted, found


def mark_spend(
    conn: Any,
    dialect: SqlDialect,
    table: Table,
    run: RunContext,
    marks: Mapping[str, str | None],
    *,
    current: Sequence[str],
    logical_date: datetime | None = None,
) -> int:
    """Mark spend rows superseded (never delete them); returns how many rows were marked.

    ``marks`` maps a batch to the batch that replaced it; its row is marked when it is the
    owner's, or in replace mode (``logical_date``) the scope's or an ownerless one of that date.
    In replace mode every other current spend row of the scope is marked too (its answers were
    deleted), replaced by the load's first batch. Rows of ``current`` batches and rows already
    marked are left alone.
    """
    w = _Where(dialect)
    name = table.sql(dialect.quote)
    whose = w.owners(run)
    if logical_date is not None:
        scope = w.scope(run, logical_date)
        whose = _or(whose, scope, w.legacy_scope(run, logical_date))
        first = current[0] if current else None
        rows = _query(conn, f"SELECT {w.q('batch_id')} FROM {name} WHERE {_and(scope, w.current())[0]}",
                      _and(scope, w.current())[1])  # fmt: skip
        marks = {**{r[0]: first for r in rows}, **marks}
    marked = 0
    for batch_id, by in marks.items():
        if batch_id in current:
            continue
        sql, params = _and(w.eq(batch_id=batch_id), whose, w.current())
        marked += _execute(conn, f"UPDATE {name} SET {_marks(w)} WHERE {sql}",
                           [True, by, w.value(run.loaded_at), *params])  # fmt: skip
    return marked
