"""Identifier rules, SQL text builders and statement helpers shared by the dialects.

Only validated identifiers ever reach SQL text, and they are always quoted; values are
always bound as parameters (or streamed through COPY), never formatted into SQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Table", "check_identifier", "execute_sql", "parse_table", "query_sql", "to_utc"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise :class:`ValueError`.

    Safe means ``^[A-Za-z_][A-Za-z0-9_]{0,62}$`` (fits PostgreSQL's 63-byte limit).
    """
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise ValueError(
            f"unsafe {what} {name!r}: use 1-63 characters from [A-Za-z0-9_], not starting with a digit"
        )
    return name


@dataclass(frozen=True)
class Table:
    """A validated table name, optionally schema-qualified."""

    name: str
    schema: str | None = None

    def sql(self, quote: str) -> str:
        """The quoted name, e.g. ``"schema"."table"``."""
        parts = (self.schema, self.name) if self.schema else (self.name,)
        return ".".join(quote.format(part) for part in parts)


def parse_table(name: object, what: str = "table name") -> Table:
    """Validate ``table`` or ``schema.table`` and return a :class:`Table`."""
    if not isinstance(name, str):
        raise ValueError(f"unsafe {what} {name!r}: expected a string")
    parts = name.split(".")
    if len(parts) > 2:
        raise ValueError(f"unsafe {what} {name!r}: expected 'table' or 'schema.table'")
    for part in parts:
        check_identifier(part, what)
    return Table(parts[-1], parts[0] if len(parts) == 2 else None)


def column_list(columns: Sequence[str], quote: str) -> str:
    return ", ".join(quote.format(c) for c in columns)


def create_table_sql(
    table: Table, typed_columns: Sequence[tuple[str, str]], key: Sequence[str], quote: str, options: str = ""
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` from ``(name, SQL type)`` pairs, with ``options`` appended."""
    cols = [f"{quote.format(name)} {sql_type}" for name, sql_type in typed_columns]
    cols.append(f"PRIMARY KEY ({column_list(key, quote)})")
    return f"CREATE TABLE IF NOT EXISTS {table.sql(quote)} ({', '.join(cols)}){options}"


def ddl_lock_digest(table: Table) -> bytes:
    """Eight bytes naming ``table`` for a lock that serialises its creation and migration.

    The same name, quoted or not, gives the same bytes; unrelated tables colliding would only
    make their DDL wait for each other.
    """
    return hashlib.sha256(b"apb-ddl:" + table.sql("{}").encode()).digest()[:8]


def upsert_sql(table: Table, columns: Sequence[str], key: Sequence[str], quote: str, placeholder: str) -> str:
    """``INSERT … VALUES … ON CONFLICT (key) DO UPDATE`` (SQLite ≥ 3.24 and PostgreSQL)."""
    values = ", ".join([placeholder] * len(columns))
    return (
        f"INSERT INTO {table.sql(quote)} ({column_list(columns, quote)}) VALUES ({values})"
        + on_conflict_sql(columns, key, quote)
    )


def on_conflict_sql(columns: Sequence[str], key: Sequence[str], quote: str) -> str:
    updates = ", ".join(f"{quote.format(c)} = excluded.{quote.format(c)}" for c in columns if c not in key)
    return f" ON CONFLICT ({column_list(key, quote)}) DO UPDATE SET {updates}"


def on_duplicate_key_sql(columns: Sequence[str], key: Sequence[str], quote: str) -> str:
    """MySQL's upsert tail: every non-key column takes the inserted row's value.

    ``VALUES(col)`` rather than MySQL 8's row alias, which MariaDB does not have; MySQL 8.0.20+
    only notes it as deprecated.
    """
    updates = ", ".join(f"{quote.format(c)} = VALUES({quote.format(c)})" for c in columns if c not in key)
    return f" ON DUPLICATE KEY UPDATE {updates}"


def insert_rows_sql(table: Table, columns: Sequence[str], quote: str, placeholder: str, rows: int) -> str:
    """One ``INSERT … VALUES (…), (…), …`` for ``rows`` rows (parameters flattened row by row)."""
    one = "(" + ", ".join([placeholder] * len(columns)) + ")"
    return f"INSERT INTO {table.sql(quote)} ({column_list(columns, quote)}) VALUES " + ", ".join([one] * rows)


def insert_sql(table: Table, columns: Sequence[str], quote: str, placeholder: str) -> str:
    values = ", ".join([placeholder] * len(columns))
    return f"INSERT INTO {table.sql(quote)} ({column_list(columns, quote)}) VALUES ({values})"


def delete_where_sql(table: Table, columns: Sequence[str], quote: str, placeholder: str) -> str:
    cond = " AND ".join(f"{quote.format(c)} = {placeholder}" for c in columns)
    return f"DELETE FROM {table.sql(quote)} WHERE {cond}"


def to_utc(value: datetime | None) -> datetime | None:
    """Make a timestamp timezone-aware UTC (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def query_sql(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one query on a DB-API connection; returns its rows as tuples."""
    cur = conn.cursor()
    try:
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()


def execute_sql(conn: Any, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement on a DB-API connection; returns the affected row count (0 where the
    driver cannot tell)."""
    cur = conn.cursor()
    try:
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return max(cur.rowcount, 0)
    finally:
        cur.close()
