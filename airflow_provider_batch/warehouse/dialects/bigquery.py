"""BigQuery: load jobs into a staging table, then one ``INSERT`` or ``MERGE`` in a session transaction.

Written against ``google-cloud-bigquery``'s client directly, from an Airflow connection of type
``google_cloud_platform``, without the Google provider (which is heavy and holds openai back).
:class:`BigQueryHook` reads the connection (``project``, ``key_path`` / ``keyfile_dict``,
``location``; the Google provider's ``extra__google_cloud_platform__`` prefix is
understood too) and gives the loader a small DB-API connection:

* statements run as query jobs with positional ``?`` parameters, in one BigQuery *session*;
* :meth:`BigQueryDialect.begin` opens a multi-statement transaction in that session
  (``BEGIN TRANSACTION``); the loader's ``commit``/``rollback`` end it, so a load's rows, its
  ownership marks and its spend rows become visible all at once. DDL is not allowed inside a
  BigQuery transaction: ``CREATE``/``ALTER``/``DROP`` run outside it, and tables are created
  and migrated before a load begins (``ensure_tables``);
* :meth:`BigQueryDialect.write` never streams: rows go as newline-delimited JSON, written a block
  at a time to a temporary file; every 32 MiB of it (``_UPLOAD_BYTES``) is uploaded as a load job
  of its own appending to one staging table (``_apb_stage_…`` in the target's dataset, expiring
  after a day should the process die), and the file is emptied for the next part, so the client
  holds one part, never the whole body (the client uploads a file of up to 100 MiB as one chunk
  in memory). Then, in the transaction, the staged rows (the last of each key) are inserted (``INSERT``)
  when none of the load's (owner, batch) pairs has a row in the table yet (one ``SELECT … LIMIT
  1`` joining the staged pairs), else merged (``MERGE``) on the key. Staging tables are deleted once
  the transaction ends.

  The rows are never loaded straight into the table, even for a new batch: a load job commits on
  its own, outside the session's transaction, so the rows would be visible before the batch's
  spend row and its ownership marks, and would stay after a rollback. The staging table is
  visible to no reader of the table, so the ``INSERT``/``MERGE`` at ``COMMIT`` keeps a load all
  or nothing.

Types: keys and text ``STRING``, ``response_json`` ``JSON`` (parsed with ``SAFE.PARSE_JSON``;
text that is not JSON is kept as a JSON string, no body stays SQL ``NULL``), money ``NUMERIC``
(9 decimal places), embeddings ``ARRAY<STRUCT<vector ARRAY<FLOAT64>>>`` (one element per vector:
see :meth:`BigQueryDialect.vector`). BigQuery's primary keys are ``NOT ENFORCED``: the ``MERGE``
is what keeps one row per key.

``BIGQUERY_EMULATOR_HOST`` (``host:port``) points the client at an emulator with anonymous
credentials. bqemulator 1.4.0 cannot parse primary-key clauses, so against an emulator tables
are created without one and the key is not introspected (see README, "BigQuery").
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, BinaryIO, ClassVar

import msgspec

from airflow_provider_batch.warehouse.dialects._sql import Table, column_list
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect

__all__ = ["BIGQUERY_CONN_TYPE", "BigQueryDialect", "BigQueryHook"]

BIGQUERY_CONN_TYPE = "google_cloud_platform"
DRIVER_REMEDY = (
    "Install google-cloud-bigquery on the workers (pip install 'google-cloud-bigquery>=3.30'); "
    "the Google provider is not needed."
)
_EMULATOR = "BIGQUERY_EMULATOR_HOST"
_STAGE_TTL = timedelta(days=1)
#: Columns stored as BigQuery ``JSON`` (their text is parsed when merged).
JSON_COLUMNS = frozenset({"response_json"})
#: The field of an embedding column's elements that holds one vector.
VECTOR_FIELD = "vector"
_DDL = ("CREATE", "ALTER", "DROP")


def emulator_host() -> str | None:
    """``BIGQUERY_EMULATOR_HOST`` as an endpoint URL, or ``None``."""
    host = os.environ.get(_EMULATOR, "").strip()
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


class BigQueryDialect(SqlDialect):
    """BigQuery (see the module docstring): staged load jobs + ``INSERT`` (keys new to the table)
    or ``MERGE`` in a session transaction.

    :param emulator: leave out what bqemulator cannot parse (primary-key clauses).
    """

    name = "bigquery"
    types: ClassVar[dict[str, str]] = {
        "key": "STRING",
        "text": "STRING",
        "int": "INT64",
        "float": "FLOAT64",
        # NUMERIC is (38, 9) on BigQuery; said explicitly for emulators on DuckDB, whose bare
        # DECIMAL keeps 3 places.
        "money": "NUMERIC(38, 9)",
        "timestamp": "TIMESTAMP",
        "bool": "BOOL",
        "vector": f"ARRAY<STRUCT<{VECTOR_FIELD} ARRAY<FLOAT64>>>",
        "json": "JSON",
    }
    #: The load job's schema type of each kind (JSON text is staged as STRING, then parsed).
    _STAGE_TYPES: ClassVar[dict[str, str]] = {
        **types,
        "money": "NUMERIC",
        "vector": "RECORD",
        "json": "STRING",
    }
    transactional_ddl = False

    def __init__(self, emulator: bool | None = None) -> None:
        super().__init__("`{}`", "?")
        self.emulator = emulator_host() is not None if emulator is None else emulator
        #: Bulk writes (result rows) that were inserted, their keys new to the table, not merged.
        self.direct_loads = 0

    @classmethod
    def for_hook(cls, hook: Any) -> BigQueryDialect:
        return cls()

    # -- DDL ------------------------------------------------------------------------------------

    @staticmethod
    def kind(name: str, kind: str) -> str:
        return "json" if name in JSON_COLUMNS else kind

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        return self.types[self.kind(name, kind)]

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        cols = [f"{self.quote.format(name)} {self.column_type(name, kind)}" for name, kind in columns]
        if not self.emulator:
            cols.append(f"PRIMARY KEY ({column_list(key, self.quote)}) NOT ENFORCED")
        return f"CREATE TABLE IF NOT EXISTS {_name(table)} ({', '.join(cols)})"

    def add_column(self, conn: Any, table: Table, name: str, kind: str, in_key: bool = False) -> None:
        column = f"{self.quote.format(name)} {self.column_type(name, kind, in_key)}"
        self.execute(conn, f"ALTER TABLE {_name(table)} ADD COLUMN IF NOT EXISTS {column}")

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        if self.emulator or not table.schema:
            return None  # bqemulator has no KEY_COLUMN_USAGE
        rows = self.query(
            conn,
            f"SELECT column_name FROM {self.quote.format(table.schema)}.INFORMATION_SCHEMA.KEY_COLUMN_USAGE"
            " WHERE table_name = ? AND constraint_name LIKE '%.pk$' ORDER BY ordinal_position",
            (table.name,),
        )
        return tuple(r[0] for r in rows)

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        name = _name(table)
        if self.primary_key(conn, table):
            self.execute(conn, f"ALTER TABLE {name} DROP PRIMARY KEY")
        self.execute(
            conn, f"ALTER TABLE {name} ADD PRIMARY KEY ({column_list(key, self.quote)}) NOT ENFORCED"
        )

    def digest_sql(self, conn: Any, columns: Sequence[str], length: int) -> str | None:
        parts = ", ".join(f"COALESCE(CAST({column} AS STRING), '')" for column in columns)
        joined = f"ARRAY_TO_STRING([{parts}], CODE_POINTS_TO_STRING([31]))"
        return f"SUBSTR(TO_HEX(SHA256({joined})), 1, {int(length)})"

    # -- values ---------------------------------------------------------------------------------

    def timestamp(self, value: datetime) -> Any:
        return value

    def vector(self, value: list[Any]) -> Any:
        """An embedding as ``ARRAY<STRUCT<vector ARRAY<FLOAT64>>>``: one element per vector, in
        input order (``[{"vector": [0.5, -0.25]}]``; several for a request of several inputs).

        BigQuery arrays cannot hold arrays, so a flat ``ARRAY<FLOAT64>`` would have to concatenate
        the vectors of a multi-input request and lose where one ends. An array of structs keeps
        them apart, stays a native float array (``UNNEST``, ``ML.DISTANCE``, vector indexes on the
        field work on it), and gives every row the same shape: a single-vector row is read as
        ``response_embedding[OFFSET(0)].vector``. The endpoint gives a one-input request's vector
        flat and several inputs' as a list, so one element here is exactly the flat vector of the
        other databases, and several are their nested list: nothing is lost or relabelled.
        """
        vectors = value if value and all(isinstance(v, list) for v in value) else [value]
        return [{VECTOR_FIELD: [float(x) for x in vector]} for vector in vectors]

    # -- transactions and writes ----------------------------------------------------------------

    def begin(self, conn: Any) -> None:
        conn.begin()

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
        """Load ``rows`` into a new staging table (load jobs of at most :data:`_UPLOAD_BYTES`
        each, appended), then write it into the table in the transaction: an ``INSERT`` when none
        of the load's (owner, batch) pairs has a row in the table yet, else a ``MERGE`` on ``key``."""
        names = [name for name, _ in columns]
        stage: str | None = None
        as_json: set[str] = set()
        jobs: list[Any] = []
        written = 0
        # The body goes through a temporary file (gone when closed), never whole in memory; each
        # part of at most _UPLOAD_BYTES is uploaded as a load job of its own, then the file is
        # emptied for the next part.
        with tempfile.TemporaryFile(prefix="apb_bq_load_") as body:
            for part in _ndjson_parts(names, rows, body, _UPLOAD_BYTES):
                written = part
                body.seek(0)
                if stage is None:
                    stage, as_json = self._stage(conn, table, columns)
                jobs.append(conn.append_stage(stage, body))
                body.seek(0)
                body.truncate()
        if stage is None:
            return 0
        for job in jobs:
            conn.finish(job)
        staged = _quoted_stage(stage)
        if self._absent(conn, table, staged, key):
            self.execute(conn, self._insert_sql(table, staged, columns, key, as_json))
            self.direct_loads += bulk
        else:
            self.execute(conn, self._merge_sql(table, staged, columns, key, as_json))
        return written

    def _absent(self, conn: Any, table: Table, stage: str, key: Sequence[str]) -> bool:
        """No row of ``table`` shares the leading key columns (owner, batch) with a staged row."""
        lead = column_list(key[:-1], self.quote) if len(key) > 1 else None
        if lead is None:
            return not self.query(conn, f"SELECT 1 FROM {_name(table)} LIMIT 1")
        pairs = f"(SELECT DISTINCT {lead} FROM {stage})"
        return not self.query(conn, f"SELECT 1 FROM {_name(table)} T JOIN {pairs} S USING ({lead}) LIMIT 1")

    def _stage(self, conn: Any, table: Table, columns: Sequence[Column]) -> tuple[str, set[str]]:
        """Check the table's embedding columns, then create an empty staging table; returns its
        ``project.dataset.name`` and the table's ``JSON`` columns."""
        found = conn.column_types(table)
        # A table of an older shape may hold the JSON column as STRING: parse only into JSON.
        as_json = {name for name, kind in found.items() if kind == "JSON"}
        flat = [
            n for n, k in columns if self.kind(n, k) == "vector" and found.get(n, "RECORD") not in _STRUCT
        ]
        if flat:
            raise ValueError(
                f"BigQuery table {table.name!r}: column(s) {', '.join(flat)} are a flat ARRAY<FLOAT64>, "
                f"which cannot keep several vectors of a row apart; drop the column (it is added back "
                f"as {self.types['vector']}) or load into a new table"
            )
        schema = [(n, self._STAGE_TYPES[self.kind(n, k)], k) for n, k in columns]
        return conn.create_stage(table, schema), as_json

    def _latest(self, stage: str, key: Sequence[str]) -> str:
        """The staged rows, the last of each key (by its place in the stream)."""
        q = self.quote.format
        return (
            f"SELECT * EXCEPT({q(_SEQ)}) FROM {stage} WHERE TRUE QUALIFY ROW_NUMBER() OVER "
            f"(PARTITION BY {column_list(key, self.quote)} ORDER BY {q(_SEQ)} DESC) = 1"
        )

    def _value(self, name: str, as_json: set[str]) -> str:
        """The staged column ``name`` (of ``S``) as the table's type."""
        text = f"S.{self.quote.format(name)}"
        if name not in as_json:
            return text
        # No body stays SQL NULL: BigQuery's TO_JSON(NULL) is JSON null, which IS NULL misses.
        return f"IF({text} IS NULL, NULL, COALESCE(SAFE.PARSE_JSON({text}), TO_JSON({text})))"

    def _insert_sql(
        self, table: Table, stage: str, columns: Sequence[Column], key: Sequence[str], as_json: Iterable[str]
    ) -> str:
        """``INSERT`` the staged rows (the last of each key): for keys new to the table."""
        as_json = set(as_json)
        names = [name for name, _ in columns]
        values = ", ".join(self._value(n, as_json) for n in names)
        return (
            f"INSERT INTO {_name(table)} ({column_list(names, self.quote)}) "
            f"SELECT {values} FROM ({self._latest(stage, key)}) S"
        )

    def _merge_sql(
        self, table: Table, stage: str, columns: Sequence[Column], key: Sequence[str], as_json: Iterable[str]
    ) -> str:
        as_json = set(as_json)
        q = self.quote.format
        names = [name for name, _ in columns]
        on = " AND ".join(f"T.{q(k)} = S.{q(k)}" for k in key)
        updates = ", ".join(f"{q(n)} = {self._value(n, as_json)}" for n in names if n not in key)
        values = ", ".join(self._value(n, as_json) for n in names)
        return (
            f"MERGE {_name(table)} T USING ({self._latest(stage, key)}) S ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({column_list(names, self.quote)}) VALUES ({values})"
        )


