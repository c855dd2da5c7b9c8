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
created them; no row is ever written. On Snowflake, tables an earlier release created quoted
(``"wf_results"``) are renamed in place first, rows kept, and both names existing is refused here,
before any upload.

On PostgreSQL and MySQL/MariaDB every privilege a load needs is checked first, each table at once,
so that one error lists them all with the ``GRANT`` that gives them (:func:`missing_privileges`):
``CREATE`` (for a table the load must create: an existing one is not created again),
``SELECT``, ``INSERT``, ``UPDATE`` (upserts, ownership marks), ``DELETE`` (results table:
``replace_logical_date``), ``ALTER`` when an existing table needs this release's migration
(PostgreSQL: ownership of the table) and, on PostgreSQL, ``TEMP`` on the database (the staging
table of a re-run). PostgreSQL answers from its privilege functions; MySQL/MariaDB, whose catalogue
leaves out privileges that come through roles, by running each statement on zero rows (``ALTER
TABLE t`` with no change for ``ALTER``), which the server checks as it would the load's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from airflow_provider_batch.exceptions import TogetherBatchResultsTargetError
from airflow_provider_batch.results._migrate import present_columns
from airflow_provider_batch.results._sql import Table
from airflow_provider_batch.results.models import RESULT_KEY, SUMMARY_KEY
from airflow_provider_batch.results.warehouse import WarehouseLoader
from airflow_provider_batch.warehouse.dialects import warehouse_hook
from airflow_provider_batch.warehouse.dialects.base import TableNameConflict

__all__ = ["MissingPrivilege", "ResultsTarget", "check_results_target", "missing_privileges", "resolve_hook"]

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ResultsTarget:
    """Where a results task will load: its connection and its two tables."""

    conn_id: str
    results_table: str
    summary_table: str
    metadata_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class MissingPrivilege:
    """A privilege the connection's user lacks for a load: on which table, why, and what fixes it."""

    table: str
    privilege: str
    why: str
    #: The statement an administrator runs (the same text for every privilege it gives at once).
    grant: str


class _Missing(Exception):
    def __init__(self, missing: list[MissingPrivilege]) -> None:
        super().__init__(missing)
        self.missing = missing


def check_results_target(target: ResultsTarget) -> None:
    """Raise :class:`TogetherBatchResultsTargetError` unless ``target`` can take the results rows.

    :raises TogetherBatchResultsTargetError: naming the connection, the table and the remedy.
    """
    hook, password = resolve_hook(target)
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
        except _Missing as exc:
            lacks = "; ".join(f"{m.privilege} on {m.table} ({m.why})" for m in exc.missing)
            grants = "; ".join(dict.fromkeys(m.grant for m in exc.missing))
            problem = f"its user lacks privileges a load needs: {lacks}"
            remedy = f"Run as an administrator: {grants}; or use a connection whose user has them."
            raise _error(target, exc.missing[0].table, problem, remedy, None, password) from None
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


def resolve_hook(target: ResultsTarget) -> tuple[Any, str | None]:
    """The target connection's common.sql hook (and its password, for redaction), as the results
    task would build it; a clear error naming the remedy when it cannot be built."""
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
        missing = missing_privileges(conn, loader)
        if missing:
            raise _Missing(missing)
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
        # As the loader: a table the dialect knows to exist is not created again.
        exists = dialect.table_exists(conn, table) is True
        statements = [
            *([] if exists else creates[i : i + 1]),
            f"INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0",
            f"UPDATE {name} SET {col} = {col} WHERE 1 = 0",
        ]
        if deletes:
            statements.append(f"DELETE FROM {name} WHERE 1 = 0")
        for sql in statements:
            _run(conn, dialect, sql, table)


#: What each privilege is needed for, as errors give it.
_WHY = {
    "CREATE": "creating the table, which does not exist yet",
    "SELECT": "reading keys and spend rows",
    "INSERT": "writing rows",
    "UPDATE": "upserts and ownership marks",
    "DELETE": "replace_logical_date",
    "ALTER": "migrating the existing table to this release's columns and key",
    "TEMP": "the staging table of a re-run",
    "CREATE STAGE": "the load's temporary stage, which its Parquet file is PUT to",
}


@dataclass(frozen=True)
class _Need:
    """One table of a load: what it is called, whether it exists, what the load does to it."""

    table: Table
    display: str
    exists: bool
    privileges: tuple[str, ...]


def missing_privileges(conn: Any, loader: WarehouseLoader) -> list[MissingPrivilege]:
    """The privileges the loader's load needs on ``conn``'s database that its user lacks (both
    tables; empty where the dialect has no check: the zero-row probes stand for it). Changes
    nothing: catalogue queries, and on MySQL statements on zero rows or with no change."""
    check = _PRIVILEGE_CHECKS.get(loader.dialect().name)
    return check(conn, loader) if check is not None else []


