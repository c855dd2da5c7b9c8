"""Row sources for :func:`~airflow_provider_batch.inputs.build.build_batch_file`.

Both sources are generators, so rows flow from the database (or file) into the request file in
chunks and are never all in memory.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any

__all__ = ["records_from_jsonl", "records_from_sql"]


def records_from_sql(
    conn_id: str,
    sql: str,
    parameters: Sequence[Any] | Mapping[str, Any] | None = None,
    chunk_size: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Yield the rows of ``sql`` as dicts keyed by column name, ``chunk_size`` rows per fetch.

    The connection must resolve to a common.sql ``DbApiHook`` (SQLite, PostgreSQL, ...). On
    PostgreSQL a named (server-side) cursor is used, so the server streams the result instead of
    the driver loading it whole.
    """
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise TypeError(f"connection {conn_id!r} gives {type(hook).__name__}, not a SQL (DbApiHook) hook")
    with closing(hook.get_conn()) as conn, closing(_cursor(conn, chunk_size)) as cursor:
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        yield from _fetch_dicts(cursor, chunk_size)


def _cursor(conn: Any, chunk_size: int) -> Any:
    module = type(conn).__module__
    if module.startswith("psycopg2"):
        cursor = conn.cursor(name=f"apb_{uuid.uuid4().hex}")
        cursor.itersize = chunk_size
        return cursor
    if module.startswith("psycopg"):
        return conn.cursor(name=f"apb_{uuid.uuid4().hex}")
    return conn.cursor()


def _fetch_dicts(cursor: Any, chunk_size: int) -> Iterator[dict[str, Any]]:
    columns: list[str] | None = None
    while rows := cursor.fetchmany(chunk_size):
        # Named cursors only fill ``description`` after the first fetch.
        if columns is None:
            columns = [col[0] for col in cursor.description]
        for row in rows:
            yield dict(zip(columns, row, strict=True))


def records_from_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each line of a JSONL file of records (one JSON object per line; blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}: line {line_no}: not valid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {line_no}: a record must be a JSON object")
            yield record