_SEQ = "_apb_seq"
#: How the table's metadata names a struct column (``RECORD``; ``STRUCT`` is its SQL name).
_STRUCT = ("RECORD", "STRUCT")


def _name(table: Table) -> str:
    """The quoted name; BigQuery needs the dataset (``dataset.table``), which it asks for itself
    when a statement names a table without one."""
    return table.sql("`{}`")


def _json_default(value: Any) -> Any:
    """What msgspec does not encode itself: ``datetime``/``date`` subclasses (pendulum's) as ISO
    text, a naive moment taken as UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} value into a BigQuery load job")


#: Rows encoded together (one ``bytes`` of a block is all the body that is in memory at a time).
_BLOCK_ROWS = 10_000
#: Bytes of body per load job (one block more at most): the client uploads a body of up to
#: 100 MiB as one chunk held in memory, so parts of this size bound the upload's memory.
_UPLOAD_BYTES = 32 * 2**20
# Decimals as text; NaN and infinities as JSON null (JSON has none of them).
_encode_lines = msgspec.json.Encoder(enc_hook=_json_default, decimal_format="string").encode_lines


def _ndjson(names: Sequence[str], rows: Iterable[Row], out: BinaryIO) -> int:
    """Write ``rows`` to ``out`` as newline-delimited JSON objects with a sequence number (the last
    row of a key wins), a block of rows at a time; returns how many were written. ``None`` values
    are left out (a missing field loads as NULL)."""
    return max(_ndjson_parts(names, rows, out, None), default=0)


def _ndjson_parts(
    names: Sequence[str], rows: Iterable[Row], out: BinaryIO, limit: int | None
) -> Iterator[int]:
    """:func:`_ndjson`, pausing whenever ``out`` holds ``limit`` bytes or more (and at the end,
    if it holds any): yields the rows written so far, and the caller uploads and empties ``out``."""
    written = 0
    block: list[dict[str, Any]] = []
    for written, row in enumerate(rows, 1):
        record = {name: value for name, value in zip(names, row, strict=True) if value is not None}
        record[_SEQ] = written
        block.append(record)
        if len(block) == _BLOCK_ROWS:
            out.write(_encode_lines(block))
            block.clear()
            if limit is not None and out.tell() >= limit:
                yield written
    if block:
        out.write(_encode_lines(block))
    if out.tell():
        yield written


def _quoted_stage(ref: str) -> str:
    """A staging table's ``project.dataset.name`` as the quoted ``dataset.name`` of a statement."""
    _, dataset, name = ref.split(".")
    return Table(name, dataset).sql("`{}`")


