"""Bring an existing results or spend table to this release's shape, in place, keeping every row.

Runs inside the caller's transaction (see :meth:`WarehouseLoader.ensure_tables`), so a failure
leaves the table as it was:

* a column the table lacks (a newer release's, or a metadata column a DAG gained) is added;
  older rows hold NULL there;
* rows without an ``owner_key`` (written before rows had owners) get the key of what is known
  about their writer, ``owner_key(dag_id, NULL, run_id, NULL)``, and ``superseded = false``;
* a primary key other than this release's is replaced: SQLite cannot alter one, so the table is
  rebuilt (create new, copy, drop, rename; the table's own indexes and triggers are created
  again from their saved SQL, and views and other tables' triggers that name it are left as they
  are, naming the new table); PostgreSQL and MySQL drop and add the key. Other databases keep
  their key and a warning says what to run;
* the dialect then retypes what it must (:meth:`GenericDialect.migrate_columns`: on MySQL, text
  timestamps and text columns that do not compare bytes).

MySQL commits each DDL statement on its own, so there a migration is a sequence of atomic steps;
one cut short is finished by the next call (owners are filled in whenever the key is not yet
this release's).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from airflow_provider_batch.results._dialects import Column, GenericDialect
from airflow_provider_batch.results._sql import Table, column_list, create_table_sql
from airflow_provider_batch.results.models import owner_key

__all__ = ["execute_sql", "migrate_table", "present_columns", "primary_key", "query_sql"]

log = logging.getLogger(__name__)

_OWNER_PARTS = ("dag_id", "task_id", "run_id", "map_index")


def present_columns(conn: Any, dialect: GenericDialect, table: Table) -> list[str]:
    """The table's column names, in order."""
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT * FROM {table.sql(dialect.quote)} WHERE 1 = 0")
        cur.fetchall()  # mysql-connector refuses to close a cursor with an unread result
        return [str(d[0]) for d in cur.description or ()]
    finally:
        cur.close()


def primary_key(conn: Any, dialect: GenericDialect, table: Table) -> tuple[str, ...] | None:
    """The table's primary-key columns in key order, or ``None`` where that is not known."""
    if dialect.name == "sqlite":
        schema = f"{dialect.quote.format(table.schema)}." if table.schema else ""
        rows = _query(conn, f"PRAGMA {schema}table_info({dialect.quote.format(table.name)})")
        return tuple(name for _, name in sorted((r[5], r[1]) for r in rows if r[5]))
    if dialect.name == "postgresql":
        rows = _query(
            conn,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (table.sql(dialect.quote),),
        )
        return tuple(r[0] for r in rows)
    if dialect.name == "mysql":
        rows = _query(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = "
            "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY ORDINAL_POSITION",
            (table.schema, table.name),
        )
        return tuple(str(r[0]) for r in rows)
    return None


def migrate_table(
    conn: Any, dialect: GenericDialect, table: Table, columns: Sequence[Column], key: Sequence[str]
) -> list[str]:
    """Add missing columns, fill owners of ownerless rows, install ``key``; returns what changed.

    The table must exist. Nothing is committed here.
    """
    present = present_columns(conn, dialect, table)
    known = {c.lower() for c in present}
    missing = [(name, kind) for name, kind in columns if name.lower() not in known]
    current = primary_key(conn, dialect, table)
    rekey = current is not None and [c.lower() for c in current] != [k.lower() for k in key]
    if rekey and dialect.name == "sqlite":
        _sqlite_rebuild(conn, dialect, table, columns, key, present)
        return [f"rebuilt with primary key ({', '.join(key)}); added {[n for n, _ in missing]}"]
    changes = []
    for name, kind in missing:
        column = f"{dialect.quote.format(name)} {dialect.column_type(name, kind, name in key)}"
        dialect.execute(conn, f"ALTER TABLE {table.sql(dialect.quote)} ADD COLUMN {column}")
        changes.append(f"added column {name}")
    added = {name for name, _ in missing}
    if "owner_key" in added or rekey:
        _fill_owner_keys(conn, dialect, table)
    if "superseded" in added or rekey:
        _execute(
            conn,
            f"UPDATE {table.sql(dialect.quote)} SET {dialect.quote.format('superseded')} = "
            f"{dialect.placeholder} WHERE {dialect.quote.format('superseded')} IS NULL",
            (False,),
        )
    if rekey:
        _replace_key(conn, dialect, table, key)
        changes.append(f"primary key ({', '.join(current or ())}) -> ({', '.join(key)})")
    elif current is None and "owner_key" in added:
        log.warning(
            "%s: cannot change the primary key on this database; to let several task instances "
            "load the same batch, run: ALTER TABLE %s DROP PRIMARY KEY, ADD PRIMARY KEY (%s)",
            table.sql(dialect.quote), table.sql(dialect.quote), column_list(key, dialect.quote),
        )  # fmt: skip
    return changes + dialect.migrate_columns(conn, table, columns)


