"""Snowflake write strategy: Parquet through a temporary stage, then ``COPY INTO`` the table
itself when every key of the load is new to it, else ``COPY INTO`` a staging table and one ``MERGE``.

For one load (one session, through the Snowflake provider's ``SnowflakeHook``):

1. the rows are written as they arrive, ``chunk_size`` per row group, into local Parquet files of
   about :attr:`SnowflakeDialect.part_bytes` each (only one chunk is in memory); meanwhile the
   distinct values of the key's leading columns (the load's (owner, batch) pairs) are noted, and
   a 64-bit hash of each key (8 bytes a row) tells at the end whether a key repeats in the stream;
2. before the first DML, in this order: a temporary stage and a temporary staging table (DDL: on
   Snowflake every DDL statement commits the session's open transaction, so nothing of the load
   may precede them), when the first part is complete; ``PUT`` uploads each part to the stage
   (under a path of its own per write) as soon as it is complete, and it is then deleted locally,
   so the connector's upload holds one part; one ``COPY`` at the end takes every part of the path;
3. **a load new to the table** (no row of the table has any of its (owner, batch) pairs, one
   ``SELECT … LIMIT 1``, and no key repeats): ``COPY INTO`` the table itself, each value
   converted as the merge would; the staging table stays empty;
4. **otherwise** (a re-run, a repeated key, or over a thousand pairs): ``COPY INTO`` the staging
   table (by column name; ``PURGE``, ``FORCE``) and one ``MERGE`` into the table on its key; the
   last row of a key repeated in the stream wins (``QUALIFY ROW_NUMBER()`` over its place in the
   stream, counted across the parts).

Steps 3-4 and every statement of the load after them run in one transaction (autocommit off,
:meth:`SnowflakeDialect.begin`): the loader commits or rolls back. ``COPY INTO <table>`` is DML
(Snowflake's DML reference lists it with the data-loading commands; only DDL commits implicitly),
so a rolled-back load leaves none of the copied rows; fakesnow runs it as an ``INSERT … SELECT
FROM read_parquet`` in the same DuckDB transaction. Two loads of the same new (owner, batch) at
the same moment would both copy (Snowflake does not enforce the key): an owner is one task
instance, of which Airflow runs one attempt at a time. Spend rows (a few, ``bulk=False``) take one
``MERGE … USING (VALUES …)`` with bound values, no DDL.

Identifiers follow Snowflake's rules: names are written unquoted, so Snowflake stores them upper
case and a user's plain ``SELECT custom_id FROM wf_results`` finds them; a name that is a reserved
word is quoted in upper case, which names the same object as the unquoted name would. Snowflake
does not enforce primary keys (only hybrid tables do): the key is declared, read and changed for
the migration, and uniqueness comes from every write being a ``MERGE`` on it. ``response_json``
is ``VARIANT``; an embedding is an ``ARRAY``.

Earlier releases reached Snowflake through the generic dialect, which wrote quoted names exactly
as given (``"wf_results"``, ``"custom_id"``): other objects to Snowflake than ``WF_RESULTS`` and
``CUSTOM_ID``. :meth:`SnowflakeDialect.adopt_earlier_tables` renames such a table and its columns
in place (rows, owners and spend kept) before the table is created or migrated, and refuses when
both tables exist.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_batch.warehouse.dialects._sql import Table, column_list
from airflow_provider_batch.warehouse.dialects.base import (
    Column,
    Row,
    SqlDialect,
    TableNameConflict,
    _cursor,
    chunks,
)

__all__ = ["SnowflakeDialect"]

#: Snowflake's reserved words (they cannot be unquoted identifiers).
_RESERVED_WORDS = """
    ACCOUNT ALL ALTER AND ANY AS BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION CONSTRAINT
    CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DELETE
    DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM FULL GRANT GROUP GSCLUSTER HAVING ILIKE IN
    INCREMENT INNER INSERT INTERSECT INTO IS ISSUE JOIN LATERAL LEFT LIKE LOCALTIME LOCALTIMESTAMP
    MINUS NATURAL NOT NULL OF ON OR ORDER ORGANIZATION QUALIFY REGEXP REVOKE RIGHT RLIKE ROW ROWS
    SAMPLE SCHEMA SELECT SET SOME START TABLE TABLESAMPLE THEN TO TRIGGER TRUE TRY_CAST UNION
    UNIQUE UPDATE USING VALUES VIEW WHEN WHENEVER WHERE WITH"""
RESERVED = frozenset(_RESERVED_WORDS.split())


class SnowflakeNames(str):
    """The identifier format of :class:`SnowflakeDialect`: ``format(name)`` is the name unquoted
    (Snowflake resolves it upper case), or ``"NAME"`` for a reserved word (the same object)."""

    def format(self, *args: object, **kwargs: object) -> str:
        (name,) = args
        text = str(name)
        return f'"{text.upper()}"' if text.upper() in RESERVED else text


# Text, ISO timestamps and JSON are strings in the Parquet file and the staging table; the MERGE
# converts them to the column's type.
_STAGE_TYPES = {"int": "BIGINT", "float": "DOUBLE", "money": "DOUBLE", "bool": "BOOLEAN"}
_SEQ = "apb_seq"
#: Retyping an earlier release's text column: target type -> (test that is NULL where the text
#: does not convert, the strict conversion, what the text must be).
_RETYPED = {
    "TIMESTAMP_TZ": ("TRY_CAST({} AS TIMESTAMP_TZ)", "{}::TIMESTAMP_TZ", "an ISO 8601 timestamp"),
    "VARIANT": ("TRY_PARSE_JSON({})", "PARSE_JSON({})", "a JSON document"),
    "ARRAY": ("TRY_PARSE_JSON({})", "PARSE_JSON({})::ARRAY", "a JSON array"),
}
#: A load of more distinct (owner, batch) pairs than this takes the ``MERGE`` path.
_MAX_PREFIXES = 1_000
_PREFIXES_PER_QUERY = 100


class SnowflakeDialect(SqlDialect):
    """Snowflake: a temporary stage; ``COPY INTO`` the table for keys new to it, else ``COPY INTO``
    a temporary staging table and one ``MERGE`` (see the module docstring)."""

    name = "snowflake"
    types: ClassVar[dict[str, str]] = {
        "key": "VARCHAR",
        "text": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "money": "DOUBLE",
        "timestamp": "TIMESTAMP_TZ",
        "bool": "BOOLEAN",
        "vector": "ARRAY",
    }
    #: Text columns that hold a JSON document: stored as ``VARIANT``.
    json_columns: ClassVar[frozenset[str]] = frozenset({"response_json"})
    _STAGE_TABLE = "apb_staged_rows"
    _STAGE = "apb_load_stage"
    #: A bulk write's Parquet file is cut into parts of about this size (a part ends after the
    #: row group that reaches it); each is ``PUT`` as soon as it is complete and then deleted
    #: locally, so the connector's upload holds one part, never the whole load.
    part_bytes: ClassVar[int] = 16 * 2**20

    def __init__(self) -> None:
        super().__init__(SnowflakeNames("{}"), "%s")
        self._staged: set[Table] = set()
        self._in_load = False
        self._dml = False
        #: Bulk writes that went straight into the table (``COPY INTO`` it), not through a MERGE.
        self.direct_loads = 0

    # -- DDL ------------------------------------------------------------------------------------

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        return "VARIANT" if kind == "text" and name.lower() in self.json_columns else self.types[kind]

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        cols = [f"{self.quote.format(name)} {self.column_type(name, kind)}" for name, kind in columns]
        cols.append(f"PRIMARY KEY ({column_list(key, self.quote)})")
        return f"CREATE TABLE IF NOT EXISTS {table.sql(self.quote)} ({', '.join(cols)})"

    def add_column(self, conn: Any, table: Table, name: str, kind: str, in_key: bool = False) -> None:
        # IF NOT EXISTS: two loaders migrating at once both succeed (DDL is not serialised here).
        column = f"{self.quote.format(name)} {self.column_type(name, kind, in_key)}"
        self.execute(conn, f"ALTER TABLE {table.sql(self.quote)} ADD COLUMN IF NOT EXISTS {column}")

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        with _cursor(conn) as cur:
            cur.execute(f"SHOW PRIMARY KEYS IN TABLE {table.sql(self.quote)}")
            names = [str(d[0]).lower() for d in cur.description or ()]
            rows = cur.fetchall()
        column, sequence = names.index("column_name"), names.index("key_sequence")
        # An unquoted name is catalogued upper case: give it back as this package spells it.
        found = (str(r[column]) for r in sorted(rows, key=lambda r: int(r[sequence])))
        return tuple(name.lower() if name.isupper() else name for name in found)

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        name = table.sql(self.quote)
        current = self.primary_key(conn, table)
        if current == tuple(key):  # a concurrent migration got there first (each DDL commits)
            return
        if current:
            self.execute(conn, f"ALTER TABLE {name} DROP PRIMARY KEY")
        try:
            self.execute(conn, f"ALTER TABLE {name} ADD PRIMARY KEY ({column_list(key, self.quote)})")
        except Exception:
            if self.primary_key(conn, table) != tuple(key):  # else another loader added it
                raise

    def adopt_earlier_tables(self, conn: Any, tables: Sequence[tuple[Table, Sequence[Column]]]) -> list[str]:
        """Rename each table the generic dialect created (quoted, as given: ``"wf_results"``) to
        this dialect's name (``WF_RESULTS``), then each of its quoted columns this release writes
        (``"custom_id"`` to ``CUSTOM_ID``); the catalogue is read with exact names.

        Both tables existing is found before anything is renamed. Each ``ALTER`` commits on its
        own: an adoption cut short is finished by the next call (the columns are renamed whenever
        the table has them under the old names).

        :raises TableNameConflict: both the old and the new table exist, or a column does.
        """
        found = [(table, columns, *self._earlier_and_current(conn, table)) for table, columns in tables]
        for table, columns, earlier, current in found:
            if earlier and current:
                raise self._both_tables(table, columns, earlier, current)
        changes = []
        for table, columns, earlier, current in found:
            if earlier:
                old, new = table.sql('"{}"'), table.sql(self.quote)
                self.execute(conn, f"ALTER TABLE {old} RENAME TO {new}")
                changes.append(f"renamed {old} (an earlier release's quoted name) to {new}")
            if earlier or current:
                changes += self._adopt_columns(conn, table, columns)
        return changes

    def _both_tables(
        self, table: Table, columns: Sequence[Column], earlier: list[str], current: list[str]
    ) -> TableNameConflict:
        """The refusal, with the SQL that copies the old table's rows over (the columns both have,
        each converted to the new table's type; batches the new table holds are left out)."""
        old, new = table.sql('"{}"'), table.sql(self.quote)
        kinds = {name.upper(): (name, kind) for name, kind in columns}
        shared = [kinds[c.upper()] + (c,) for c in earlier if c.upper() in kinds and c.upper() in current]
        into = column_list([name for name, _, _ in shared], self.quote)
        select = ", ".join(self._copied(kind, f'"{c}"', name) for name, kind, c in shared)
        batch = next((c for _, _, c in shared if c.upper() == "BATCH_ID"), "batch_id")
        copy = (
            f"INSERT INTO {new} ({into}) SELECT {select} FROM {old} "
            f'WHERE "{batch}" NOT IN (SELECT batch_id FROM {new})'
        )
        return TableNameConflict(
            f"{old} and {new}",
            f"both {old} (created quoted by an earlier release, through the generic dialect) and "
            f"{new} exist; loading would split the rows and the spend ledger between them",
            f"Keep one: copy the old rows over with {copy}; then DROP TABLE {old}. Or, if {new} "
            f"is empty, DROP TABLE {new}: the next load renames {old} in place.",
        )

    def _copied(self, kind: str, ref: str, name: str) -> str:
        """An old text column's value as the new table's type."""
        if kind == "timestamp":
            return f"TRY_TO_TIMESTAMP_TZ({ref})"
        if kind == "vector":
            return f"TRY_PARSE_JSON({ref})::ARRAY"
        if self.column_type(name, kind) == "VARIANT":
            return f"TRY_PARSE_JSON({ref})"
        return ref

    def _catalogued(self, conn: Any, table: Table, name: str) -> list[str]:
        """The columns of the table catalogued exactly as ``name`` in ``table``'s schema (either
        case of its name; else the current schema); none when there is no such table."""
        return [column for column, _ in self._catalogued_types(conn, table, name)]

    def _catalogued_types(self, conn: Any, table: Table, name: str) -> list[tuple[str, str]]:
        """(column, data type) of :meth:`_catalogued`'s table, in order."""
        if table.schema:
            where, params = "table_schema IN (%s, %s)", [table.schema, table.schema.upper()]
        else:
            where, params = "table_schema = CURRENT_SCHEMA()", []
        rows = self.query(
            conn,
            f"SELECT column_name, data_type FROM information_schema.columns WHERE {where}"
            " AND table_name = %s ORDER BY ordinal_position",
            (*params, name),
        )
        return [(str(c), str(t).upper()) for c, t in rows]

    def migrate_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """Retype the text columns of an adopted table (see :meth:`_retype_earlier_columns`)."""
        return self._retype_earlier_columns(conn, table, columns)

    def _retype_earlier_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """Give the text columns the generic dialect wrote (ISO timestamps, JSON documents,
        embeddings as JSON) the types this dialect's tables have: ``TIMESTAMP_TZ``, ``VARIANT``,
        ``ARRAY``. All or nothing: each value is checked first (a value that does not convert is
        refused, naming it, before anything changes), then one ``CREATE OR REPLACE TABLE … COPY
        GRANTS AS SELECT`` from the table itself rewrites it with every row, every other column
        (the user's too) in its place, and its grants; the primary key, which that statement does
        not carry over, is declared again (should that be cut short, the next migration finds the
        key missing and declares it)."""
        present = self._catalogued_types(conn, table, table.name.upper())
        wanted = {name.upper(): (name, kind) for name, kind in columns}
        retyped: dict[str, tuple[str, str]] = {}
        for column, data_type in present:
            name, kind = wanted.get(column.upper(), (column, "text"))
            target = "TIMESTAMP_TZ" if kind == "timestamp" else self.column_type(name, kind)
            if data_type == "TEXT" and target in _RETYPED and column.upper() in wanted:
                retyped[column] = (target, self._column_ref(column))
        if not retyped:
            return []
        ref = table.sql(self.quote)
        for target, col in retyped.values():
            found = self.query(conn, f"SELECT {col} FROM {ref} WHERE {col} IS NOT NULL AND "
                                     f"{_RETYPED[target][0].format(col)} IS NULL LIMIT 1")  # fmt: skip
            if found:
                raise ValueError(
                    f"{ref}.{col} holds {found[0][0]!r}, which is not {_RETYPED[target][2]}, so the "
                    f"column cannot become {target}; correct it or set it to NULL (UPDATE {ref} SET "
                    f"{col} = NULL WHERE {col} = …) and load again"
                )
        key = self.primary_key(conn, table)
        select = ", ".join(
            f"{_RETYPED[retyped[c][0]][1].format(self._column_ref(c))} AS {self._column_ref(c)}"
            if c in retyped else self._column_ref(c)
            for c, _ in present
        )  # fmt: skip
        self.execute(conn, f"CREATE OR REPLACE TABLE {ref}{self._copy_grants} AS SELECT {select} FROM {ref}")
        if key:
            self.execute(conn, f"ALTER TABLE {ref} ADD PRIMARY KEY ({column_list(key, self.quote)})")
        return [f"column {self._column_ref(c)}: TEXT -> {target}" for c, (target, _) in retyped.items()]

    #: ``COPY GRANTS`` on the retyping statement (fakesnow does not take it: its tests turn it off).
    _copy_grants = " COPY GRANTS"

    def _column_ref(self, catalogued: str) -> str:
        """A column as the catalogue names it: unquoted when upper case, else quoted exactly."""
        return self.quote.format(catalogued) if catalogued == catalogued.upper() else f'"{catalogued}"'

    def _earlier_and_current(self, conn: Any, table: Table) -> tuple[list[str], list[str]]:
        """The columns of the generic dialect's quoted table and of this dialect's table (none:
        the table does not exist)."""
        new_name = table.name.upper()
        if table.name == new_name:  # "WF_RESULTS" is WF_RESULTS: one table
            return [], self._catalogued(conn, table, new_name)
        return self._catalogued(conn, table, table.name), self._catalogued(conn, table, new_name)

    def _adopt_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        present = self._catalogued(conn, table, table.name.upper())
        wanted = {name.upper() for name, _ in columns}
        # Quoted names of this release's columns (not the user's own columns).
        renames = [c for c in present if c != c.upper() and c.upper() in wanted]
        target = table.sql(self.quote)
        for column in renames:
            if column.upper() in present:
                upper = column.upper()
                raise TableNameConflict(
                    target,
                    f'both columns "{column}" (an earlier release\'s quoted name) and {upper} exist',
                    f'Keep one: e.g. UPDATE {target} SET {upper} = "{column}" WHERE {upper} IS NULL, '
                    f'then ALTER TABLE {target} DROP COLUMN "{column}".',
                )
        changes = []
        for column in renames:
            self.execute(
                conn, f'ALTER TABLE {target} RENAME COLUMN "{column}" TO {self.quote.format(column)}'
            )
            changes.append(f'renamed column "{column}" to {column.upper()}')
        return changes

    # -- transactions and writes ----------------------------------------------------------------

    def begin(self, conn: Any) -> None:
        """Autocommit off: the load's first DML statement opens its transaction, which lasts until
        the loader commits or rolls back (the connector's ``autocommit`` is a method)."""
        switch = getattr(conn, "autocommit", None)
        if callable(switch):
            switch(False)
        else:
            super().begin(conn)
        self._staged, self._in_load, self._dml = set(), True, False

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
        positions = [names.index(k) for k in key]
        if not bulk:
            latest = {tuple(row[p] for p in positions): row for row in rows}
            written = 0
            with _cursor(conn) as cur:
                for chunk in chunks(latest.values(), chunk_size):
                    cur.execute(self._merge_values_sql(table, columns, key, len(chunk)),
                                [v for row in chunk for v in row])  # fmt: skip
                    written += len(chunk)
            self._dml = True
            return written
        stage, prefix = self._stage_name(table), uuid.uuid4().hex
        with tempfile.TemporaryDirectory(prefix="apb-snowflake-") as folder, _cursor(conn) as cur:
            staged: list[Table] = []  # the staging table, once the first part is complete

            def upload(path: str) -> None:
                # Each part as soon as it is complete, under the write's own path; then gone locally.
                if not staged:
                    staged.append(self._prepare_staging(cur, table, columns))
                cur.execute(f"PUT 'file://{_file_url(path)}' @{stage}/{prefix} AUTO_COMPRESS = FALSE")
                self._dml = True
                os.remove(path)

            found = _write_parquet_parts(
                lambda part: os.path.join(folder, f"part-{part:05d}.parquet"),
                columns, rows, chunk_size, positions, part_bytes=self.part_bytes, done=upload,
            )  # fmt: skip
            if staged:
                # Every part at once: one COPY of the write's path, in the load's transaction.
                staging, files = staged[0], f"@{stage}/{prefix}/"
                if found.prefixes is not None and self._absent(cur, table, key, found.prefixes):
                    # New keys only, none repeated: straight into the table, in the transaction.
                    cur.execute(self._copy_direct_sql(table, columns, files))
                    self.direct_loads += 1
                else:
                    cur.execute(self._copy_sql(staging, columns, files))
                    cur.execute(self._merge_stage_sql(table, staging, columns, key))
        return found.written

    def _absent(self, cur: Any, table: Table, key: Sequence[str], prefixes: set[tuple[Any, ...]]) -> bool:
        """No row of ``table`` has any of ``prefixes`` (values of the key's leading columns, e.g.
        ``(owner_key, batch_id)``): every key of the load is new to the table."""
        lead = [self.quote.format(k) for k in key[:-1]]
        listed = sorted(prefixes, key=repr)
        for start in range(0, len(listed), _PREFIXES_PER_QUERY):
            part = listed[start : start + _PREFIXES_PER_QUERY]
            where = ""
            if lead:
                one = "(" + " AND ".join(f"{c} = {self.placeholder}" for c in lead) + ")"
                where = " WHERE " + " OR ".join([one] * len(part))
            cur.execute(f"SELECT 1 FROM {table.sql(self.quote)}{where} LIMIT 1",
                        [v for values in part for v in values] or None)  # fmt: skip
            if cur.fetchone() is not None:
                return False
        return True

    def _stage_name(self, table: Table) -> str:
        return Table(self._STAGE, table.schema).sql(self.quote)

    def _prepare_staging(self, cur: Any, table: Table, columns: Sequence[Column]) -> Table:
        """The temporary stage and an empty staging table for ``table`` (DDL: before any DML)."""
        # Unqualified, in the table's schema made current: fakesnow takes no schema on a
        # temporary table (Snowflake would), and the session is the load's own.
        staging = Table(self._STAGE_TABLE)
        if self._in_load and self._dml:
            raise RuntimeError(
                "a Snowflake load stages rows once, before its first write: more DDL would commit "
                "the load's open transaction"
            )
        typed = [f"{self.quote.format(n)} {_STAGE_TYPES.get(kind, 'VARCHAR')}" for n, kind in columns]
        typed.append(f"{self.quote.format(_SEQ)} BIGINT")
        if table.schema:
            cur.execute(f"USE SCHEMA {self.quote.format(table.schema)}")
        cur.execute(f"CREATE TEMPORARY STAGE IF NOT EXISTS {self._stage_name(table)}")
        cur.execute(f"CREATE OR REPLACE TEMPORARY TABLE {staging.sql(self.quote)} ({', '.join(typed)})")
        self._staged.add(table)
        return staging

    def _copy_sql(self, staging: Table, columns: Sequence[Column], files: str) -> str:
        """``COPY INTO`` the staging table from the Parquet files under ``files``: each column by
        its (case-sensitive) Parquet field name, cast to its staging type."""
        fields = [*((n, _STAGE_TYPES.get(kind, "VARCHAR")) for n, kind in columns), (_SEQ, "BIGINT")]
        names = column_list([n for n, _ in fields], self.quote)
        select = ", ".join(f"$1:{n}::{sql_type}" for n, sql_type in fields)
        return (
            f"COPY INTO {staging.sql(self.quote)} ({names}) FROM (SELECT {select} FROM {files})"
            " FILE_FORMAT = (TYPE = PARQUET) PURGE = TRUE FORCE = TRUE"
        )

    def _copy_direct_sql(self, table: Table, columns: Sequence[Column], files: str) -> str:
        """``COPY INTO`` the table itself from the Parquet files under ``files``, each value
        converted as the ``MERGE`` converts it (no ``PURGE``: the temporary stage goes with the
        session)."""
        names = column_list([n for n, _ in columns], self.quote)
        select = ", ".join(
            self._converted(n, kind, f"$1:{n}::{_STAGE_TYPES.get(kind, 'VARCHAR')}") for n, kind in columns
        )
        return (
            f"COPY INTO {table.sql(self.quote)} ({names}) FROM (SELECT {select} FROM {files})"
            " FILE_FORMAT = (TYPE = PARQUET) FORCE = TRUE"
        )

    def _converted(self, name: str, kind: str, ref: str) -> str:
        """The staged value ``ref`` of column ``name`` as the table's type."""
        if kind == "timestamp":
            # ISO 8601 text, converted by the assignment: a TIMESTAMP_TZ column parses it, and
            # the text column of a table the generic dialect created keeps it as that dialect
            # wrote it, so a date compares equal to the rows of before and after the upgrade.
            return ref
        if kind == "vector":
            return f"PARSE_JSON({ref})::ARRAY"
        if self.column_type(name, kind) == "VARIANT":
            return f"PARSE_JSON({ref})"
        return ref

    def _merge_sql(self, table: Table, source: str, columns: Sequence[Column], key: Sequence[str]) -> str:
        q = self.quote.format
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        updates = ", ".join(f"t.{q(n)} = s.{q(n)}" for n, _ in columns if n not in key)
        names = [n for n, _ in columns]
        values = ", ".join(f"s.{q(n)}" for n in names)
        return (
            f"MERGE INTO {table.sql(self.quote)} t USING ({source}) s ON {on}"
            f" WHEN MATCHED THEN UPDATE SET {updates}"
            f" WHEN NOT MATCHED THEN INSERT ({column_list(names, self.quote)}) VALUES ({values})"
        )

    def _merge_stage_sql(
        self, table: Table, staging: Table, columns: Sequence[Column], key: Sequence[str]
    ) -> str:
        q = self.quote.format
        select = ", ".join(f"{self._converted(n, kind, f'r.{q(n)}')} AS {q(n)}" for n, kind in columns)
        keys = ", ".join(f"r.{q(k)}" for k in key)
        latest = f"ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY r.{q(_SEQ)} DESC)"
        source = f"SELECT {select} FROM {staging.sql(self.quote)} r QUALIFY {latest} = 1"
        return self._merge_sql(table, source, columns, key)

    def _merge_values_sql(
        self, table: Table, columns: Sequence[Column], key: Sequence[str], rows: int
    ) -> str:
        q = self.quote.format
        one = "(" + ", ".join([self.placeholder] * len(columns)) + ")"
        names = column_list([n for n, _ in columns], self.quote)
        select = ", ".join(f"{self._converted(n, kind, f'r.{q(n)}')} AS {q(n)}" for n, kind in columns)
        source = f"SELECT {select} FROM (VALUES {', '.join([one] * rows)}) AS r ({names})"
        return self._merge_sql(table, source, columns, key)