# -- the connection -------------------------------------------------------------------------------


class BigQueryConnection:
    """A DB-API-shaped connection on one ``bigquery.Client``: what the loader, the ownership rules
    and common.sql's ``get_records`` use (``cursor``, ``commit``, ``rollback``, ``close``)."""

    def __init__(self, client: Any, location: str | None = None) -> None:
        from google.cloud import bigquery

        self._bq = bigquery
        self.client = client
        self.location = location
        self.session_id: str | None = None
        self.in_transaction = False
        self._stages: list[str] = []
        self._stage_fields: dict[str, list[Any]] = {}

    # transactions

    def begin(self) -> None:
        """Open a session and a transaction in it (statements before this run on their own)."""
        if self.in_transaction:
            return
        if self.session_id is None:
            job = self.client.query(
                "SELECT 1", job_config=self._bq.QueryJobConfig(create_session=True), location=self.location
            )
            job.result()
            self.session_id = job.session_info.session_id if job.session_info else None
            if self.session_id is None:
                raise RuntimeError("BigQuery did not open a session for the load's transaction")
        self._run("BEGIN TRANSACTION")
        self.in_transaction = True

    def commit(self) -> None:
        try:
            if self.in_transaction:
                self.in_transaction = False
                self._run("COMMIT TRANSACTION")
        finally:
            self._drop_stages()

    def rollback(self) -> None:
        try:
            if self.in_transaction:
                self.in_transaction = False
                self._run("ROLLBACK TRANSACTION")
        finally:
            self._drop_stages()

    def close(self) -> None:
        try:
            self.rollback()
        finally:
            if self.session_id is not None:
                # Sessions expire by themselves (and bqemulator has no ABORT_SESSION).
                with contextlib.suppress(Exception):
                    self._run("CALL BQ.ABORT_SESSION()")
                self.session_id = None
            self.client.close()

    def cursor(self) -> BigQueryCursor:
        return BigQueryCursor(self)

    # jobs

    def _config(self, params: Sequence[Any] = (), *, in_session: bool = True) -> Any:
        config = self._bq.QueryJobConfig(query_parameters=[_parameter(self._bq, v) for v in params])
        if in_session and self.session_id is not None:
            config.connection_properties = [self._bq.ConnectionProperty("session_id", self.session_id)]
        return config

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # DDL may not run inside a transaction: it runs on its own, outside the session.
        ddl = sql.lstrip().upper().startswith(_DDL)
        job = self.client.query(
            sql, job_config=self._config(params, in_session=not ddl), location=self.location
        )
        rows = job.result()
        return job, rows

    def create_stage(self, table: Table, schema: Sequence[tuple[str, str, str]]) -> str:
        """Create an empty staging table next to ``table`` for columns ``schema`` (name, load type,
        kind); returns its ``project.dataset.name``. It is deleted when the transaction ends (and
        expires after a day)."""
        bq = self._bq
        dataset = table.schema
        if not dataset:
            raise ValueError(
                f"BigQuery table {table.name!r} needs its dataset: name it 'dataset.{table.name}'"
            )
        name = f"_apb_stage_{table.name[:40]}_{uuid.uuid4().hex[:16]}"
        ref = f"{self.client.project}.{dataset}.{name}"
        vector = (bq.SchemaField(VECTOR_FIELD, "FLOAT64", mode="REPEATED"),)
        fields = [
            bq.SchemaField(n, t, mode="REPEATED" if kind == "vector" else "NULLABLE",
                           **({"precision": 38, "scale": 9} if t == "NUMERIC" else {}),
                           **({"fields": vector} if kind == "vector" else {}))
            for n, t, kind in schema
        ]  # fmt: skip
        fields.append(bq.SchemaField(_SEQ, "INT64"))
        staging = bq.Table(ref, schema=fields)
        staging.expires = datetime.now(timezone.utc) + _STAGE_TTL
        self.client.create_table(staging)
        self._stages.append(ref)
        self._stage_fields[ref] = fields
        return ref

    def append_stage(self, ref: str, body: BinaryIO) -> Any:
        """Start a load job appending the newline-delimited JSON of the open binary file ``body``
        (read from where it stands) to the staging table ``ref``; returns the job once the body is
        uploaded (:meth:`finish` waits for it)."""
        config = self._bq.LoadJobConfig(
            schema=self._stage_fields[ref],
            source_format=self._bq.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition="WRITE_APPEND",
        )
        return self.client.load_table_from_file(body, ref, job_config=config, location=self.location)

    @staticmethod
    def finish(job: Any) -> None:
        """Wait for a load job; its error is raised here."""
        job.result()

    def load_stage(self, table: Table, schema: Sequence[tuple[str, str, str]], body: BinaryIO) -> str:
        """Load newline-delimited JSON from the open binary file ``body`` (read from where it stands,
        in chunks) into a new staging table next to ``table`` (one load job); returns its quoted name."""
        ref = self.create_stage(table, schema)
        self.finish(self.append_stage(ref, body))
        return _quoted_stage(ref)

    def column_types(self, table: Table) -> dict[str, str]:
        """Column name -> BigQuery type of ``table`` (from the table's metadata)."""
        found = self.client.get_table(f"{self.client.project}.{table.schema}.{table.name}")
        return {field.name: field.field_type for field in found.schema}

    def _drop_stages(self) -> None:
        stages, self._stages = self._stages, []
        self._stage_fields.clear()
        for ref in stages:
            with contextlib.suppress(Exception):  # it expires after a day anyway
                self.client.delete_table(ref, not_found_ok=True)


