"""Bring an existing results or spend table to this release's shape, in place, keeping every row.

Runs inside the caller's transaction (see :meth:`WarehouseLoader.ensure_tables`), so a failure
leaves the table as it was:

* a column the table lacks (a newer release's, or a metadata column a DAG gained) is added;
  older rows hold NULL there;
* rows without an ``owner_key`` (written before rows had owners) get the key of what is known
  about their writer, ``owner_key(dag_id, NULL, run_id, NULL)``, and ``superseded = false``;
* a primary key other than this release's is replaced by the dialect
  (:meth:`~airflow_provider_batch.warehouse.dialects.base.SqlDialect.replace_key`: SQLite rebuilds
  the table, PostgreSQL and MySQL drop and add the key). Databases whose key the dialect cannot
  read keep theirs, and a warning says what to run;
* the dialect then retypes what it must (its ``migrate_columns``: on MySQL, text timestamps and
  text columns that do not compare bytes).

MySQL commits each DDL statement on its own, so there a migration is a sequence of atomic steps;
one cut short is finished by the next call (owners are filled in whenever the key is not yet
this release's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow_provider_batch.results.models import OWNER_KEY_LENGTH, owner_key
from airflow_provider_batch.warehouse.dialects._sql import Table, column_list, execute_sql, query_sql
from airflow_provider_batch.warehouse.dialects.base import Column, SqlDialect

__all__ = ["execute_sql", "migrate_table", "present_columns", "primary_key", "query_sql"]

log = logging.getLogger(__name__)

_OWNER_PARTS = ("dag_id", "task_id", "run_id", "map_index")


def present_columns(conn: Any, dialect: SqlDialect, table: Table) -> list[str]:
    """The table's column names, in order."""
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT * FROM {table.sql(dialect.quote)} WHERE 1 = 0")
        cur.fetchall()  # mysql-connector refuses to close a cursor with an unread result
        return [str(d[0]) for d in cur.description or ()]
    finally:
        cur.close()


def primary_key(conn: Any, dialect: SqlDialect, table: Table) -> tuple[str, ...] | None:
    """The table's primary-key columns in key order, or ``None`` where that is not known."""
    return dialect.primary_key(conn, table)


def migrate_table(
    conn: Any, dialect: SqlDialect, table: Table, columns: Sequence[Column], key: Sequence[str]
) -> list[str]:
    """Add missing columns, fill owners of ownerless rows, install ``key``; returns what changed.

    The table must exist. Nothing is committed here.
    """
    present = present_columns(conn, dialect, table)
    known = {c.lower() for c in present}
    missing = [(name, kind) for name, kind in columns if name.lower() not in known]
    current = dialect.primary_key(conn, table)
    rekey = current is not None and [c.lower() for c in current] != [k.lower() for k in key]
    changes = []
    for name, kind in missing:
        dialect.add_column(conn, table, name, kind, name in key)
        changes.append(f"added column {name}")
    added = {name for name, _ in missing}
    if "owner_key" in added or rekey:
        _fill_owner_keys(conn, dialect, table)
    if "superseded" in added or rekey:
        flag, name = dialect.quote.format("superseded"), table.sql(dialect.quote)
        sql = f"UPDATE {name} SET {flag} = {dialect.placeholder} WHERE {flag} IS NULL"
        dialect.execute(conn, sql, (False,))
    if rekey:
        dialect.replace_key(conn, table, columns, key)
        changes.append(f"primary key ({', '.join(current or ())}) -> ({', '.join(key)})")
    elif current is None and "owner_key" in added:
        log.warning(
            "%s: cannot change the primary key on this database; to let several task instances "
            "load the same batch, run: ALTER TABLE %s DROP PRIMARY KEY, ADD PRIMARY KEY (%s)",
            table.sql(dialect.quote), table.sql(dialect.quote), column_list(key, dialect.quote),
        )  # fmt: skip
    return changes + dialect.migrate_columns(conn, table, columns)


def _fill_owner_keys(conn: Any, dialect: SqlDialect, table: Table) -> None:
    """``owner_key(dag_id, task_id, run_id, map_index)`` for rows without one: in one statement
    where the dialect computes the digest in SQL, else one UPDATE per distinct writer."""
    quote, name = dialect.quote, table.sql(dialect.quote)
    target = quote.format("owner_key")
    parts = [quote.format(p) for p in _OWNER_PARTS]
    computed = dialect.digest_sql(conn, parts, OWNER_KEY_LENGTH)
    if computed is not None:
        dialect.execute(conn, f"UPDATE {name} SET {target} = {computed} WHERE {target} IS NULL")
        return
    for owner in dialect.query(
        conn, f"SELECT DISTINCT {', '.join(parts)} FROM {name} WHERE {target} IS NULL"
    ):
        conds, params = [f"{target} IS NULL"], [owner_key(*owner)]
        for part, value in zip(_OWNER_PARTS, owner, strict=True):
            if value is None:
                conds.append(f"{quote.format(part)} IS NULL")
            else:
                conds.append(f"{quote.format(part)} = {dialect.placeholder}")
                params.append(value)
        dialect.execute(
            conn,
            f"UPDATE {name} SET {target} = {dialect.placeholder} WHERE {' AND '.join(conds)}",
            tuple(params),
        )
