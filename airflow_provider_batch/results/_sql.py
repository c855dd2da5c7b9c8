"""Identifier checks and SQL text builders shared by the warehouse dialects.

Only validated identifiers ever reach SQL text, and they are always quoted; values are
always bound as parameters (or streamed through COPY), never formatted into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["Table", "check_identifier", "parse_table", "to_utc"]

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
    table: Table, columns: Sequence[tuple[str, str]], key: Sequence[str], quote: str, types: dict[str, str]
) -> str:
    cols = [f"{quote.format(name)} {types[kind]}" for name, kind in columns]
    cols.append(f"PRIMARY KEY ({column_list(key, quote)})")
    return f"CREATE TABLE IF NOT EXISTS {table.sql(quote)} ({', '.join(cols)})"


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
