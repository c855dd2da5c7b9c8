"""Per-database write strategies for the warehouse loader.

Each strategy writes an iterator of value tuples inside the caller's open transaction and
never commits; :class:`~airflow_provider_batch.results.warehouse.WarehouseLoader` owns the
transaction. Rows are consumed in chunks so memory stays bounded.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_batch.results._sql import (
    Table,
    column_list,
    delete_where_sql,
    insert_sql,
    on_conflict_sql,
    upsert_sql,
)

__all__ = ["GenericDialect", "PostgresDialect", "SqliteDialect", "dialect_for"]

Row = Sequence[Any]


def chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class GenericDialect:
    """Any DB-API driver: per chunk, delete the chunk's keys, then ``executemany`` the inserts."""

    name = "generic"
    types = {"text": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION", "money": "DOUBLE PRECISION"}
    types["timestamp"] = "TEXT"

    def __init__(self, quote: str = '"{}"', placeholder: str = "%s") -> None:
        self.quote = quote
        self.placeholder = placeholder

    def timestamp(self, value: datetime) -> Any:
        """How a (UTC) timestamp is bound: ISO 8601 text unless the dialect has a native type."""
        return value.isoformat()

    clean_text: Callable[[str], str] | None = None

    def begin(self, conn: Any) -> None:
        """Start the load's transaction (DB-API connections open one implicitly)."""

    def write(
        self, conn: Any, table: Table, columns: Sequence[str], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
    ) -> int:
        """Upsert ``rows`` on ``key``; return the number of rows written."""
        positions = [columns.index(k) for k in key]
        delete = delete_where_sql(table, key, self.quote, self.placeholder)
        insert = insert_sql(table, columns, self.quote, self.placeholder)
        written = 0
        cur = conn.cursor()
        try:
            for chunk in chunks(rows, chunk_size):
                cur.executemany(delete, [tuple(row[p] for p in positions) for row in chunk])
                cur.executemany(insert, chunk)
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
    """SQLite: ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE`` in one explicit transaction."""

    name = "sqlite"
    types = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "money": "REAL", "timestamp": "TEXT"}

    def __init__(self) -> None:
        super().__init__('"{}"', "?")

    def begin(self, conn: Any) -> None:
        # Manual transaction control: Python's implicit BEGIN would not cover the DELETE of
        # replace mode and the inserts as one unit on every Python version.
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")

    def write(
        self, conn: Any, table: Table, columns: Sequence[str], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
    ) -> int:
        sql = upsert_sql(table, columns, key, self.quote, self.placeholder)
        written = 0
        cur = conn.cursor()
        try:
            for chunk in chunks(rows, chunk_size):
                cur.executemany(sql, chunk)
                written += len(chunk)
        finally:
            cur.close()
        return written


class PostgresDialect(GenericDialect):
    """PostgreSQL: COPY into a temporary staging table, then one ``INSERT … SELECT … ON CONFLICT``.

    Works with psycopg 3 (``cursor.copy``) and psycopg2 (``cursor.copy_expert`` with CSV).
    """

    name = "postgresql"
    types = {
        "text": "TEXT",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "money": "DOUBLE PRECISION",
        "timestamp": "TIMESTAMPTZ",
    }
    _STAGE = '"_apb_stage"'
    _ORD = '"_apb_ord"'

    def __init__(self) -> None:
        super().__init__('"{}"', "%s")

    def timestamp(self, value: datetime) -> Any:
        return value

    @staticmethod
    def clean_text(value: str) -> str:
        # PostgreSQL text cannot hold NUL; U+FFFD keeps the position visible.
        return value.replace("\x00", "\ufffd")

    def write(
        self, conn: Any, table: Table, columns: Sequence[str], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
    ) -> int:
        if not bulk:
            sql = upsert_sql(table, columns, key, self.quote, self.placeholder)
            written = 0
            with _cursor(conn) as cur:
                for chunk in chunks(rows, chunk_size):
                    cur.executemany(sql, chunk)
                    written += len(chunk)
            return written
        cols = column_list(columns, self.quote)
        keys = column_list(key, self.quote)
        with _cursor(conn) as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._STAGE}")
            cur.execute(
                f"CREATE TEMPORARY TABLE {self._STAGE} (LIKE {table.sql(self.quote)}) ON COMMIT DROP"
            )
            # The ordinal makes "last row wins" hold for repeated keys, as with SQLite's upsert.
            cur.execute(f"ALTER TABLE {self._STAGE} ADD COLUMN {self._ORD} BIGINT GENERATED ALWAYS AS IDENTITY")
            copy_sql = f"COPY {self._STAGE} ({cols}) FROM STDIN"
            if hasattr(cur, "copy"):
                written = _copy_psycopg3(cur, copy_sql, rows)
            else:
                written = _copy_psycopg2(cur, copy_sql + " WITH (FORMAT csv)", rows, chunk_size)
            cur.execute(
                f"INSERT INTO {table.sql(self.quote)} ({cols}) "
                f"SELECT DISTINCT ON ({keys}) {cols} FROM {self._STAGE} ORDER BY {keys}, {self._ORD} DESC"
                + on_conflict_sql(columns, key, self.quote)
            )
            cur.execute(f"DROP TABLE {self._STAGE}")
        return written


class _cursor:
    """``with`` for DB-API cursors, which are not context managers on every driver."""

    def __init__(self, conn: Any) -> None:
        self.cur = conn.cursor()

    def __enter__(self) -> Any:
        return self.cur

    def __exit__(self, *exc: object) -> None:
        self.cur.close()


def _copy_psycopg3(cur: Any, sql: str, rows: Iterable[Row]) -> int:
    written = 0
    with cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _copy_psycopg2(cur: Any, sql: str, rows: Iterable[Row], chunk_size: int) -> int:
    written = 0
    for chunk in chunks(rows, chunk_size):
        buf = io.StringIO()
        buf.writelines(_csv_line(row) for row in chunk)
        buf.seek(0)
        cur.copy_expert(sql, buf)
        written += len(chunk)
    return written


def _csv_line(row: Row) -> str:
    # An unquoted empty field is NULL in COPY CSV; every string is quoted, so '' stays ''.
    return ",".join(_csv_field(v) for v in row) + "\n"


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def dialect_for(name: str, hook: Any) -> GenericDialect:
    """Pick the strategy for a hook's ``dialect_name`` (anything unknown gets the generic one)."""
    if name == "sqlite":
        return SqliteDialect()
    if name in ("postgresql", "postgres"):
        return PostgresDialect()
    quote = getattr(hook, "escape_word_format", None) or '"{}"'
    return GenericDialect(quote=quote, placeholder=getattr(hook, "placeholder", "%s"))
