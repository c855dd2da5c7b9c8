"""Helpers of the pipeline tests: source rows, connections, running the DAGs of ``dags/`` and
reading what they left (imported by module name: the test folders are not packages)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.airflow.apb_airflow_helpers import set_connection
from tests.airflow.apb_dag_runs import ti_states, xcom

__all__ = [
    "MYSQL",
    "PG",
    "asset_events",
    "error_code",
    "load_dags",
    "mysql_query",
    "pg_query",
    "rows",
    "run_dag",
    "seed_source",
    "set_conn",
    "ti_states",
    "together_conn",
    "uploads",
    "when_batch_appears",
    "xcom",
]

DAGS_FILE = Path(__file__).parent / "dags" / "apb_pipeline_dags.py"
SEGMENTS = ("retail", "wholesale", "partner")
#: The test PostgreSQL (trust auth); see the ``pg_table`` fixture.
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
#: The test MySQL/MariaDB (root, empty password); see the ``mysql_table`` fixture.
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}


def seed_source(path: Path, rows: int) -> Path:
    """``source_rows(id, question, segment)`` with ``rows`` rows, in a fresh SQLite file."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE source_rows (id INTEGER PRIMARY KEY, question TEXT, segment TEXT)")
        conn.executemany(
            "INSERT INTO source_rows VALUES (?, ?, ?)",
            ((n, f"What is {n} times {n % 97}?", SEGMENTS[n % 3]) for n in range(rows)),
        )
    conn.close()
    return path


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def together_conn(monkeypatch: pytest.MonkeyPatch, server: Any, **extra: Any) -> None:
    """The connection ``together_default`` to ``server``, of its vendor's type (and, for OpenAI,
    pricing the Together models the DAGs name)."""
    set_connection(monkeypatch, server, **extra)


def load_dags(fresh: bool = False) -> ModuleType:
    """The DAG module; ``fresh`` re-executes it (for settings it reads from the environment)."""
    name = "apb_pipeline_dags"
    if name in sys.modules and not fresh:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DAGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def run_dag(
    dag_id: str,
    work_dir: Path,
    *,
    logical_date: datetime | None = None,
    run_after: datetime | None = None,
    fresh: bool = False,
) -> Any:
    """``dag.test()`` one DAG of the module; the run id derives from ``run_after``, which
    defaults to ``logical_date`` so that running again with it re-runs the same run."""
    from airflow.sdk import DAG

    module = load_dags(fresh)
    (dag,) = [v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    kwargs: dict[str, Any] = {"run_conf": {"work_dir": str(work_dir)}}
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
        kwargs["run_after"] = run_after or logical_date
    return dag.test(**kwargs)


def asset_events(dag_run: Any, task_id: str, since: Any = None) -> list[dict[str, Any]]:
    """``extra`` of every asset event the task emitted in this run (from ``since`` on: the
    metadata DB is shared by the session, and a run id comes back with its logical date)."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(
                AssetEvent.source_dag_id == dag_run.dag_id,
                AssetEvent.source_run_id == dag_run.run_id,
                AssetEvent.source_task_id == task_id,
                *([AssetEvent.timestamp >= since] if since is not None else []),
            )
        ).all()
        return [dict(e.extra or {}) for e in events]


def rows(db: Path, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        found = conn.execute(sql, args).fetchall()
    conn.close()
    return found


def when_batch_appears(
    server: Any, action: Callable[[str], None], *, min_progress: float = 0.0, timeout: float = 60.0
) -> threading.Thread:
    """Call ``action(batch_id)`` on a background thread once the server has a batch that has
    reached ``min_progress`` percent (for forcing a status while ``dag.test()`` waits on it)."""

    def watch() -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            ready = [b for b in server.batches() if float(b.get("progress") or 0) >= min_progress]
            if ready:
                action(ready[0]["id"])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, name="apb-batch-watch", daemon=True)
    thread.start()
    return thread


def pg_query(sql: str, *args: Any) -> list[tuple]:
    """Rows of one query on the test PostgreSQL."""
    import psycopg

    with psycopg.connect(**PG) as conn:
        return [tuple(r) for r in conn.execute(sql, args or None).fetchall()]


def mysql_query(sql: str, *args: Any) -> list[tuple]:
    """Rows of one query on the test MySQL/MariaDB."""
    import mysql.connector

    conn = mysql.connector.connect(**MYSQL)
    try:
        cur = conn.cursor()
        cur.execute(sql, args or None)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def uploads(server: Any, parts: int) -> int:
    """The file uploads the server counts for ``parts`` parts sent: none on a vendor whose
    requests go inline in the create (Anthropic's)."""
    from airflow_provider_batch.vendors import vendor_named

    return 0 if vendor_named(server.vendor).input_staged_locally else parts


def error_code(server: Any, code: str) -> str:
    """The error code a ``[[fail:CODE]]`` marker gives on ``server``'s vendor (its emulation's
    :meth:`~airflow_provider_batch.vendors.base.BatchVendor.emulation_error_code`)."""
    from airflow_provider_batch.vendors import vendor_named

    return vendor_named(server.vendor).emulation_error_code(code)
