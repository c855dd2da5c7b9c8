"""The dialect contract: everything the warehouse loader and the ledger need to know about one
database, in one class per database.

The loader, the table migration, the ownership rules and the submission ledger never branch on
a database's name: they ask the connection's dialect (:func:`~airflow_provider_batch.warehouse.
dialects.dialect_for`). Adding a database is one module in this folder plus one
:func:`~airflow_provider_batch.warehouse.dialects.register_dialect` line. A dialect supplies:

============================  ===============================================================
what                          how
============================  ===============================================================
identifier rules              :attr:`~SqlDialect.quote` (the identifier format, e.g. ``"{}"``);
                              names are validated once (:func:`._sql.check_identifier`,
                              :func:`._sql.parse_table`) and always quoted, values always bound.
parameter marker              :attr:`~SqlDialect.placeholder` (``%s``, ``?``).
column types                  :attr:`~SqlDialect.types`: one SQL type per column kind (``key``,
                              ``text``, ``int``, ``float``, ``money``, ``timestamp``, ``bool``,
                              ``vector``: JSON text, or a native float array where the database
                              has one); :meth:`~SqlDialect.column_type` for key columns.
DDL                           :meth:`~SqlDialect.create_table_sql`, :meth:`~SqlDialect.add_column`,
                              :meth:`~SqlDialect.create_index_sql` (``IF NOT EXISTS`` where the
                              database has it).
bound values                  :meth:`~SqlDialect.timestamp`, :meth:`~SqlDialect.vector`
                              (JSON text by default), :attr:`~SqlDialect.clean_text`.
upsert / merge                :meth:`~SqlDialect.write`: rows upserted on a key inside the
                              caller's transaction, last row of a repeated key wins (abstract).
connection                    :meth:`~SqlDialect.connect`: the hook's connection, as the loader
                              uses it (DuckDB: one whose cursors share its transaction).
transactions                  :meth:`~SqlDialect.prepare_ddl` (serialise concurrent creators:
                              lock first), :meth:`~SqlDialect.begin` (open the load's
                              transaction); the caller commits or rolls back, never the dialect.
                              :meth:`~SqlDialect.wait_for_locks`: how long a statement waits for
                              another writer (SQLite's busy timeout).
key introspection             :meth:`~SqlDialect.primary_key` (``None``: cannot tell; then the
                              key is never changed and a warning says what to run);
                              :meth:`~SqlDialect.table_exists` (``None``: cannot tell; then
                              ``CREATE TABLE IF NOT EXISTS`` always runs).
re-keying                     :meth:`~SqlDialect.replace_key` (called only where
                              :meth:`~SqlDialect.primary_key` can tell): ``ALTER`` on PostgreSQL
                              and MySQL, a rebuild on SQLite and DuckDB.
computed migration values     :meth:`~SqlDialect.digest_sql`: SHA-256 in SQL (``None``: the
                              caller computes it row group by row group).
earlier names                 :meth:`~SqlDialect.adopt_earlier_tables`: rename tables an
                              earlier release wrote under other names (Snowflake: the generic
                              path's quoted ``"wf_results"``); :class:`TableNameConflict` when
                              both exist.
retyping                      :meth:`~SqlDialect.migrate_columns`,
                              :meth:`~SqlDialect.text_conversion_sql` (text that compares bytes).
============================  ===============================================================

A dialect object belongs to one loader or one ledger: MySQL's learns facts about its server
(collation, packet size) when it prepares DDL or begins a load.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import msgspec

from airflow_provider_batch.core.identity import joined_digest
from airflow_provider_batch.warehouse.dialects._sql import (
    Table,
    create_table_sql,
    delete_where_sql,
    execute_sql,
    query_sql,
)

__all__ = ["Column", "Row", "SqlDialect", "TableNameConflict", "chunks", "digest"]

Row = Sequence[Any]
Column = tuple[str, str]  # (name, kind)


_encode = msgspec.json.Encoder().encode


def chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def digest(length: int, *values: Any) -> str:
    """What :meth:`SqlDialect.digest_sql` computes: the first ``length`` hex characters of the
    SHA-256 of the values' text joined by U+001F (UTF-8; ``None`` and ``""`` as ``""``)."""
    return joined_digest(*values)[:length]


class TableNameConflict(ValueError):
    """An earlier release's table and this release's table both exist under names the database
    tells apart: loading would split the history (and the spend ledger) across the two.

    :param table: the names of both tables, as the message gives them.
    :param problem: what was found.
    :param remedy: what to run to resolve it.
    """

    def __init__(self, table: str, problem: str, remedy: str) -> None:
        super().__init__(f"{table}: {problem}. {remedy}")
        self.table, self.problem, self.remedy = table, problem, remedy


