"""Time the "LLM batches" page and its JSON API on a big ledger (the page figures in BENCHMARKS.md).

    python scripts/bench_page.py [sqlite|postgres] [BATCHES] [RUNNING]

Fills a fresh ledger with BATCHES batches (default 5,000) over 30 nightly runs and 200 DAGs, each
loaded with an outcome and a failure breakdown, except RUNNING (default 50) that are still
running; then asks the page's app (the one the plugin mounts, behind Airflow's real login and
SimpleAuthManager) for the page and the JSON, as the admin and as a user who may read 20 DAGs,
and prints the median server time of 15 requests each. The connection points at the local
server, whose request counter proves that no page load called the vendor's API.

PostgreSQL: 127.0.0.1:5432, user postgres, database ``test``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
NOW = datetime.now(tz=timezone.utc).replace(microsecond=0)


def _ledger(dialect: str) -> Any:
    from airflow_provider_batch.ledger import SubmissionLedger, sqlite_ledger

    suffix = uuid.uuid4().hex[:8]
    table, outcomes = f"bench_sub_{suffix}", f"bench_out_{suffix}"
    if dialect == "sqlite":
        path = Path(tempfile.mkdtemp()) / "ledger.db"
        os.environ["AIRFLOW__TOGETHER_BATCH__LEDGER_PATH"] = str(path)
        sqlite_ledger(str(path), table=table, outcome_table=outcomes).ensure()

        def unsynced() -> sqlite3.Connection:  # only to fill it faster; the page reads it as usual
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA synchronous = OFF")
            return conn

        return SubmissionLedger(unsynced, dialect="sqlite", table=table, outcome_table=outcomes)
    import psycopg2

    def connect() -> Any:
        return psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")

    uri = "postgresql://postgres@127.0.0.1:5432/test"
    os.environ["AIRFLOW_CONN_BENCH_LEDGER"] = uri
    os.environ["AIRFLOW__TOGETHER_BATCH__LEDGER_CONN_ID"] = "bench_ledger"
    return SubmissionLedger(connect, dialect="postgres", table=table, outcome_table=outcomes)


def _fill(ledger: Any, batches: int, running: int) -> None:
    from airflow_provider_batch.ledger import BatchOutcome, FailureBucket, TaskIdentity

    os.environ["AIRFLOW__TOGETHER_BATCH__LEDGER_TABLE"] = ledger.table
    os.environ["AIRFLOW__TOGETHER_BATCH__OUTCOME_TABLE"] = ledger.outcome_table
    for n in range(batches):
        night = NOW - timedelta(days=n % 30)
        dag_id = f"{'alice' if n % 200 < 20 else 'team'}_{n % 200:03d}"  # alice may read 20 of 200
        identity = TaskIdentity(dag_id, "submit", f"scheduled__{night.date()}", n // 200)
        record = ledger.open(
            identity, part_index=0, part_sha256=f"{n:064d}", generation=0, request_count=1000,
            endpoint="/v1/chat/completions", together_conn_id="together_default", model=MODEL,
            estimated_cost_usd=0.5, vendor="together", logical_date=night,
        )  # fmt: skip
        done = n >= running
        ledger.record_batch(record, f"batch-{n:05d}", night, "IN_PROGRESS")
        if not done:
            ledger.record_status(f"batch-{n:05d}", "IN_PROGRESS", 40.0)
            continue
        failures = [FailureBucket(code="server_error", count=3, examples=["r-1", "r-2", "r-3"])]
        outcome = BatchOutcome(
            batch_id=f"batch-{n:05d}", dag_id=dag_id, task_id="results", run_id=identity.run_id,
            map_index=identity.map_index, results_table="r", summary_table="s", warehouse_conn_id="w",
            final_status="COMPLETED", requests=1000, succeeded=997, failed=3, cost_usd_batch=0.4,
            cost_usd_list=0.8, savings_usd=0.4, failures=failures, loaded_at=night + timedelta(hours=2),
        )  # fmt: skip
        ledger.record_outcome(outcome)


def _median_ms(client: Any, path: str, params: dict[str, Any]) -> float:
    times = []
    for _ in range(15):
        start = time.perf_counter()
        resp = client.get(path, params=params)
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, resp.text
    return statistics.median(times)


def main() -> None:
    dialect = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    running = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    home = Path(tempfile.mkdtemp())
    os.environ.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.ui.limited_auth.DagLimitedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,alice:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False", "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow",
    })  # fmt: skip
    from airflow_provider_batch.testing.server import ControlClient, server_process

    key = "bench-" + uuid.uuid4().hex
    with server_process(key, "--processing-seconds", "3600") as url:
        os.environ["AIRFLOW_CONN_TOGETHER_DEFAULT"] = json.dumps(
            {"conn_type": "together", "password": key, "host": url}
        )
        _run(dialect, batches, running, ControlClient(url, key))


def _run(dialect: str, batches: int, running: int, control: Any) -> None:
    from airflow.utils import db

    db.initdb()
    ledger = _ledger(dialect)
    try:
        _time(ledger, dialect, batches, running, control)
    finally:
        if dialect == "postgres":
            with ledger._tx() as cur:
                cur.execute(f"DROP TABLE {ledger.table}, {ledger.outcome_table}")


def _time(ledger: Any, dialect: str, batches: int, running: int, control: Any) -> None:
    from airflow.api_fastapi import app as api_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from airflow_provider_batch.ui.app import create_app

    start = time.perf_counter()
    _fill(ledger, batches, running)
    print(f"{dialect}: {batches} batches ({running} running) written in {time.perf_counter() - start:.1f} s")
    manager = api_app.init_auth_manager()
    before = sum(control.stats()["requests"].values())
    # alice may read the DAGs whose id starts with "alice_" (tests/ui/limited_auth.py): 20 of 200.
    for user, role in (("admin", "admin"), ("alice", "viewer")):
        client = TestClient(create_app())
        client.cookies.set("_token", manager.generate_jwt(SimpleAuthManagerUser(username=user, role=role)))
        for label, path, params in (
            ("page", "/page", {}),
            ("JSON", "/api/batches", {}),
            ("page, status=IN_PROGRESS", "/page", {"status": "IN_PROGRESS"}),
            ("JSON, limit=200", "/api/batches", {"limit": 200}),
            ("page, sort=spend", "/page", {"sort": "spend"}),
        ):
            print(f"  {user:5s} {label:26s} {_median_ms(client, path, params):7.1f} ms")
    print(f"  vendor API calls during the page loads: {sum(control.stats()['requests'].values()) - before}")


if __name__ == "__main__":
    main()