def _file_url(path: str) -> str:
    """A local path as PUT takes it (forward slashes; quotes cannot occur in a temporary path)."""
    return os.path.abspath(path).replace("\\", "/")


@dataclass
class _Written:
    """What :func:`_write_parquet` saw: the row count, and the distinct values of the key's
    leading columns (``None``: too many to list, or a key repeated in the stream)."""

    written: int
    prefixes: set[tuple[Any, ...]] | None


def _write_parquet(
    path: str, columns: Sequence[Column], rows: Iterable[Row], chunk_size: int, key_at: Sequence[int] = ()
) -> _Written:
    """All of ``rows`` as one Parquet file at ``path`` (see :func:`_write_parquet_parts`)."""
    return _write_parquet_parts(
        lambda _: path, columns, rows, chunk_size, key_at, part_bytes=None, done=_kept
    )


def _write_parquet_parts(
    path_for: Callable[[int], str],
    columns: Sequence[Column],
    rows: Iterable[Row],
    chunk_size: int,
    key_at: Sequence[int] = (),
    *,
    part_bytes: int | None,
    done: Callable[[str], None],
) -> _Written:
    """Write ``rows`` as they arrive, one row group per chunk, with their place in the stream (a
    count that runs on across parts), to the Parquet files ``path_for(0)``, ``path_for(1)``, …:
    a file is closed once it holds ``part_bytes`` (``None``: one file) and handed to ``done``
    before the next is opened. Nothing of the load but one chunk is held. With ``key_at`` (the
    key's positions), note the distinct values of the key's leading columns and whether a key
    repeats (a 64-bit hash per row, 8 bytes a row, checked at the end; a collision only sends
    the load down the ``MERGE`` path)."""
    # pyarrow comes with the Snowflake provider (not with this package's own dependencies).
    pa = importlib.import_module("pyarrow")
    pq = importlib.import_module("pyarrow.parquet")
    pc = importlib.import_module("pyarrow.compute")

    kinds = {"int": pa.int64(), "float": pa.float64(), "money": pa.float64(), "bool": pa.bool_()}
    fields = [pa.field(name, kinds.get(kind, pa.string())) for name, kind in columns]
    schema = pa.schema([*fields, pa.field(_SEQ, pa.int64())])
    lead = list(key_at[:-1])
    prefixes: set[tuple[Any, ...]] = set()
    hashes: list[Any] | None = [] if key_at else None
    written = parts = 0
    path = ""
    sink: Any = None
    writer: Any = None

    def finish() -> None:  # the part is complete: close it and hand it on
        nonlocal writer
        writer.close()
        sink.close()
        writer = None
        done(path)

    try:
        for chunk in chunks(rows, chunk_size):
            values = list(zip(*chunk, strict=True))  # one tuple per column, in C
            arrays = [pa.array(v, type=f.type) for v, f in zip(values, fields, strict=True)]
            arrays.append(pa.array(range(written, written + len(chunk)), type=pa.int64()))
            if hashes is not None:
                keys = zip(*(values[p] for p in key_at), strict=True)
                hashes.append(pa.array(map(hash, keys), type=pa.int64(), size=len(chunk)))
                prefixes.update(zip(*(values[p] for p in lead), strict=True) if lead else [()])
                if len(prefixes) > _MAX_PREFIXES:
                    hashes = None
            if writer is None:
                path, parts = path_for(parts), parts + 1
                sink = pa.OSFile(path, "wb")
                writer = pq.ParquetWriter(sink, schema)
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            written += len(chunk)
            del values, arrays
            if part_bytes is not None and sink.tell() >= part_bytes:
                finish()
        if writer is not None:
            finish()
    finally:
        if writer is not None:  # cut short: close the open part
            writer.close()
            sink.close()
    if hashes is None or not written:
        return _Written(written, None)
    # Sorted, a repeated hash sits next to itself (a sort needs far less memory than a hash set).
    every = pa.concat_arrays(hashes) if hashes else pa.array([], type=pa.int64())
    del hashes
    ordered = every.take(pc.array_sort_indices(every))
    del every
    repeated = written > 1 and pc.any(pc.equal(ordered.slice(1), ordered.slice(0, written - 1))).as_py()
    return _Written(written, None if repeated else prefixes)


def _kept(path: str) -> None:
    """A finished part stays where it was written (the one file of :func:`_write_parquet`)."""
