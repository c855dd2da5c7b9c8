"""Check, before anything is uploaded, that a results target can take the rows.

A results task that cannot write (its connection's hook type is not installed, its driver is
missing, its user may not create or write the tables) fails only after the batches were paid for.
:func:`check_results_target` finds that out first, from the submit task, at the cost of one
connection and a few statements that touch no row:

1. the connection resolves to a hook (:func:`~airflow_provider_batch.warehouse.dialects.
   warehouse_hook`: the provider's, or ours for ``google_cloud_platform``, i.e. BigQuery);
2. the hook is a common.sql ``DbApiHook``, the interface the loader writes through;
3. in one transaction that is rolled back: ``CREATE TABLE IF NOT EXISTS`` of both tables in the
   shape the loader creates, then a zero-row ``INSERT … SELECT … WHERE 1 = 0``, ``UPDATE … WHERE
   1 = 0`` (every column) and (results table) ``DELETE … WHERE 1 = 0``, which the database checks
   for privileges as it would any write.

Where DDL commits on its own (MySQL/MariaDB, BigQuery) the empty tables stay, as the results task would have
created them; no row is ever written. Columns an older table lacks are not probed (adding them
needs ``ALTER``, which the results task does in place). On Snowflake, tables an earlier release
created quoted (``"wf_results"``) are renamed in place first, rows kept, and both names existing
is refused here, before any upload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from airflow_provider_batch.exceptions import TogetherBatchResultsTargetError
from airflow_provider_batch.results._sql import Table
from airflow_provider_batch.results.warehouse import WarehouseLoader
from airflow_provider_batch.warehouse.dialects import warehouse_hook
from airflow_provider_batch.warehouse.dialects.base import TableNameConflict

__all__ = ["ResultsTarget", "check_results_target"]

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ResultsTarget:
    """Where a results task will load: its connection and its two tables."""

    conn_id: str
    results_table: str
    summary_table: str
    metadata_columns: tuple[str, ...] = ()


def check_results_target(target: ResultsTarget) -> None:
    """Raise :class:`TogetherBatchResultsTargetError` unless ``target`` can take the results rows.

    :raises TogetherBatchResultsTargetError: naming the connection, the table and the remedy.
    """
    hook, password = _resolve_hook(target)
    loader = WarehouseLoader(
        hook,
        results_table=target.results_table,
        summary_table=target.summary_table,
        metadata_columns=target.metadata_columns,
    )
    where = f"{target.results_table}, {target.summary_table}"
    try:
        conn = loader.dialect().connect(hook)
    except ImportError as exc:
        remedy = _driver_remedy(hook)
        raise _error(target, where, "its database driver is not installed", remedy, exc, password) from None
    except Exception as exc:
        remedy = "Check the connection's host, port, login and database, and that the server is up."
        raise _error(target, where, "cannot connect", remedy, exc, password) from None
    with closing(conn):
        try:
            _probe(conn, loader)
        except TableNameConflict as exc:
            raise _error(target, exc.table, exc.problem, exc.remedy, None, password) from None
        except Exception as exc:
            table = getattr(exc, "_apb_table", where)
            remedy = (
                f"Grant the connection's user CREATE on the schema (or create {table} yourself) and "
                f"SELECT, INSERT, UPDATE and DELETE on {table}, or point the results task at a "
                "connection that has them."
            )
            raise _error(target, table, "cannot create or write the table", remedy, exc, password) from None
        finally:
            # Nothing was written; a failed rollback leaves nothing either.
            with contextlib.suppress(Exception):
                conn.rollback()


def _resolve_hook(target: ResultsTarget) -> tuple[Any, str | None]:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    where = f"{target.results_table}, {target.summary_table}"
    try:
        connection = BaseHook.get_connection(target.conn_id)
    except Exception as exc:
        remedy = f"Create the connection {target.conn_id!r} (Admin > Connections, or AIRFLOW_CONN_*)."
        raise _error(target, where, "no such connection", remedy, exc, None) from None
    password = connection.password or None
    try:
        hook = warehouse_hook(connection)
    except ImportError as exc:
        remedy = f"Install the driver the {connection.conn_type!r} hook imports (see the error above)."
        raise _error(target, where, "its database driver is not installed", remedy, exc, password) from None
    except Exception as exc:
        remedy = (
            f"Install the Airflow provider that defines connection type {connection.conn_type!r} "
            "in the environment of the workers, or use a connection of a supported type "
            "(sqlite, postgres, mysql, google_cloud_platform for BigQuery, or any common.sql database)."
        )
        raise _error(target, where, "its hook type is not installed", remedy, exc, password) from None
    if not isinstance(hook, DbApiHook):
        remedy = "Use a connection whose hook is a common.sql DbApiHook (sqlite, postgres, mysql, ...)."
        problem = f"its hook {type(hook).__name__} is not a common.sql DbApiHook"
        raise _error(target, where, problem, remedy, None, password)
    return hook, password


def _probe(conn: Any, loader: WarehouseLoader) -> None:
    """Create (if missing) and write-probe both tables in one transaction; the caller rolls back."""
    dialect = loader.dialect()
    if dialect.name == "sqlite":
        # Manual transaction control, so that the CREATE is rolled back too; default busy timeout.
        conn.isolation_level = None
        conn.execute("BEGIN")
    creates = loader.create_table_statements()
    if dialect.name != "sqlite":
        dialect.prepare_ddl(conn, (loader.results_table, loader.summary_table))
        # Snowflake: an earlier release's quoted tables are renamed in place now (rows kept), so
        # that the CREATE below, which commits there, does not make a second, empty table.
        dialect.adopt_earlier_tables(conn, loader.named_tables())
        if not dialect.transactional_ddl:
            # BigQuery: no DDL inside a transaction; the tables are created first, as the
            # results task would create them, and only the write probes are rolled back.
            for create, table in zip(creates, (loader.results_table, loader.summary_table), strict=True):
                _run(conn, dialect, create, table)
            creates = []
        dialect.begin(conn)
    probes: Sequence[tuple[Table, str, bool]] = (
        # batch_id: in both tables since 0.1.0, so an older table not yet migrated probes too.
        (loader.results_table, "batch_id", True),
        (loader.summary_table, "batch_id", False),
    )
    for i, (table, column, deletes) in enumerate(probes):
        name = table.sql(dialect.quote)
        col = dialect.quote.format(column)
        statements = [
            *creates[i : i + 1],
            f"INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0",
            f"UPDATE {name} SET {col} = {col} WHERE 1 = 0",
        ]
        if deletes:
            statements.append(f"DELETE FROM {name} WHERE 1 = 0")
        for sql in statements:
            _run(conn, dialect, sql, table)


def _run(conn: Any, dialect: Any, sql: str, table: Table) -> None:
    try:
        dialect.execute(conn, sql)
    except Exception as exc:
        exc._apb_table = ".".join(filter(None, (table.schema, table.name)))  # type: ignore[attr-defined]
        raise


def _driver_remedy(hook: Any) -> str:
    remedy = getattr(hook, "driver_remedy", None)
    if isinstance(remedy, str):
        return remedy
    return f"Install the database driver {type(hook).__name__} uses on the workers (see the error above)."


def _error(
    target: ResultsTarget,
    table: str,
    problem: str,
    remedy: str,
    exc: BaseException | None,
    password: str | None,
) -> TogetherBatchResultsTargetError:
    detail = ""
    if exc is not None:
        text = " ".join(str(exc).split())[:_DETAIL_CHARS]
        if password:
            text = text.replace(password, "***")
        detail = f" ({type(exc).__name__}: {text})"
    message = (
        f"results target not ready: connection {target.conn_id!r}, table {table}: {problem}{detail}. "
        f"{remedy} Found before any upload: nothing was submitted or paid for."
    )
    return TogetherBatchResultsTargetError(message)


def downstream_targets(task: Any) -> list[ResultsTarget]:
    """The results targets of ``task``'s downstream results operators (plain or mapped whose
    connection and tables are fixed at parse time), each once."""
    from airflow_provider_batch.operators.results import (
        DEFAULT_RESULTS_TABLE,
        DEFAULT_SUMMARY_TABLE,
        TogetherBatchResultsOperator,
    )

    try:
        downstream = task.get_flat_relatives(upstream=False)
    except Exception:  # a task outside a DAG has no downstream to check
        return []
    targets: dict[ResultsTarget, None] = {}
    for other in downstream:
        if isinstance(other, TogetherBatchResultsOperator):
            fields: dict[str, Any] = vars(other)
        else:  # a mapped results task: its partial arguments, when they hold the target
            operator_class = getattr(other, "operator_class", None)
            if not (
                isinstance(operator_class, type) and issubclass(operator_class, TogetherBatchResultsOperator)
            ):
                continue
            fields = dict(getattr(other, "partial_kwargs", {}) or {})
            expanded = getattr(getattr(other, "expand_input", None), "value", {}) or {}
            if {"warehouse_conn_id", "results_table", "summary_table"} & set(expanded):
                continue  # known only per map index, at run time
        conn_id = fields.get("warehouse_conn_id", "together_warehouse")
        results_table = fields.get("results_table", DEFAULT_RESULTS_TABLE)
        summary_table = fields.get("summary_table", DEFAULT_SUMMARY_TABLE)
        if all(isinstance(v, str) for v in (conn_id, results_table, summary_table)):
            targets[ResultsTarget(conn_id, results_table, summary_table)] = None
    return list(targets)
