"""`make demo`: the nightly backfill, offline, on embedded defaults.

Starts the local Together-compatible server, seeds an SQLite source table with three days of
support tickets, runs the ``together_nightly_backfill`` DAG for each of those logical dates with
``dag.test()`` (the deferrable trigger runs inline), and prints what landed in the warehouse.
Everything lives under ``.demo/`` in the repository and is recreated on every run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sqlite3
import sys
import time
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".demo"
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
PER_DAY = 12
DAG_ID = "together_nightly_backfill"


def _prepare_environment(api_key: str, base_url: str) -> None:
    home = WORK / "airflow"
    home.mkdir(parents=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
                {"conn_type": "together", "password": api_key, "host": base_url}
            ),
            "AIRFLOW_CONN_TOGETHER_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(WORK / "warehouse.db")}
            ),
            "APB_WORK_DIR": str(WORK / "files"),
            "APB_START_DATE": DAYS[0].isoformat(),
            "APB_END_DATE": DAYS[-1].isoformat(),
            "APB_POLL_INTERVAL": "1",
            # The local server finishes in seconds: the demo opts out of the 5 s poll-interval floor.
            "APB_MIN_POLL_INTERVAL": "1",
        }
    )
    sys.path.insert(0, str(REPO / "dags_examples"))


def _run_dag() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    initdb()
    bag = DagBag(str(REPO / "dags_examples"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    for day in DAYS:
        started = time.monotonic()
        run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=timezone.utc))
        print(f"  {day}: DAG run {run.state} in {time.monotonic() - started:.1f}s", flush=True)
        if run.state != "success":
            raise SystemExit(f"the DAG run for {day} ended {run.state}; see the log above")


def _print_warehouse() -> None:
    db = sqlite3.connect(WORK / "warehouse.db")
    print("\nA few rows of ticket_summaries per day:")
    for day in DAYS:
        rows = db.execute(
            "SELECT custom_id, customer_tier, status, total_tokens, cost_usd, substr(response_text, 1, 70) "
            "FROM ticket_summaries WHERE custom_id LIKE ? ORDER BY custom_id LIMIT 3",
            (f"T{day:%Y%m%d}-%",),
        ).fetchall()
        for row in rows:
            print(f"  {row[0]}  {row[1]:<10} {row[2]:<9} {row[3]:>4} tok  ${row[4]:.6f}  {row[5]}")
    print("\nCounts by status:")
    for status, n in db.execute("SELECT status, COUNT(*) FROM ticket_summaries GROUP BY status"):
        print(f"  {status:<10} {n}")
    print("\nSpend per batch (ticket_batch_spend):")
    for row in db.execute(
        "SELECT batch_id, final_status, requests, total_tokens, cost_usd_batch, cost_usd_list, savings_usd "
        "FROM ticket_batch_spend ORDER BY submitted_at"
    ):
        print(f"  {row[0]}  {row[1]:<9} {row[2]:>3} req {row[3]:>6} tok  "
              f"batch ${row[4]:.6f}  list ${row[5]:.6f}  saved ${row[6]:.6f}")  # fmt: skip
    print("\nDaily aggregate (daily_ticket_stats):")
    for row in db.execute("SELECT * FROM daily_ticket_stats ORDER BY day"):
        print(f"  {row[0]}  tickets {row[1]}  ok {row[2]}  failed {row[3]}  tokens {row[4]}  "
              f"${row[5]:.6f}  enterprise {row[6]}")  # fmt: skip


def main() -> None:
    started = time.monotonic()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    from airflow_provider_batch.testing.sample_data import seed_support_tickets
    from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig

    seeded = seed_support_tickets(WORK / "warehouse.db", DAYS, PER_DAY)
    api_key = "demo-" + secrets.token_hex(8)
    config = ServerConfig(api_key=api_key, validating_seconds=0.5, processing_seconds=3.0)
    with LocalTogetherServer(config) as server:
        print(f"Local Together-compatible server at {server.base_url} (simulated model)")
        print(f"Seeded {seeded} support tickets over {len(DAYS)} days into {WORK / 'warehouse.db'}")
        _prepare_environment(api_key, server.base_url)
        print(f"Running {DAG_ID} for {', '.join(map(str, DAYS))} ...", flush=True)
        _run_dag()
        stats = server.stats()
    _print_warehouse()
    print(f"\nServer saw {stats['uploads']} uploads and {stats['batch_creates']} batch creates.")
    print(f"Demo finished in {time.monotonic() - started:.0f}s.")


if __name__ == "__main__":
    main()
