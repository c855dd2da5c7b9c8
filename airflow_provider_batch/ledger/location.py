"""Where the submission ledger lives: an Airflow connection, or an embedded SQLite file.

Resolution, first match wins:

1. the operator's ``ledger_conn_id``;
2. the Airflow option ``[together_batch] ledger_conn_id``
   (``AIRFLOW__TOGETHER_BATCH__LEDGER_CONN_ID``): any DB-API connection (PostgreSQL, MySQL /
   MariaDB, SQLite, ...) that every worker, and the API server, can reach;
3. the embedded default, an SQLite file at ``[together_batch] ledger_path`` (default
   ``$AIRFLOW_HOME/together_batch_ledger.db``). Workers of a distributed executor (Celery,
   Kubernetes, Edge) do not share that file, so there the default is refused, loudly and before
   any upload: a ledger one worker cannot see would let a retry on another worker pay again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_provider_batch.ledger._ledger import SubmissionLedger, sqlite_ledger
from airflow_provider_batch.ledger._store import (
    DEFAULT_LEDGER_TABLE,
    DEFAULT_OUTCOME_TABLE,
    SQLITE_BUSY_TIMEOUT_MS,
    LedgerUnavailableError,
)
from airflow_provider_batch.warehouse.dialects import dialect_for

__all__ = ["LEDGER_SECTION", "get_ledger", "ledger_location"]

LEDGER_SECTION = "together_batch"
#: Executors whose tasks all run on the scheduler's machine, so they share a local file.
_LOCAL_EXECUTORS = {"LocalExecutor", "SequentialExecutor", "DebugExecutor"}


def _option(key: str) -> str | None:
    from airflow.configuration import conf

    value = conf.get(LEDGER_SECTION, key, fallback=None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _executors() -> list[str]:
    from airflow.configuration import conf

    raw = conf.get("core", "executor", fallback="LocalExecutor") or "LocalExecutor"
    names = []
    for item in raw.split(","):
        name = item.strip().split(":")[-1].rsplit(".", 1)[-1]
        if name:
            names.append(name)
    return names


def ledger_location(ledger_conn_id: str | None = None) -> tuple[str | None, str]:
    """``(conn_id, sqlite_path)``: the connection to use, else the embedded file's path."""
    conn_id = ledger_conn_id or _option("ledger_conn_id")
    if conn_id:
        return conn_id, ""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return None, _option("ledger_path") or str(Path(home) / "together_batch_ledger.db")


def get_ledger(ledger_conn_id: str | None = None, *, for_writing: bool = True) -> SubmissionLedger:
    """The submission ledger for this deployment.

    :param ledger_conn_id: a DB-API connection id; overrides the Airflow option.
    :param for_writing: refuse the embedded SQLite default under a distributed executor (readers,
        such as a monitoring page on the API server's machine, may still open it).
    :raises LedgerUnavailableError: the ledger cannot be used here.
    """
    table = _option("ledger_table") or DEFAULT_LEDGER_TABLE
    outcome_table = _option("outcome_table") or DEFAULT_OUTCOME_TABLE
    conn_id, path = ledger_location(ledger_conn_id)
    if conn_id:
        return _from_connection(conn_id, table, outcome_table)
    remote = [name for name in _executors() if name not in _LOCAL_EXECUTORS]
    if for_writing and remote:
        raise LedgerUnavailableError(
            f"the submission ledger defaults to the local SQLite file {path}, which workers of "
            f"{', '.join(remote)} do not share; set ledger_conn_id on the operator or the Airflow "
            f"option [{LEDGER_SECTION}] ledger_conn_id to a database every worker can reach "
            "(nothing was uploaded)"
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return sqlite_ledger(path, table=table, outcome_table=outcome_table)


def _from_connection(conn_id: str, table: str, outcome_table: str) -> SubmissionLedger:
    from airflow.sdk import BaseHook

    from airflow_provider_batch._compat import with_fernet_hint

    try:
        connection = BaseHook.get_connection(conn_id)
        hook = connection.get_hook()
    except Exception as exc:
        cause = with_fernet_hint(exc)
        raise LedgerUnavailableError(
            f"the submission ledger connection {conn_id!r} cannot be used: {type(cause).__name__}: {cause}"
        ) from exc
    if not hasattr(hook, "get_conn"):
        raise LedgerUnavailableError(
            f"the submission ledger connection {conn_id!r} ({connection.conn_type}) is not a DB-API "
            "connection"
        )
    # The warehouse loader's dialect for the same hook: one dialect layer for both.
    dialect = dialect_for(hook)

    def connect() -> Any:
        return dialect.wait_for_locks(hook.get_conn(), SQLITE_BUSY_TIMEOUT_MS)

    return SubmissionLedger(
        connect,
        dialect=dialect,
        table=table,
        outcome_table=outcome_table,
        where=f"connection {conn_id!r}",
    )