def _sqlite_rebuild(
    conn: Any,
    dialect: GenericDialect,
    table: Table,
    columns: Sequence[Column],
    key: Sequence[str],
    present: Sequence[str],
) -> None:
    """SQLite's way to change a primary key: create new, copy, drop old, rename new."""
    quote = dialect.quote
    wanted = {name.lower() for name, _ in columns}
    declared = {
        r[1]: r[2]
        for r in _query(conn, f"PRAGMA {_schema_prefix(table, quote)}table_info({quote.format(table.name)})")
    }
    # Columns only this table has (metadata columns of other DAGs) are kept, with their type.
    extra = [(name, declared.get(name) or "TEXT") for name in present if name.lower() not in wanted]
    new = Table(f"{table.name}__apb_rekey", table.schema)
    specs = [(name, dialect.types[kind]) for name, kind in columns] + extra
    dialect.execute(conn, f"DROP TABLE IF EXISTS {new.sql(quote)}")
    dialect.execute(conn, create_table_sql(new, specs, key, quote).replace(" IF NOT EXISTS", "", 1))
    conn.create_function("apb_owner_key", 4, owner_key, deterministic=True)
    have = {c.lower() for c in present}
    targets, sources = [], []
    for name, _ in specs:
        if name.lower() in have:
            targets.append(name)
            sources.append(quote.format(name))
        elif name == "owner_key":
            targets.append(name)
            sources.append(f"apb_owner_key({', '.join(_or_null(p, have, quote) for p in _OWNER_PARTS)})")
        elif name == "superseded":
            targets.append(name)
            sources.append("0")
    dialect.execute(
        conn,
        f"INSERT INTO {new.sql(quote)} ({column_list(targets, quote)}) "
        f"SELECT {', '.join(sources)} FROM {table.sql(quote)}",
    )
    # Dropping the table drops its indexes and triggers: keep their SQL and create them again.
    dependants = _query(
        conn,
        f"SELECT sql FROM {_schema_prefix(table, quote)}sqlite_master WHERE tbl_name = ? "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
        (table.name,),
    )
    dialect.execute(conn, f"DROP TABLE {table.sql(quote)}")
    _rename_keeping_views(conn, dialect, new, table.name)
    for (sql,) in dependants:
        dialect.execute(conn, _in_schema(sql, table, quote))


def _rename_keeping_views(conn: Any, dialect: GenericDialect, table: Table, name: str) -> None:
    """Rename ``table`` to ``name`` without SQLite checking other views and triggers first.

    A view or trigger that names the old table would fail that check (``error in view …: no such
    table``) while the old table is gone; legacy renaming leaves them as they are, and they name
    the new table once it has the old name.
    """
    (legacy,) = _query(conn, "PRAGMA legacy_alter_table")[0]
    dialect.execute(conn, "PRAGMA legacy_alter_table = ON")
    try:
        dialect.execute(
            conn, f"ALTER TABLE {table.sql(dialect.quote)} RENAME TO {dialect.quote.format(name)}"
        )
    finally:
        dialect.execute(conn, f"PRAGMA legacy_alter_table = {int(legacy)}")