def _needs(loader: WarehouseLoader, conn: Any) -> list[_Need]:
    """Each table with the privileges its load needs (``ALTER`` only when it needs migrating)."""
    keys = (RESULT_KEY, SUMMARY_KEY)
    needs = []
    for (table, columns), key in zip(loader.named_tables(), keys, strict=True):
        found = loader.dialect().table_exists(conn, table) is True
        # An existing table is not created again (the dialect can tell it exists): no CREATE.
        privileges = ["SELECT", "INSERT", "UPDATE"] if found else ["CREATE", "SELECT", "INSERT", "UPDATE"]
        if table == loader.results_table:
            privileges.append("DELETE")
        if found and _needs_migration(conn, loader, table, [name for name, _ in columns], key):
            privileges.append("ALTER")
        needs.append(_Need(table, _shown(table), found, tuple(privileges)))
    return needs


def _needs_migration(
    conn: Any, loader: WarehouseLoader, table: Table, columns: Sequence[str], key: Sequence[str]
) -> bool:
    """The table lacks a column or has another key (or, on MySQL, text that does not compare
    bytes): the results task will ``ALTER`` it. Unknown (no right to read it) counts as no: the
    missing ``SELECT`` is reported, and the next check tells the rest."""
    dialect = loader.dialect()
    try:
        present = {c.lower() for c in _columns(conn, dialect, table)}
        current = dialect.primary_key(conn, table)
        converts = dialect.text_conversion_sql(conn, table) is not None
    except Exception:
        return False
    rekey = current is not None and [c.lower() for c in current] != [k.lower() for k in key]
    return rekey or converts or any(c.lower() not in present for c in columns)


def _columns(conn: Any, dialect: Any, table: Table) -> list[str]:
    if dialect.name == "postgresql":  # the catalogue, readable without any right on the table
        rows = dialect.query(
            conn,
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
            " AND NOT attisdropped",
            (table.sql(dialect.quote),),
        )
        return [str(r[0]) for r in rows]
    return present_columns(conn, dialect, table)


def _postgres_privileges(conn: Any, loader: WarehouseLoader) -> list[MissingPrivilege]:
    dialect = loader.dialect()
    q, ask = dialect.quote.format, _asker(conn, dialect)
    ((user, database, default_schema),) = dialect.query(
        conn, "SELECT current_user, current_database(), current_schema()"
    )
    grantee = q(user)
    missing: list[MissingPrivilege] = []

    # The schemas first: without USAGE no table in it can even be looked up. CREATE on the
    # schema only for a table the load must create (an existing one is not created again).
    for table, _ in loader.named_tables():
        schema = table.schema or default_schema
        display = _shown(table)
        lacks = [] if ask("has_schema_privilege(%s, %s)", schema, "USAGE") else ["USAGE"]
        creates = lacks or not dialect.table_exists(conn, table)
        if creates and not ask("has_schema_privilege(%s, %s)", schema, "CREATE"):
            lacks.append("CREATE")
        grant = f"GRANT {', '.join(lacks)} ON SCHEMA {q(schema)} TO {grantee}"
        reasons = {"USAGE": "reaching the table", "CREATE": _WHY["CREATE"]}
        on = f"; PostgreSQL grants it on the schema {schema}"
        missing += [MissingPrivilege(display, p, reasons[p] + on, grant) for p in lacks]
    if any(m.privilege == "USAGE" for m in missing):
        return missing

    for need in _needs(loader, conn):
        if not need.exists:
            continue  # its creator owns it, with every privilege
        name = need.table.sql(dialect.quote)
        in_table = [p for p in need.privileges if p not in ("CREATE", "ALTER")]
        lacks = [p for p in in_table if not ask("has_table_privilege(%s, %s)", name, p)]
        grant = f"GRANT {', '.join(lacks)} ON {name} TO {grantee}"
        missing += [MissingPrivilege(need.display, p, _WHY[p], grant) for p in lacks]
        owner = "(SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(%s))"
        if "ALTER" in need.privileges and not ask(owner, name):
            why = _WHY["ALTER"] + "; PostgreSQL lets only the table's owner alter it"
            grant = f"ALTER TABLE {name} OWNER TO {grantee}"
            missing.append(MissingPrivilege(need.display, "ALTER", why, grant))
    if not ask("has_database_privilege(current_database(), 'TEMP')"):
        grant = f"GRANT TEMP ON DATABASE {q(database)} TO {grantee}"
        missing.append(MissingPrivilege(f"database {database}", "TEMP", _WHY["TEMP"], grant))
    return missing


def _asker(conn: Any, dialect: Any) -> Callable[..., Any]:
    """``ask(expression, *params)``: the value of one SQL expression."""

    def ask(expression: str, *params: Any) -> Any:
        return dialect.query(conn, f"SELECT {expression}", params)[0][0]

    return ask


