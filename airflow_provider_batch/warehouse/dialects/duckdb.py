"""DuckDB (a file, or MotherDuck), through ``apache-airflow-providers-duckdb``'s ``DuckDBHook``.

DuckDB's Python driver commits every statement on its own, and ``connection.cursor()`` opens a
*second* connection with a transaction of its own. So :meth:`DuckDBDialect.connect` hands the
loader one connection whose cursors all run on it, and :meth:`DuckDBDialect.begin` opens an
explicit ``BEGIN TRANSACTION`` there: a load is visible all at once at ``COMMIT``, and a failure
rolls back and the real error is raised (not ``cannot rollback - no transaction is active``).

Rows are bulk-loaded and streamed: each chunk (at most :attr:`DuckDBDialect.ARROW_CHUNK_ROWS`)
becomes one Arrow record batch (built column by column), so Python holds one chunk at a time
however large the load. A new batch (the common case: no row of its owner and batch in the table
before this load) goes straight into the table with ONE ``INSERT … SELECT`` that reads a
``RecordBatchReader`` fed chunk by chunk as DuckDB asks for them: no stage, no second copy, one
statement. A stream cannot fail without aborting the transaction (DuckDB has no savepoints), so
it checks each chunk before feeding it and ends the statement cleanly instead: at a chunk with a
partition (owner and batch) not yet checked, which is checked and, if new, starts the next
statement; at a key repeated within the load (the load keeps the hash of every key it inserted:
an int per row, not the rows; a hash collision counts as a repeat) or a partition the table had
before this load (a re-run), from which chunk on the rows are appended to a temporary stage
table instead, merged at the end; and at an error of the rows themselves, raised once the
statement has returned (the load then rolls back). The merge is a ``DELETE`` of the keys it
replaces and an ``INSERT … SELECT`` of the last row of each key (about three times faster than
``ON CONFLICT DO UPDATE`` or ``MERGE`` on 50,000 updated rows, measured), or ``MERGE`` where the
table has columns this load does not write (another DAG's metadata), which it keeps. The last row
of a key wins either way: staged rows all come after the rows inserted directly. Without
``pyarrow``, every row goes to the stage with ``executemany``.

``response_json`` is stored as ``JSON`` (text that is not JSON is kept as a JSON string), and an
embedding as ``UNION(vector DOUBLE[], vectors DOUBLE[][])``: one vector, or one per input of a
request that embedded several (``response_embedding.vector`` reads the first kind as a plain
``DOUBLE[]``).

DuckDB cannot change a primary key: :meth:`replace_key` rebuilds the table (create, copy, drop,
rename) in the load's transaction, and creates its indexes again. One process at a time can open
a DuckDB file for writing: :meth:`connect` waits for the file lock as SQLite waits for its write
lock, so concurrent results tasks take turns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple

from airflow_provider_batch.warehouse.dialects._sql import (
    Table,
    column_list,
    create_table_sql,
    upsert_sql,
)
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect, chunks

__all__ = ["DuckDBDialect"]

#: Columns stored as DuckDB ``JSON`` (their kind is ``text`` everywhere else).
JSON_COLUMNS = frozenset({"response_json"})
_VECTOR_TYPE = "UNION(vector DOUBLE[], vectors DOUBLE[][])"


class DuckDBDialect(SqlDialect):
    """DuckDB: Arrow chunks straight into the table for new batches, else into a temporary
    stage merged at the end, inside an explicit transaction on one connection (see the module
    docstring)."""

    name = "duckdb"
    types: ClassVar[dict[str, str]] = {"key": "VARCHAR", "text": "VARCHAR", "int": "BIGINT"}
    types |= {"float": "DOUBLE", "money": "DOUBLE", "timestamp": "TIMESTAMPTZ", "bool": "BOOLEAN"}
    types |= {"vector": _VECTOR_TYPE}
    index_if_not_exists = True
    #: How long :meth:`connect` waits for another process's lock on the database file.
    LOCK_TIMEOUT_S = 600.0
    _STAGE = 'temp."_apb_stage"'  # a TEMP table: in the connection's own temp catalog
    #: Most rows per Arrow record batch appended to the stage (Python holds one at a time).
    ARROW_CHUNK_ROWS = 20_000

    def __init__(self) -> None:
        super().__init__('"{}"', "?")

    # -- connection and transactions ------------------------------------------------------------

    def connect(self, hook: Any) -> Any:
        """The hook's connection, waiting up to :attr:`LOCK_TIMEOUT_S` for another process's file
        lock, wrapped so that its cursors share its transaction."""
        deadline, pause = time.monotonic() + self.LOCK_TIMEOUT_S, 0.05
        while True:
            try:
                return _Connection(hook.get_conn())
            except Exception as exc:
                if "could not set lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def begin(self, conn: Any) -> None:
        """``BEGIN TRANSACTION`` unless one is open (the driver would commit every statement)."""
        if isinstance(conn, _Connection):
            conn.begin(self.LOCK_TIMEOUT_S)
        else:
            conn.execute("BEGIN TRANSACTION")

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        # DDL is transactional in DuckDB: creation and migration commit (or vanish) together.
        self.begin(conn)

    # -- columns and values ---------------------------------------------------------------------

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        return "JSON" if name in JSON_COLUMNS and kind == "text" else self.types[kind]

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        typed = [(name, self.column_type(name, kind)) for name, kind in columns]
        return create_table_sql(table, typed, key, self.quote)

    def timestamp(self, value: datetime) -> Any:
        return value

    # -- migration ------------------------------------------------------------------------------

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        rows = self.query(
            conn,
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
            " AND table_name = ? AND schema_name = coalesce(?, current_schema())"
            " AND database_name = current_database()",
            (table.name, table.schema),
        )
        return tuple(rows[0][0]) if rows else ()

    def digest_sql(self, conn: Any, columns: Sequence[str], length: int) -> str | None:
        parts = ", ".join(f"coalesce(CAST({column} AS VARCHAR), '')" for column in columns)
        return f"left(sha256(concat_ws(chr(31), {parts})), {int(length)})"

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        """Rebuild: create new, copy, drop old, rename new; the table's indexes are created again.
        Columns only this table has (other DAGs' metadata columns) keep their type."""
        quote, name = self.quote, table.sql(self.quote)
        described = self.query(conn, f"SELECT * FROM (DESCRIBE {name})")
        wanted = {column.lower(): kind for column, kind in columns}
        specs = [
            (
                column,
                self.column_type(column, wanted[column.lower()]) if column.lower() in wanted else sql_type,
            )
            for column, sql_type, *_ in described
        ]
        new = Table(f"{table.name}__apb_rekey", table.schema)
        cols = [f"{quote.format(column)} {sql_type}" for column, sql_type in specs]
        cols.append(f"PRIMARY KEY ({column_list(key, quote)})")
        indexes = self.query(
            conn,
            "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND schema_name = coalesce(?, "
            "current_schema()) AND database_name = current_database() AND sql IS NOT NULL",
            (table.name, table.schema),
        )
        names = column_list([column for column, _ in specs], quote)
        self.execute(conn, f"DROP TABLE IF EXISTS {new.sql(quote)}")
        self.execute(conn, f"CREATE TABLE {new.sql(quote)} ({', '.join(cols)})")
        self.execute(conn, f"INSERT INTO {new.sql(quote)} ({names}) SELECT {names} FROM {name}")
        self.execute(conn, f"DROP TABLE {name}")
        self.execute(conn, f"ALTER TABLE {new.sql(quote)} RENAME TO {quote.format(table.name)}")
        for (sql,) in indexes:
            self.execute(conn, sql)

    def migrate_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """Retype what the generic DB-API path created: text JSON, timestamps and embeddings."""
        found = {
            str(column).lower(): (str(column), str(sql_type).upper())
            for column, sql_type, *_ in self.query(conn, f"SELECT * FROM (DESCRIBE {table.sql(self.quote)})")
        }
        changed = []
        for column, kind in columns:
            wanted = self.column_type(column, kind)
            present = found.get(column.lower())
            if present is None or kind not in ("timestamp", "vector", "text") or present[1] != "VARCHAR":
                continue
            if wanted == "VARCHAR":
                continue
            name = self.quote.format(present[0])
            using = self._convert_sql(name, kind, wanted)
            self.execute(
                conn, f"ALTER TABLE {table.sql(self.quote)} ALTER COLUMN {name} TYPE {wanted} USING {using}"
            )
            changed.append(f"column {present[0]}: VARCHAR -> {wanted}")
        return changed

    # -- writes ---------------------------------------------------------------------------------

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
        raw = conn.raw if isinstance(conn, _Connection) else conn
        if not bulk and not any(self._convert(name, kind) for name, kind in columns):
            sql = upsert_sql(table, names, key, self.quote, self.placeholder)
            written = 0
            for chunk in chunks(rows, chunk_size):
                raw.executemany(sql, chunk)
                written += len(chunk)
            return written
        arrow = _arrow_types(columns, self._stage_types(columns))
        if arrow is None:
            return self._merge(raw, table, columns, key, self._stage(raw, columns, rows, chunk_size))
        return self._write_arrow(
            raw, table, columns, key, rows, min(chunk_size, self.ARROW_CHUNK_ROWS), arrow
        )

    def _write_arrow(
        self,
        raw: Any,
        table: Table,
        columns: Sequence[Column],
        key: Sequence[str],
        rows: Iterable[Row],
        size: int,
        arrow: tuple[Any, list[Any]],
    ) -> int:
        """Chunks of a new batch go straight into ``table`` through one streaming ``INSERT``
        (see :class:`_Feed`); from the first chunk that has rows of a partition (owner and
        batch) the table had before this load, or repeats a key, on, to the stage, merged at the
        end."""
        pa, types = arrow
        names = [name for name, _ in columns]
        schema = pa.schema([*zip(names, types, strict=True), ("_apb_seq", pa.int64())])
        exprs = [self._convert_sql(self.quote.format(n), k, self.column_type(n, k)) for n, k in columns]
        insert = (
            f"INSERT INTO {table.sql(self.quote)} ({column_list(names, self.quote)}) "
            f"SELECT {', '.join(exprs)} FROM _apb_chunk"
        )
        feed = _Feed(pa, schema, types, names, key, chunks(rows, size))
        new: set[tuple[Any, ...]] = set()  # partitions without rows before this load
        feed.held = feed.next()
        while (held := feed.held) is not None and not held.repeats:
            if not self._all_new(raw, table, key[:-1], held.parts, new):
                break
            del held  # the stream lets go of each chunk once DuckDB has read it
            # One statement reads every chunk it can as DuckDB asks for it: Python holds one.
            reader = pa.RecordBatchReader.from_batches(schema, feed.stream(new))
            raw.from_arrow(reader).query("_apb_chunk", insert).fetchall()
            if feed.error is not None:  # the rows themselves failed: the load rolls back
                raise feed.error
        held = feed.held
        if held is None:
            return feed.written
        self._create_stage(raw, columns)  # this chunk and the rest go through the stage
        staged = 0
        while held is not None:
            raw.from_arrow(held.batch).insert_into(self._STAGE)
            staged += held.batch.num_rows
            held = feed.next(staged=True)
        self._merge(raw, table, columns, key, staged)
        return feed.written

    def _all_new(
        self,
        raw: Any,
        table: Table,
        part: Sequence[str],
        found: set[tuple[Any, ...]],
        new: set[tuple[Any, ...]],
    ) -> bool:
        """Every partition in ``found`` had no row in ``table`` before this load (``new`` holds
        those already checked: rows this load inserted do not count)."""
        where = " AND ".join(f"{self.quote.format(column)} = ?" for column in part)
        for value in found - new:
            if raw.execute(f"SELECT 1 FROM {table.sql(self.quote)} WHERE {where} LIMIT 1", value).fetchall():
                return False
            new.add(value)
        return True

    def _merge(
        self, raw: Any, table: Table, columns: Sequence[Column], key: Sequence[str], staged: int
    ) -> int:
        """The stage's rows into ``table``: a plain insert when nothing can conflict, else the
        re-run path (see the module docstring); the stage is dropped either way."""
        names = [name for name, _ in columns]
        try:
            seq, keys, stage = self.quote.format("_apb_seq"), column_list(key, self.quote), self._STAGE
            exprs = [self._convert_sql(self.quote.format(n), k, self.column_type(n, k)) for n, k in columns]
            selected = ", ".join(exprs)
            insert = (
                f"INSERT INTO {table.sql(self.quote)} ({column_list(names, self.quote)}) SELECT {selected} "
            )
            if self._only_new_keys(raw, table, key):  # every new batch: nothing to merge
                raw.execute(f"{insert}FROM {stage}")
            elif self._has_other_columns(raw, table, names):  # theirs are kept: MERGE, slower
                raw.execute(self._merge_sql(table, columns, key, exprs, stage, seq))
            else:  # a re-run: delete the rows it replaces, then insert (see the module docstring)
                cond = " AND ".join(f"t.{self.quote.format(k)} = s.{self.quote.format(k)}" for k in key)
                raw.execute(
                    f"DELETE FROM {table.sql(self.quote)} AS t WHERE EXISTS (SELECT 1 FROM {stage} AS s "
                    f"WHERE {cond})"
                )
                raw.execute(
                    f"{insert}FROM {stage} QUALIFY row_number() OVER (PARTITION BY {keys} "
                    f"ORDER BY {seq} DESC) = 1"
                )
        finally:
            self._drop_stage(raw)
        return staged

    def _merge_sql(
        self,
        table: Table,
        columns: Sequence[Column],
        key: Sequence[str],
        exprs: Sequence[str],
        stage: str,
        seq: str,
    ) -> str:
        """``MERGE`` of the stage's last row per key into ``table``."""
        q, names = self.quote.format, [name for name, _ in columns]
        keys = column_list(key, self.quote)
        source = (
            f"SELECT {', '.join(f'{expr} AS {q(n)}' for expr, n in zip(exprs, names, strict=True))} "
            f"FROM {stage} QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {seq} DESC) = 1"
        )
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        updates = ", ".join(f"{q(n)} = s.{q(n)}" for n in names if n not in key)
        values = ", ".join(f"s.{q(n)}" for n in names)
        return (
            f"MERGE INTO {table.sql(self.quote)} AS t USING ({source}) AS s ON ({on}) "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({column_list(names, self.quote)}) VALUES ({values})"
        )

    def _has_other_columns(self, raw: Any, table: Table, names: Sequence[str]) -> bool:
        """The table has columns this load does not write (another DAG's metadata columns)."""
        present = raw.execute(f"SELECT * FROM {table.sql(self.quote)} LIMIT 0").description or ()
        return bool({str(d[0]).lower() for d in present} - {n.lower() for n in names})

    def _only_new_keys(self, raw: Any, table: Table, key: Sequence[str]) -> bool:
        """No key repeats within the stage, and no row of the stage's partitions (every key
        column but the last: owner and batch) is in the table yet."""
        keys = column_list(key, self.quote)
        part = column_list(key[:-1] or key, self.quote)
        stage = self._STAGE
        found = raw.execute(
            f"SELECT (SELECT count(*) FROM {stage}) = (SELECT count(*) FROM (SELECT DISTINCT {keys} "
            f"FROM {stage})) AND NOT EXISTS (SELECT 1 FROM {table.sql(self.quote)} WHERE ({part}) IN "
            f"(SELECT DISTINCT {part} FROM {stage}))"
        ).fetchall()
        return bool(found[0][0])

    def _convert(self, name: str, kind: str) -> bool:
        return kind == "vector" or self.column_type(name, kind) == "JSON"

    def _convert_sql(self, column: str, kind: str, sql_type: str) -> str:
        """The staged (text) value of ``column`` as the table's type."""
        if sql_type == "JSON":
            return f"coalesce(TRY_CAST({column} AS JSON), to_json({column}))"
        if kind == "vector":
            return (
                f"CASE WHEN {column} IS NULL THEN NULL WHEN starts_with(ltrim({column}), '[[') "
                f"THEN union_value(vectors := CAST({column} AS DOUBLE[][])) "
                f"ELSE union_value(vector := CAST({column} AS DOUBLE[])) END"
            )
        if kind == "timestamp" and sql_type != "VARCHAR":
            return f"CAST({column} AS TIMESTAMPTZ)"
        return column

    def _stage_types(self, columns: Sequence[Column]) -> list[str]:
        return [("VARCHAR" if self._convert(n, k) else self.types[k]) for n, k in columns]

    def _create_stage(self, raw: Any, columns: Sequence[Column]) -> None:
        """An empty temporary stage: the columns as loaded (text where the table converts)
        and an ascending ``_apb_seq`` (the last row of a key wins)."""
        self._drop_stage(raw)
        specs = [
            f"{self.quote.format(n)} {t}"
            for (n, _), t in zip(columns, self._stage_types(columns), strict=True)
        ]
        raw.execute(f'CREATE TEMP TABLE {self._STAGE} ({", ".join(specs)}, "_apb_seq" BIGINT)')

    def _stage(self, raw: Any, columns: Sequence[Column], rows: Iterable[Row], chunk_size: int) -> int:
        """Without ``pyarrow``: every row into the stage with ``executemany``, one chunk at a
        time (only one is held in Python); returns their number."""
        self._create_stage(raw, columns)
        insert = f"INSERT INTO {self._STAGE} VALUES ({', '.join(['?'] * (len(columns) + 1))})"
        written = 0
        for chunk in chunks(rows, chunk_size):
            raw.executemany(insert, [(*row, written + i) for i, row in enumerate(chunk)])
            written += len(chunk)
        return written

    def _drop_stage(self, raw: Any) -> None:
        raw.execute(f"DROP TABLE IF EXISTS {self._STAGE}")


def _arrow_types(columns: Sequence[Column], stage_types: Sequence[str]) -> tuple[Any, list[Any]] | None:
    try:
        import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    by_type = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
    by_type["TIMESTAMPTZ"] = pa.timestamp("us", tz="UTC")
    return pa, [by_type[t] for t in stage_types]


class _Chunk(NamedTuple):
    batch: Any  # a pyarrow.RecordBatch
    parts: set[tuple[Any, ...]]  # its partitions (owner and batch)
    hashes: set[int]  # the hashes of its keys
    repeats: bool  # a key of it repeats one inserted before, or one of its own (or a collision)


class _Feed:
    """The rows as Arrow record batches of one chunk each, and the streams that feed them to
    DuckDB's ``INSERT`` while they can go straight into the table.

    A stream must never raise: an exception inside it aborts the statement *and* the
    transaction (DuckDB has no savepoints). So it stops, ending the statement cleanly, at the
    first chunk with a partition not yet known to be new (:attr:`held`, checked by the caller,
    which may start another stream with it) or a repeated key; an error of the rows themselves is
    kept in :attr:`error` for the caller to raise once the statement has returned.
    """

    def __init__(
        self,
        pa: Any,
        schema: Any,
        types: list[Any],
        names: list[str],
        key: Sequence[str],
        rows: Iterator[list[Row]],
    ) -> None:
        self._pa, self._schema, self._types, self._rows = pa, schema, types, rows
        # Column by column with itemgetter: zip(*chunk) makes one tracked iterator per row.
        self._getters = [itemgetter(i) for i in range(len(names))]
        self._part = [names.index(k) for k in key[:-1]]
        self._key = [names.index(k) for k in key]
        self.seen: set[int] = set()  # hashes of the keys inserted straight into the table so far
        self.written = 0
        self.held: _Chunk | None = None
        self.error: Exception | None = None

    def next(self, staged: bool = False) -> _Chunk | None:
        """The next chunk (``None`` at the end); ``staged``: only its batch is needed."""
        chunk = next(self._rows, None)
        if chunk is None:
            return None
        pa = self._pa
        values = [list(map(get, chunk)) for get in self._getters]
        data = [pa.array(column, type=t) for column, t in zip(values, self._types, strict=True)]
        data.append(pa.array(range(self.written, self.written + len(chunk)), type=pa.int64()))
        self.written += len(chunk)
        batch = pa.RecordBatch.from_arrays(data, schema=self._schema)
        if staged:
            return _Chunk(batch, set(), set(), True)
        parts = set(zip(*(values[i] for i in self._part), strict=True))
        hashes = set(map(hash, zip(*(values[i] for i in self._key), strict=True)))
        return _Chunk(batch, parts, hashes, len(hashes) != len(chunk) or not self.seen.isdisjoint(hashes))

    def stream(self, new: set[tuple[Any, ...]]) -> Iterator[Any]:
        """:attr:`held` (already checked), then every chunk whose partitions are in ``new`` and
        whose keys are new; :attr:`held` becomes the chunk it stopped at (``None``: the end)."""
        chunk, self.held = self.held, None
        try:
            while chunk is not None:
                self.seen |= chunk.hashes
                batch = chunk.batch
                del chunk
                yield batch
                del batch
                chunk = self.next()
                if chunk is not None and (chunk.repeats or not chunk.parts <= new):
                    self.held = chunk
                    return
        except Exception as exc:  # raised by the caller once the statement has returned
            self.error = exc


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


class _Connection:
    """One DuckDB connection whose cursors run on it (DuckDB's own ``cursor()`` opens another
    connection, outside this one's transaction); ``commit``/``rollback`` end the transaction
    :meth:`begin` opened, and do nothing when none is open.

    Connections of one process to one file share one database, whose optimistic concurrency
    fails the second of two overlapping writers (``write-write conflict``): a transaction holds
    the file's writer lock in this process from :meth:`begin` to its end, so they take turns
    (another process cannot open the file meanwhile: DuckDB locks it).
    """

    def __init__(self, conn: Any) -> None:
        self.raw = conn
        self.in_transaction = False
        self._lock: threading.Lock | None = None

    def begin(self, timeout: float) -> None:
        if self.in_transaction:
            return
        found = self.raw.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()
        path = found[0][0] if found and found[0][0] else None
        if path is not None:
            lock = _writer_lock(str(path))
            if not lock.acquire(timeout=timeout):
                raise TimeoutError(f"DuckDB database {path}: another load held it for {timeout:.0f} s")
            self._lock = lock
        try:
            self.raw.execute("BEGIN TRANSACTION")
        except BaseException:
            self._release()
            raise
        self.in_transaction = True

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def cursor(self) -> _Cursor:
        return _Cursor(self.raw)

    def commit(self) -> None:
        self._end("COMMIT")

    def rollback(self) -> None:
        self._end("ROLLBACK")

    def _end(self, statement: str) -> None:
        if self.in_transaction:
            self.in_transaction = False
            try:
                self.raw.execute(statement)
            finally:
                self._release()

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            self.in_transaction = False
            self._release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _Cursor:
    """A DB-API cursor on the shared connection; a result is read in full when it arrives, so
    cursors used one after another never see each other's results."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._rows: list[tuple[Any, ...]] = []
        self.description: Any = None
        self.rowcount = -1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        self._conn.execute(sql, tuple(params)) if params else self._conn.execute(sql)
        self._read()
        return self

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> _Cursor:
        self._conn.executemany(sql, [tuple(p) for p in seq])
        self._read()
        return self

    def _read(self) -> None:
        self.rowcount = self._conn.rowcount
        self.description = self._conn.description
        self._rows = [tuple(r) for r in self._conn.fetchall()] if self.description else []

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        self._rows = []