class BigQueryCursor:
    """A DB-API cursor: ``execute`` (positional ``?`` parameters), ``fetchall``/``fetchone``,
    ``rowcount`` (DML: affected rows) and ``description`` (column names)."""

    arraysize = 1

    def __init__(self, conn: BigQueryConnection) -> None:
        self.conn = conn
        self.rowcount = -1
        self.description: list[tuple[Any, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        job, rows = self.conn._run(sql, tuple(params or ()))
        schema = rows.schema or []
        self.description = [(f.name, f.field_type, None, None, None, None, True) for f in schema] or None
        json_at = [i for i, f in enumerate(schema) if f.field_type == "JSON"]
        self._rows = [_plain(tuple(row.values()), json_at) for row in rows] if schema else []
        affected = job.num_dml_affected_rows
        self.rowcount = affected if affected is not None else len(self._rows)

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> None:
        total = 0
        for params in seq_of_params:
            self.execute(sql, params)
            total += max(self.rowcount, 0)
        self.rowcount = total

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def close(self) -> None:
        self._rows = []


def _plain(row: tuple[Any, ...], json_at: Sequence[int]) -> tuple[Any, ...]:
    """JSON values come back parsed: give them back as JSON text, as the other databases do."""
    values = list(row)
    for i, value in enumerate(values):
        if value is not None and (i in json_at or isinstance(value, dict)):
            values[i] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return tuple(values)


def _parameter(bq: Any, value: Any) -> Any:
    if isinstance(value, list):
        return bq.ArrayQueryParameter(None, "FLOAT64", [float(v) for v in value])
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, Decimal):
        kind = "NUMERIC"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        kind = "STRING"
    return bq.ScalarQueryParameter(None, kind, value)


# -- the hook -------------------------------------------------------------------------------------


_HOOK_CLASS: list[type] = []


def hook_class() -> type:
    """:class:`BigQueryHook`'s class, built on first use (this module imports no Airflow code
    until a hook is asked for)."""
    if _HOOK_CLASS:
        return _HOOK_CLASS[0]
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    class BigQueryHook(DbApiHook):
        """A common.sql hook on a ``google_cloud_platform`` connection, through
        google-cloud-bigquery (see :func:`hook_for_connection`)."""

        conn_name_attr = "gcp_conn_id"
        default_conn_name = "google_cloud_default"
        conn_type = BIGQUERY_CONN_TYPE
        hook_name = "BigQuery (airflow-provider-batch)"
        placeholder = "?"
        escape_word_format = "`{}`"
        supports_autocommit = False
        driver_remedy = DRIVER_REMEDY

        @property
        def dialect_name(self) -> str:
            return "bigquery"

        def _extras(self) -> dict[str, Any]:
            conn = self.get_connection(getattr(self, self.conn_name_attr))
            raw = conn.extra_dejson or {}
            prefix = f"extra__{BIGQUERY_CONN_TYPE}__"
            return {key.removeprefix(prefix): value for key, value in raw.items() if value not in (None, "")}

        def get_conn(self) -> BigQueryConnection:
            """A :class:`BigQueryConnection`; ImportError when google-cloud-bigquery is missing."""
            return connect(self._extras())

        def get_uri(self) -> str:
            return f"bigquery://{self._extras().get('project', '')}"

    _HOOK_CLASS.append(BigQueryHook)
    return BigQueryHook


def BigQueryHook(gcp_conn_id: str = "google_cloud_default") -> Any:
    """A common.sql ``DbApiHook`` on the ``google_cloud_platform`` connection ``gcp_conn_id``.

    Reads from the connection's extras: ``project`` (else the key file's, else the environment's),
    credentials from ``key_path`` or ``keyfile_dict`` (else Application Default Credentials),
    ``location``; the Google provider's ``extra__google_cloud_platform__`` prefix is understood.
    ``BIGQUERY_EMULATOR_HOST`` points it at an emulator with anonymous credentials.
    """
    return hook_class()(gcp_conn_id=gcp_conn_id)


def hook_for_connection(connection: Any) -> Any:
    """The hook of an Airflow ``google_cloud_platform`` connection (registered in the registry)."""
    return BigQueryHook(connection.conn_id)


def connect(extras: dict[str, Any]) -> BigQueryConnection:
    """A :class:`BigQueryConnection` from a connection's extras (see :func:`BigQueryHook`)."""
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise ImportError(f"google-cloud-bigquery is not installed: {DRIVER_REMEDY}") from exc
    project = extras.get("project") or extras.get("project_id")
    endpoint = emulator_host()
    if endpoint is not None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        client = bigquery.Client(
            project=project or "test",
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    else:
        client = bigquery.Client(project=project, credentials=_credentials(extras))
    return BigQueryConnection(client, location=extras.get("location"))


def _credentials(extras: dict[str, Any]) -> Any:
    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    keyfile = extras.get("keyfile_dict")
    if keyfile:
        from google.oauth2 import service_account

        info = json.loads(keyfile) if isinstance(keyfile, str) else keyfile
        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    path = extras.get("key_path")
    if path:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(path, scopes=scopes)
    return None  # Application Default Credentials