class SqlDialect(abc.ABC):
    """One database's SQL: see the module docstring for what a dialect supplies.

    :param quote: identifier format, e.g. ``'"{}"'``.
    :param placeholder: the driver's parameter marker, e.g. ``"%s"`` or ``"?"``.
    """

    #: The name the registry knows it by (and :class:`LoadStats` reports).
    name: ClassVar[str]
    types: ClassVar[dict[str, str]]
    #: DDL may run inside the load's transaction (BigQuery's may not: it runs before).
    transactional_ddl: ClassVar[bool] = True
    #: ``CREATE INDEX IF NOT EXISTS`` works (else a failed ``CREATE INDEX`` means it exists).
    index_if_not_exists: ClassVar[bool] = False
    #: Cleans text the database cannot hold (PostgreSQL: NUL); ``None``: every text fits.
    clean_text: Callable[[str], str] | None = None

    def __init__(self, quote: str = '"{}"', placeholder: str = "%s") -> None:
        self.quote = quote
        self.placeholder = placeholder

    # -- DDL ------------------------------------------------------------------------------------

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        """The ``CREATE TABLE IF NOT EXISTS`` statement for ``columns`` (name, kind) keyed on ``key``."""
        return create_table_sql(table, [(name, self.types[kind]) for name, kind in columns], key, self.quote)

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        """The SQL type of column ``name`` of ``kind`` (``in_key``: part of the primary key)."""
        return self.types[kind]

    def add_column(self, conn: Any, table: Table, name: str, kind: str, in_key: bool = False) -> None:
        """``ALTER TABLE … ADD COLUMN`` of ``kind``."""
        column = f"{self.quote.format(name)} {self.column_type(name, kind, in_key)}"
        self.execute(conn, f"ALTER TABLE {table.sql(self.quote)} ADD COLUMN {column}")

    def create_index_sql(self, name: str, table: str, columns: str) -> str:
        """``CREATE INDEX`` (``IF NOT EXISTS`` where :attr:`index_if_not_exists`); names as given."""
        head = "CREATE INDEX IF NOT EXISTS" if self.index_if_not_exists else "CREATE INDEX"
        return f"{head} {name} ON {table} ({columns})"

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        """Called first on the connection that creates and migrates ``tables``.

        Dialects that can serialise concurrent loaders here hold a lock until that connection's
        transaction ends or the connection closes. The default cannot: concurrent first loads
        rely on the database's own ``CREATE TABLE IF NOT EXISTS`` (a failed one succeeds when the
        task is retried).
        """
        return None

    # -- migration ------------------------------------------------------------------------------

    def adopt_earlier_tables(self, conn: Any, tables: Sequence[tuple[Table, Sequence[Column]]]) -> list[str]:
        """Give tables an earlier release wrote under other names (``tables``: each table and
        the columns this release writes, name and kind) the names this dialect uses, keeping their rows; run
        before ``CREATE TABLE IF NOT EXISTS``. Returns what changed; the default has nothing to do.

        :raises TableNameConflict: both the earlier and the current table exist.
        """
        return []

    def table_exists(self, conn: Any, table: Table) -> bool | None:
        """Whether ``table`` exists, from the catalogue (``None``: this dialect cannot tell).
        Where it can tell, the loader skips ``CREATE TABLE IF NOT EXISTS`` for an existing table,
        so a table an administrator created needs no ``CREATE`` privilege to be loaded."""
        return None

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        """The table's primary-key columns in key order, or ``None`` where that is not known."""
        return None

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        """Give ``table`` (which has every one of ``columns`` by now) the primary key ``key``,
        keeping its rows. Called only where :meth:`primary_key` answered."""
        raise NotImplementedError(f"changing a primary key on {self.name}")

    def digest_sql(self, conn: Any, columns: Sequence[str], length: int) -> str | None:
        """An SQL expression equal to :func:`digest` of ``columns`` (quoted names), or ``None``
        where the database cannot compute one."""
        return None

    def migrate_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """Bring the existing ``columns`` of ``table`` to this dialect's types and collations (run
        by the migration once the columns and key are in place); returns what changed."""
        return []

    def text_conversion_sql(self, conn: Any, table: Table) -> str | None:
        """The statement that makes ``table``'s text compare bytes (no case, accent or padding
        folding), or ``None`` when it does already (every database but MySQL)."""
        return None

    # -- values ---------------------------------------------------------------------------------

    def timestamp(self, value: datetime) -> Any:
        """How a (UTC) timestamp is bound: ISO 8601 text unless the dialect has a native type."""
        return value.isoformat()

    def vector(self, value: list[Any]) -> Any:
        """How an embedding is bound: JSON text (``[0.1,-0.2]``; nested for several vectors)
        unless the dialect has a native array type."""
        return _encode(value).decode()

    # -- transactions and writes ----------------------------------------------------------------

    def connect(self, hook: Any) -> Any:
        """A new connection from ``hook`` for one load, migration or probe (closed by the caller)."""
        return hook.get_conn()

    def wait_for_locks(self, conn: Any, milliseconds: int) -> Any:
        """Make statements on ``conn`` wait up to ``milliseconds`` for another connection's lock
        before failing; returns ``conn``. Server databases wait by themselves: nothing to do."""
        return conn

    def begin(self, conn: Any) -> None:
        """Start the load's transaction: DB-API connections open one implicitly, unless
        autocommit is on, so turn it off (a boolean ``conn.autocommit`` as psycopg and most
        drivers have)."""
        if getattr(conn, "autocommit", None) is True:
            conn.autocommit = False

    @abc.abstractmethod
    def write(
        self,
        conn: Any,
        table: Table,
        columns: Sequence[Column],
        key: Sequence[str],
        rows: Iterable[Row],
        *,
        chunk_size: int,
        bulk: bool = True,
    ) -> int:
        """Upsert ``rows`` (tuples in ``columns`` order) on ``key`` inside the caller's
        transaction; a key repeated in ``rows`` keeps its last row. Returns the number written.

        ``bulk=False``: a few rows (spend), no staging.
        """

    def delete_equal(self, conn: Any, table: Table, column: str, value: Any) -> int:
        """``DELETE FROM table WHERE column = value``; return the deleted row count."""
        return self.execute(conn, delete_where_sql(table, [column], self.quote, self.placeholder), (value,))

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the affected row count (0 where the driver cannot tell)."""
        return execute_sql(conn, sql, params)

    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; returns its rows as tuples."""
        return query_sql(conn, sql, params)


class _cursor:
    """``with`` for DB-API cursors, which are not context managers on every driver."""

    def __init__(self, conn: Any) -> None:
        self.cur = conn.cursor()

    def __enter__(self) -> Any:
        return self.cur

    def __exit__(self, *exc: object) -> None:
        self.cur.close()