def _in_schema(sql: str, table: Table, quote: str) -> str:
    """An index's or trigger's ``CREATE`` statement from ``sqlite_master``, for the table's schema:
    SQLite keeps it without the schema name, which goes before the object's name."""
    if not table.schema:
        return sql
    return _CREATE_HEAD.sub(lambda m: f"{m.group(1)}{quote.format(table.schema)}.", sql, count=1)


_CREATE_HEAD = re.compile(r"^(\s*CREATE\s+(?:UNIQUE\s+)?(?:INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?)", re.I)


def _fill_owner_keys(conn: Any, dialect: GenericDialect, table: Table) -> None:
    quote, name = dialect.quote, table.sql(dialect.quote)
    target = quote.format("owner_key")
    if dialect.name == "sqlite":
        conn.create_function("apb_owner_key", 4, owner_key, deterministic=True)
        parts = ", ".join(quote.format(p) for p in _OWNER_PARTS)
        _execute(conn, f"UPDATE {name} SET {target} = apb_owner_key({parts}) WHERE {target} IS NULL")
        return
    if dialect.name == "postgresql":
        # The same text as owner_key(): parts joined by U+001F, an unknown part as ''.
        parts = ", ".join(f"coalesce({quote.format(p)}::text, '')" for p in _OWNER_PARTS)
        digest = f"left(encode(sha256(convert_to(concat_ws(chr(31), {parts}), 'UTF8')), 'hex'), 32)"
        _execute(conn, f"UPDATE {name} SET {target} = {digest} WHERE {target} IS NULL")
        return
    if dialect.name == "mysql":
        parts = ", ".join(f"COALESCE(CAST({quote.format(p)} AS CHAR), '')" for p in _OWNER_PARTS)
        text = f"CONVERT(CONCAT_WS(CHAR(31 USING utf8mb4), {parts}) USING utf8mb4)"
        _execute(conn, f"UPDATE {name} SET {target} = LEFT(SHA2({text}, 256), 32) WHERE {target} IS NULL")
        return
    # Anything else: one UPDATE per distinct writer, key computed here.
    cols = ", ".join(quote.format(p) for p in _OWNER_PARTS)
    for owner in _query(conn, f"SELECT DISTINCT {cols} FROM {name} WHERE {target} IS NULL"):
        conds, params = [f"{target} IS NULL"], [owner_key(*owner)]
        for part, value in zip(_OWNER_PARTS, owner, strict=True):
            if value is None:
                conds.append(f"{quote.format(part)} IS NULL")
            else:
                conds.append(f"{quote.format(part)} = {dialect.placeholder}")
                params.append(value)
        _execute(
            conn,
            f"UPDATE {name} SET {target} = {dialect.placeholder} WHERE {' AND '.join(conds)}",
            tuple(params),
        )


def _replace_key(conn: Any, dialect: GenericDialect, table: Table, key: Sequence[str]) -> None:
    name = table.sql(dialect.quote)
    if dialect.name == "mysql":
        columns = column_list(key, dialect.quote)
        _execute(conn, f"ALTER TABLE {name} DROP PRIMARY KEY, ADD PRIMARY KEY ({columns})")
        return
    if dialect.name != "postgresql":
        raise NotImplementedError(f"changing a primary key on {dialect.name}")
    found = _query(
        conn, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (name,)
    )
    drop = f"DROP CONSTRAINT {dialect.quote.format(found[0][0])}, " if found else ""
    _execute(conn, f"ALTER TABLE {name} {drop}ADD PRIMARY KEY ({column_list(key, dialect.quote)})")


def _or_null(column: str, have: set[str], quote: str) -> str:
    return quote.format(column) if column in have else "NULL"


def _schema_prefix(table: Table, quote: str) -> str:
    return f"{quote.format(table.schema)}." if table.schema else ""


def query_sql(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one query on a DB-API connection; returns its rows as tuples."""
    cur = conn.cursor()
    try:
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()


def execute_sql(conn: Any, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement on a DB-API connection; returns the affected row count."""
    cur = conn.cursor()
    try:
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return max(cur.rowcount, 0)
    finally:
        cur.close()


_query, _execute = query_sql, execute_sql
