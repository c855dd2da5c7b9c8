"""Per-database write strategies for the warehouse loader.

Each strategy (PostgreSQL's lives in :mod:`._postgres`, MySQL's in :mod:`._mysql`) writes an
iterator of value tuples inside the caller's open transaction and never commits: the loader owns
the transaction. Rows are consumed in chunks so memory stays bounded.

Besides writing, a strategy owns two moments of the loader's connections: :meth:`~GenericDialect.
prepare_ddl` runs first on the connection that creates and migrates the tables (to serialise
concurrent loaders), and :meth:`~GenericDialect.begin` opens the load's transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import msgspec

from airflow_provider_batch.results._sql import (
    Table,
    column_list,
    create_table_sql,
    delete_where_sql,
    insert_sql,
    on_conflict_sql,
    upsert_sql,
)

__all__ = ["Column", "GenericDialect", "Row", "SqliteDialect", "chunks"]

Row = Sequence[Any]
Column = tuple[str, str]  # (name, kind)


_encode = msgspec.json.Encoder().encode


def chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class GenericDialect:
    """Any DB-API driver: per chunk, delete the chunk's keys, then ``executemany`` the inserts.

    Atomicity comes from the driver's transaction alone: :meth:`begin` turns autocommit off
    through the hook (PEP 249's default anyway) and the loader commits once at the end, so a load
    is all-or-nothing wherever the database's tables are transactional. On a database or driver
    that commits every statement regardless, nothing is atomic: a crash keeps the chunks written
    so far and can lose the old rows of the chunk whose keys were deleted but not yet re-inserted,
    until the load is re-run. DDL is not serialised here (see :meth:`prepare_ddl`).

    :param quote: identifier format, e.g. ``'"{}"'``.
    :param placeholder: the driver's parameter marker, e.g. ``"%s"`` or ``"?"``.
    :param hook: the Airflow hook, used only to turn autocommit off (if it supports autocommit).
    """

    name = "generic"
    # Key columns are VARCHAR: some databases (MySQL) cannot index TEXT without a prefix length.
    types: ClassVar[dict[str, str]] = {"key": "VARCHAR(255)", "text": "TEXT", "int": "BIGINT"}
    types |= {"float": "DOUBLE PRECISION"}
    types |= {"money": "DOUBLE PRECISION", "timestamp": "TEXT", "bool": "BOOLEAN"}
    #: An embedding: JSON text unless the dialect has a native array (see :meth:`vector`).
    types |= {"vector": "TEXT"}

    def __init__(self, quote: str = '"{}"', placeholder: str = "%s", hook: Any = None) -> None:
        self.quote = quote
        self.placeholder = placeholder
        self._hook = hook if getattr(hook, "supports_autocommit", False) else None

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        """The ``CREATE TABLE IF NOT EXISTS`` statement for ``columns`` (name, kind) keyed on ``key``."""
        return create_table_sql(table, [(name, self.types[kind]) for name, kind in columns], key, self.quote)

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        """The SQL type of column ``name`` of ``kind`` (``in_key``: part of the primary key)."""
        return self.types[kind]

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        """Called first on the connection that creates and migrates ``tables``.

        Dialects that can serialise concurrent loaders here hold a lock until that connection's
        transaction ends or the connection closes. The generic one cannot: concurrent first loads
        on such a database rely on its own ``CREATE TABLE IF NOT EXISTS`` (a failed one succeeds
        when the task is retried).
        """

    def migrate_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """Bring the existing ``columns`` of ``table`` to this dialect's types and collations (run
        by the migration once the columns and key are in place); returns what changed."""
        return []

    def timestamp(self, value: datetime) -> Any:
        """How a (UTC) timestamp is bound: ISO 8601 text unless the dialect has a native type."""
        return value.isoformat()

    def vector(self, value: list[Any]) -> Any:
        """How an embedding is bound: JSON text (``[0.1,-0.2]``; nested for several vectors)
        unless the dialect has a native array type."""
        return _encode(value).decode()

    clean_text: Callable[[str], str] | None = None

    def begin(self, conn: Any) -> None:
        """Start the load's transaction: DB-API connections open one implicitly, unless autocommit
        is on, so turn it off (through the hook where there is one, else a boolean
        ``conn.autocommit`` as psycopg and most drivers have)."""
        if self._hook is not None:
            self._hook.set_autocommit(conn, False)
        elif getattr(conn, "autocommit", None) is True:
            conn.autocommit = False

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
        """Upsert ``rows`` (tuples in ``columns`` order) on ``key``; return the number written."""
        names = [name for name, _ in columns]
        positions = [names.index(k) for k in key]
        delete = delete_where_sql(table, key, self.quote, self.placeholder)
        insert = insert_sql(table, names, self.quote, self.placeholder)
        written = 0
        cur = conn.cursor()
        try:
            for chunk in chunks(rows, chunk_size):
                # Last row wins for a key repeated inside the chunk (earlier chunks: the DELETE).
                latest = {tuple(row[p] for p in positions): row for row in chunk}
                cur.executemany(delete, list(latest))
                cur.executemany(insert, list(latest.values()))
                written += len(chunk)
        finally:
            cur.close()
        return written

    def delete_equal(self, conn: Any, table: Table, column: str, value: Any) -> int:
        """``DELETE FROM table WHERE column = value``; return the deleted row count."""
        cur = conn.cursor()
        try:
            cur.execute(delete_where_sql(table, [column], self.quote, self.placeholder), (value,))
            return max(cur.rowcount, 0)
        finally:
            cur.close()

    def execute(self, conn: Any, sql: str) -> None:
        cur = conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()


class SqliteDialect(GenericDialect):
    """SQLite: rows staged in a temporary table, then merged with one ``INSERT … SELECT … ON
    CONFLICT DO UPDATE`` in a write transaction that begins only then.

    SQLite has one writer per database file. Concurrent loads (mapped results tasks) take turns:
    each waits up to :attr:`BUSY_TIMEOUT_MS` for the write lock instead of sqlite3's 5 s, and
    holds it only while it writes. Parsing the batch's lines, the slow part, fills a staging
    table in the connection's own ``temp`` database (a file that SQLite's page cache spills to,
    so memory stays flat), which no other connection waits for.
    """

    name = "sqlite"
    types: ClassVar[dict[str, str]] = {"key": "TEXT", "text": "TEXT", "int": "INTEGER", "float": "REAL"}
    types |= {"money": "REAL"}
    types |= {"timestamp": "TEXT", "bool": "INTEGER", "vector": "TEXT"}
    #: How long a statement waits for another connection's lock on the database file.
    BUSY_TIMEOUT_MS = 600_000
    _STAGE = 'temp."_apb_stage"'

    def __init__(self) -> None:
        super().__init__('"{}"', "?")

    def begin(self, conn: Any) -> None:
        """Prepare the load's connection; the write transaction begins at the first write
        (:meth:`write` stages its rows before that, see the class docstring)."""
        # Manual transaction control: Python's implicit BEGIN would not cover the DELETE of
        # replace mode and the inserts as one unit on every Python version.
        conn.isolation_level = None
        conn.execute(f"PRAGMA busy_timeout = {int(self.BUSY_TIMEOUT_MS)}")
        conn.execute("PRAGMA temp_store = FILE")

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        # The database's write lock, taken up front: a second loader then sees the first one's
        # tables and columns instead of adding the same column again.
        self.begin(conn)
        conn.execute("BEGIN IMMEDIATE")

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
        names = [name for name, _ in columns]
        if bulk and not conn.in_transaction:
            written = self._stage(conn, names, rows, chunk_size)
            conn.execute("BEGIN IMMEDIATE")
            with _cursor(conn) as cur:
                cols = column_list(names, self.quote)
                # WHERE true: SQLite's parser needs it between a SELECT and ON CONFLICT; rowid
                # order makes the last row of a key repeated within the load win.
                cur.execute(
                    f"INSERT INTO {table.sql(self.quote)} ({cols}) SELECT {cols} FROM {self._STAGE} "
                    f"WHERE true ORDER BY rowid{on_conflict_sql(names, key, self.quote)}"
                )
                cur.execute(f"DROP TABLE {self._STAGE}")
            return written
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        sql = upsert_sql(table, names, key, self.quote, self.placeholder)
        written = 0
        with _cursor(conn) as cur:
            for chunk in chunks(rows, chunk_size):
                cur.executemany(sql, chunk)
                written += len(chunk)
        return written

    def _stage(self, conn: Any, names: Sequence[str], rows: Iterable[Row], chunk_size: int) -> int:
        """Write ``rows`` into the temporary staging table, in a transaction of the temp database
        only (no lock on the warehouse file); returns their number."""
        insert = f"INSERT INTO {self._STAGE} VALUES ({', '.join([self.placeholder] * len(names))})"
        written = 0
        conn.execute("BEGIN")
        try:
            with _cursor(conn) as cur:
                cur.execute(f"DROP TABLE IF EXISTS {self._STAGE}")
                cur.execute(f"CREATE TABLE {self._STAGE} ({column_list(names, self.quote)})")
                for chunk in chunks(rows, chunk_size):
                    cur.executemany(insert, chunk)
                    written += len(chunk)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return written


class _cursor:
    """``with`` for DB-API cursors, which are not context managers on every driver."""

    def __init__(self, conn: Any) -> None:
        self.cur = conn.cursor()

    def __enter__(self) -> Any:
        return self.cur

    def __exit__(self, *exc: object) -> None:
        self.cur.close()
