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
Column = tuple[str, str]  # (name, kind)


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
        self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
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
        self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
    ) -> int:
        sql = upsert_sql(table, [name for name, _ in columns], key, self.quote, self.placeholder)
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
    _COPY_TYPES = {"text": "text", "int": "int8", "float": "float8", "money": "float8", "timestamp": "timestamptz"}

    def __init__(self) -> None:
        super().__init__('"{}"', "%s")

    def timestamp(self, value: datetime) -> Any:
        return value

    @staticmethod
    def clean_text(value: str) -> str:
        # PostgreSQL text cannot hold NUL; U+FFFD keeps the position visible.
        return value.replace("\x00", "\ufffd")

    def write(
        self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str], rows: Iterable[Row], *,
        chunk_size: int, bulk: bool = True,
    ) -> int:
        names = [name for name, _ in columns]
        if not bulk:
            sql = upsert_sql(table, names, key, self.quote, self.placeholder)
            written = 0
            with _cursor(conn) as cur:
                for chunk in chunks(rows, chunk_size):
                    cur.executemany(sql, chunk)
                    written += len(chunk)
            return written
        cols = column_list(names, self.quote)
        tracker = _KeyTracker([names.index(k) for k in key])
        with _cursor(conn) as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._STAGE}")
            cur.execute(f"CREATE TEMPORARY TABLE {self._STAGE} (LIKE {table.sql(self.quote)}) ON COMMIT DROP")
            copy_sql = f"COPY {self._STAGE} ({cols}) FROM STDIN"
            if hasattr(cur, "copy"):
                types = [self._COPY_TYPES[kind] for _, kind in columns]
                written = _copy_psycopg3(cur, copy_sql, tracker.track(rows), types)
            else:
                written = _copy_psycopg2(cur, copy_sql + " WITH (FORMAT csv)", tracker.track(rows), chunk_size)
            cur.execute(self._merge_sql(table, names, key, dedupe=tracker.repeated))
            cur.execute(f"DROP TABLE {self._STAGE}")
        return written

    def _merge_sql(self, table: Table, names: Sequence[str], key: Sequence[str], *, dedupe: bool) -> str:
        cols = column_list(names, self.quote)
        select = f"SELECT {cols} FROM {self._STAGE}"
        if dedupe:
            # Last row wins, as with SQLite's upsert: a fresh insert-only heap keeps COPY order in ctid.
            keys = column_list(key, self.quote)
            select = f"SELECT DISTINCT ON ({keys}) {cols} FROM {self._STAGE} ORDER BY {keys}, ctid DESC"
        return f"INSERT INTO {table.sql(self.quote)} ({cols}) {select}" + on_conflict_sql(names, key, self.quote)


class _KeyTracker:
    """Notices repeated keys while rows stream past, so the merge sorts only when it must."""

    def __init__(self, positions: Sequence[int]) -> None:
        if not 1 <= len(positions) <= 2:
            raise ValueError("keys of one or two columns only")
        self.positions = tuple(positions)
        self.repeated = False

    def track(self, rows: Iterable[Row]) -> Iterator[Row]:
        seen: set[tuple[Any, ...]] = set()
        add, a, b = seen.add, self.positions[0], self.positions[-1]
        size = 0
        for row in rows:
            add((row[a], row[b]))
            size += 1
            yield row
        self.repeated = len(seen) != size


class _cursor:
    """``with`` for DB-API cursors, which are not context managers on every driver."""

    def __init__(self, conn: Any) -> None:
        self.cur = conn.cursor()

    def __enter__(self) -> Any:
        return self.cur

    def __exit__(self, *exc: object) -> None:
        self.cur.close()


def _copy_psycopg3(cur: Any, sql: str, rows: Iterable[Row], types: Sequence[str]) -> int:
    written = 0
    with cur.copy(sql) as copy:
        copy.set_types(types)  # resolves each column's dumper once instead of once per value
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
