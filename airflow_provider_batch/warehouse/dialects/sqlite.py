"""SQLite: rows staged in a temporary table and merged with one upsert; a primary key is changed
by rebuilding the table."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from airflow_provider_batch.warehouse.dialects._sql import (
    Table,
    column_list,
    create_table_sql,
    on_conflict_sql,
    upsert_sql,
)
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect, _cursor, chunks, digest

__all__ = ["SqliteDialect"]


class SqliteDialect(SqlDialect):
    """SQLite: rows staged in a temporary table, then merged with one ``INSERT … SELECT … ON
    CONFLICT DO UPDATE`` in a write transaction that begins only then.

    SQLite has one writer per database file. Concurrent loads (mapped results tasks) take turns:
    each waits up to :attr:`BUSY_TIMEOUT_MS` for the write lock instead of sqlite3's 5 s, and
    holds it only while it writes. Parsing the batch's lines, the slow part, fills a staging
    table in the connection's own ``temp`` database (a file that SQLite's page cache spills to,
    so memory stays flat), which no other connection waits for.

    SQLite cannot alter a primary key: :meth:`replace_key` rebuilds the table (create new, copy,
    drop, rename), creating its own indexes and triggers again from their saved SQL; views and
    other tables' triggers that name it are left as they are, naming the new table.
    """

    name = "sqlite"
    types: ClassVar[dict[str, str]] = {"key": "TEXT", "text": "TEXT", "int": "INTEGER", "float": "REAL"}
    types |= {"money": "REAL"}
    types |= {"timestamp": "TEXT", "bool": "INTEGER", "vector": "TEXT"}
    index_if_not_exists = True
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
        self.wait_for_locks(conn, self.BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA temp_store = FILE")

    def wait_for_locks(self, conn: Any, milliseconds: int) -> Any:
        conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
        return conn

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        # The database's write lock, taken up front: a second loader then sees the first one's
        # tables and columns instead of adding the same column again.
        self.begin(conn)
        conn.execute("BEGIN IMMEDIATE")

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        rows = self.query(
            conn, f"PRAGMA {_schema_prefix(table, self.quote)}table_info({self.quote.format(table.name)})"
        )
        return tuple(name for _, name in sorted((r[5], r[1]) for r in rows if r[5]))

    def digest_sql(self, conn: Any, columns: Sequence[str], length: int) -> str | None:
        conn.create_function("apb_digest", -1, _digest_of, deterministic=True)
        return f"substr(apb_digest({', '.join(columns)}), 1, {int(length)})"

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        """Rebuild: create new, copy, drop old, rename new; the table's own indexes and triggers
        are created again."""
        quote = self.quote
        wanted = {name.lower() for name, _ in columns}
        declared = self.query(
            conn, f"PRAGMA {_schema_prefix(table, quote)}table_info({quote.format(table.name)})"
        )
        # Columns only this table has (metadata columns of other DAGs) are kept, with their type.
        extra = [(r[1], r[2] or "TEXT") for r in declared if r[1].lower() not in wanted]
        new = Table(f"{table.name}__apb_rekey", table.schema)
        specs = [(name, self.types[kind]) for name, kind in columns] + extra
        self.execute(conn, f"DROP TABLE IF EXISTS {new.sql(quote)}")
        self.execute(conn, create_table_sql(new, specs, key, quote).replace(" IF NOT EXISTS", "", 1))
        names = column_list([name for name, _ in specs], quote)
        self.execute(conn, f"INSERT INTO {new.sql(quote)} ({names}) SELECT {names} FROM {table.sql(quote)}")
        # Dropping the table drops its indexes and triggers: keep their SQL and create them again.
        dependants = self.query(
            conn,
            f"SELECT sql FROM {_schema_prefix(table, quote)}sqlite_master WHERE tbl_name = ? "
            "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
            (table.name,),
        )
        self.execute(conn, f"DROP TABLE {table.sql(quote)}")
        self._rename_keeping_views(conn, new, table.name)
        for (sql,) in dependants:
            self.execute(conn, _in_schema(sql, table, quote))

    def _rename_keeping_views(self, conn: Any, table: Table, name: str) -> None:
        """Rename ``table`` to ``name`` without SQLite checking other views and triggers first.

        A view or trigger that names the old table would fail that check (``error in view …: no
        such table``) while the old table is gone; legacy renaming leaves them as they are, and
        they name the new table once it has the old name.
        """
        (legacy,) = self.query(conn, "PRAGMA legacy_alter_table")[0]
        self.execute(conn, "PRAGMA legacy_alter_table = ON")
        try:
            self.execute(conn, f"ALTER TABLE {table.sql(self.quote)} RENAME TO {self.quote.format(name)}")
        finally:
            self.execute(conn, f"PRAGMA legacy_alter_table = {int(legacy)}")

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


def _digest_of(*values: Any) -> str:
    return digest(64, *values)


def _schema_prefix(table: Table, quote: str) -> str:
    return f"{quote.format(table.schema)}." if table.schema else ""


def _in_schema(sql: str, table: Table, quote: str) -> str:
    """An index's or trigger's ``CREATE`` statement from ``sqlite_master``, for the table's schema:
    SQLite keeps it without the schema name, which goes before the object's name."""
    if not table.schema:
        return sql
    return _CREATE_HEAD.sub(lambda m: f"{m.group(1)}{quote.format(table.schema)}.", sql, count=1)


_CREATE_HEAD = re.compile(r"^(\s*CREATE\s+(?:UNIQUE\s+)?(?:INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?)", re.I)
