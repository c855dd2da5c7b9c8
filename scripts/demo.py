"""`make demo`: the nightly backfill, offline, on embedded defaults.

Starts the local Together-compatible server, seeds an SQLite source table with three days of
support tickets, runs the ``together_nightly_backfill`` DAG for each of those logical dates with
``dag.test()`` (the deferrable trigger runs inline), and prints what landed in the warehouse.
On the second day the server fails two requests: one transiently (``server_error``, answered by
the follow-up batch the results task sends) and one permanently (``context_length_exceeded``,
never re-sent). It ends by pointing at ``make ui``, which shows these batches on the "LLM batches"
page of a local Airflow.
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
POLL_INTERVAL = 1.0
# Requests the local server fails, by a marker in their prompt: ``[[fail-once:CODE]]`` the first
# time the server sees the custom_id (transient: the follow-up batch re-sends it and gets an
# answer), ``[[fail:CODE]]`` every time (a permanent code: never re-sent).
FAILURES = {
    f"T{DAYS[1]:%Y%m%d}-00003": ("fail-once", "server_error"),
    f"T{DAYS[1]:%Y%m%d}-00007": ("fail", "context_length_exceeded"),
}
#: Where Airflow's api-server listens by default; ``[api] base_url`` overrides it.
DEFAULT_AIRFLOW_URL = "http://localhost:8080"


def _mark_failures(db_path: Path) -> None:
    """Append the server's failure markers to the bodies of the tickets in :data:`FAILURES`."""
    with sqlite3.connect(db_path) as db:
        for ticket_id, (kind, code) in FAILURES.items():
            db.execute(
                "UPDATE support_tickets SET body = body || ? WHERE ticket_id = ?",
                (f" [[{kind}:{code}]]", ticket_id),
            )


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
            # The example DAGs poll at the connection's poll_interval extra.
            "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
                {
                    "conn_type": "together",
                    "password": api_key,
                    "host": base_url,
                    "extra": {"poll_interval": POLL_INTERVAL},
                }
            ),
            "AIRFLOW_CONN_TOGETHER_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(WORK / "warehouse.db")}
            ),
            "APB_WORK_DIR": str(WORK / "files"),
            "APB_START_DATE": DAYS[0].isoformat(),
            "APB_END_DATE": DAYS[-1].isoformat(),
            # The local server finishes in seconds: the demo opts out of the 5 s poll-interval floor.
            "APB_MIN_POLL_INTERVAL": str(POLL_INTERVAL),
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
    print("\nFailures and the follow-up batch:")
    for row in db.execute(
        "SELECT custom_id, status, error_code, attempts, batch_id, answered_by_batch_id "
        "FROM ticket_summaries WHERE status <> 'succeeded' OR attempts > 1 ORDER BY custom_id"
    ):
        custom_id, status, code, attempts, batch_id, answered_by = row
        if answered_by != batch_id:
            print(f"  {custom_id}  {FAILURES[custom_id][1]} in batch {batch_id[:8]}, re-sent: "
                  f"{status} in follow-up batch {answered_by[:8]} (attempt {attempts})")  # fmt: skip
        else:
            print(f"  {custom_id}  {code} in batch {batch_id[:8]}: permanent, not re-sent, stays {status}")
    follow_ups = {
        answered_by
        for (answered_by,) in db.execute(
            "SELECT DISTINCT answered_by_batch_id FROM ticket_summaries "
            "WHERE answered_by_batch_id <> batch_id"
        )
    }
    print("\nSpend per batch (ticket_batch_spend):")
    for row in db.execute(
        "SELECT batch_id, final_status, requests, failed, total_tokens, cost_usd_batch, cost_usd_list, "
        "savings_usd FROM ticket_batch_spend ORDER BY submitted_at"
    ):
        note = "  follow-up" if row[0] in follow_ups else ""
        print(f"  {row[0]}  {row[1]:<9} {row[2]:>3} req {row[3]:>2} failed {row[4]:>5} tok  "
              f"batch ${row[5]:.6f}  list ${row[6]:.6f}  saved ${row[7]:.6f}{note}")  # fmt: skip
    print("\nDaily aggregate (daily_ticket_stats):")
    for row in db.execute("SELECT * FROM daily_ticket_stats ORDER BY day"):
        print(f"  {row[0]}  tickets {row[1]}  ok {row[2]}  failed {row[3]}  tokens {row[4]}  "
              f"${row[5]:.6f}  enterprise {row[6]}")  # fmt: skip


def _quiet_starlette_deprecations() -> None:
    """Hide Starlette's own deprecation notices, which the server's dependencies (not this
    provider: it uses no deprecated Starlette API) may raise. They subclass ``UserWarning``, so the
    ``DeprecationWarning`` filter in :func:`main` does not catch them; other warnings still show."""
    try:
        from starlette.exceptions import StarletteDeprecationWarning
    except ImportError:  # a Starlette without that category has none of those notices
        return
    warnings.filterwarnings("ignore", category=StarletteDeprecationWarning)


def _print_page_url() -> None:
    from airflow.configuration import conf

    from airflow_provider_batch.ui.urls import page_url

    base_url = conf.get("api", "base_url", fallback=None) or DEFAULT_AIRFLOW_URL
    print('\nSee these batches on the "LLM batches" page: `make ui` starts a local Airflow on this')
    print("ledger, prints the address and a login, and stops on Ctrl-C. In your own Airflow with the")
    print(f'provider installed (README, "Monitoring"), at {base_url} ([api] base_url), the page is:')
    print(f"  {page_url(base_url, dag_id=DAG_ID)}")


def main() -> None:
    started = time.monotonic()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    from airflow_provider_batch.testing.sample_data import seed_support_tickets
    from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig

    seeded = seed_support_tickets(WORK / "warehouse.db", DAYS, PER_DAY)
    _mark_failures(WORK / "warehouse.db")
    api_key = "demo-" + secrets.token_hex(8)
    config = ServerConfig(api_key=api_key, validating_seconds=0.5, processing_seconds=3.0)
    _quiet_starlette_deprecations()
    with LocalTogetherServer(config) as server:
        print(f"Local Together-compatible server at {server.base_url} (simulated model)")
        print(f"Seeded {seeded} support tickets over {len(DAYS)} days into {WORK / 'warehouse.db'}")
        print(f"On {DAYS[1]} the server fails two requests:")
        for ticket_id, (kind, code) in FAILURES.items():
            when = "the first time (transient)" if kind == "fail-once" else "every time (permanent)"
            print(f"  {ticket_id} with {code} {when}")
        _prepare_environment(api_key, server.base_url)
        print(f"Running {DAG_ID} for {', '.join(map(str, DAYS))} ...", flush=True)
        _run_dag()
        stats = server.stats()
    _print_warehouse()
    print(f"\nServer saw {stats['uploads']} uploads and {stats['batch_creates']} batch creates.")
    print(f"Demo finished in {time.monotonic() - started:.0f}s.")
    _print_page_url()


if __name__ == "__main__":
    main()