def _mysql_privileges(conn: Any, loader: WarehouseLoader) -> list[MissingPrivilege]:
    """Each privilege by its own statement (zero rows, or no change): the server checks it as it
    would the load's, including privileges that come through roles, which its catalogue omits.
    A refused statement does not end MySQL's transaction, so every table's are found at once."""
    dialect = loader.dialect()
    ((user, database),) = dialect.query(conn, "SELECT CURRENT_USER(), DATABASE()")
    name, _, host = str(user).rpartition("@")
    grantee = f"'{name}'@'{host}'"
    creates = dict(
        zip((loader.results_table, loader.summary_table), loader.create_table_statements(), strict=True)
    )

    missing: list[MissingPrivilege] = []
    for need in _needs(loader, conn):
        ref, col = need.table.sql(dialect.quote), dialect.quote.format("batch_id")
        probes = {
            "CREATE": creates[need.table],
            "SELECT": f"SELECT * FROM {ref} WHERE 1 = 0",
            "INSERT": f"INSERT INTO {ref} SELECT * FROM {ref} WHERE 1 = 0",
            "UPDATE": f"UPDATE {ref} SET {col} = {col} WHERE 1 = 0",
            "DELETE": f"DELETE FROM {ref} WHERE 1 = 0",
            "ALTER": f"ALTER TABLE {ref}",  # no change: checked, not rebuilt
        }
        lacks = [p for p in need.privileges if _refused(conn, dialect, probes[p])]
        qualified = Table(need.table.name, need.table.schema or str(database)).sql(dialect.quote)
        grant = f"GRANT {', '.join(lacks)} ON {qualified} TO {grantee}"
        missing += [MissingPrivilege(need.display, p, _WHY[p], grant) for p in lacks]
    return missing


#: MySQL's "command denied" errors (table, column, database, and a denied ``ALTER``'s 1142).
_DENIED = (1142, 1143, 1044)


def _refused(conn: Any, dialect: Any, sql: str) -> bool:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        with contextlib.suppress(Exception):
            cur.fetchall()  # mysql-connector refuses to close a cursor with an unread result
    except Exception as exc:
        code = getattr(exc, "errno", None)
        if code is None and exc.args and isinstance(exc.args[0], int):
            code = exc.args[0]  # mysqlclient
        if code in _DENIED:
            return True
        if code == 1146:  # no such table: this privilege was granted (checked first)
            return False
        raise
    finally:
        cur.close()
    return False


def _snowflake_privileges(conn: Any, loader: WarehouseLoader) -> list[MissingPrivilege]:
    """The load's temporary stage, created in each table's schema as the load creates it (a
    temporary stage ends with the session, which the check closes). Privileges on the tables
    themselves are the zero-row probes' to find; an existing table's migration needs its
    ownership, which is not checked here (see README, *Snowflake*)."""
    dialect = loader.dialect()
    sql = "SELECT CURRENT_ROLE(), CURRENT_DATABASE(), CURRENT_SCHEMA()"
    ((role, database, current),) = dialect.query(conn, sql)
    missing = []
    by_schema = {table.schema: table for table in (loader.summary_table, loader.results_table)}
    for table in by_schema.values():  # one stage per schema, as the load creates it
        stage = Table("apb_preflight_stage", table.schema).sql(dialect.quote)
        try:
            dialect.execute(conn, f"CREATE TEMPORARY STAGE IF NOT EXISTS {stage}")
        except Exception as exc:
            if not _insufficient(exc):
                raise
            grant = f"GRANT CREATE STAGE ON SCHEMA {database}.{table.schema or current} TO ROLE {role}"
            missing.append(MissingPrivilege(_shown(table), "CREATE STAGE", _WHY["CREATE STAGE"], grant))
    return missing


def _insufficient(exc: Exception) -> bool:
    """Snowflake's "Insufficient privileges to operate on …" (error 3001)."""
    return getattr(exc, "errno", None) == 3001 or "insufficient privileges" in str(exc).lower()


_PRIVILEGE_CHECKS: dict[str, Callable[[Any, WarehouseLoader], list[MissingPrivilege]]] = {
    "postgresql": _postgres_privileges,
    "mysql": _mysql_privileges,
    "snowflake": _snowflake_privileges,
}


def _run(conn: Any, dialect: Any, sql: str, table: Table) -> None:
    try:
        dialect.execute(conn, sql)
    except Exception as exc:
        exc._apb_table = _shown(table)  # type: ignore[attr-defined]
        raise


def _shown(table: Table) -> str:
    """``schema.table`` (or ``table``) as the user named it, for messages."""
    return ".".join(filter(None, (table.schema, table.name)))


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
