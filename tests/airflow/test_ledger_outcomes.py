"""Batch outcomes and per-part estimates in the ledger, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.ledger import (
    BatchOutcome,
    BatchQuery,
    FailureBucket,
    SubmissionLedger,
    TaskIdentity,
    sqlite_ledger,
)
from airflow_provider_batch.ui.summary import summarize
from tests.services import require_mysql, require_postgres

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _pg() -> Any:
    import psycopg2

    return psycopg2.connect(**PG)


def _mysql() -> Any:
    import mysql.connector

    return mysql.connector.connect(**MYSQL)


def _drop(connect: Callable[[], Any], *tables: str) -> None:
    conn = connect()
    try:
        cur = conn.cursor()
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SubmissionLedger]:
    suffix = uuid.uuid4().hex[:10]
    table, outcomes = f"apb_sub_{suffix}", f"apb_out_{suffix}"
    if request.param == "sqlite":
        yield sqlite_ledger(str(tmp_path / "ledger.db"), table=table, outcome_table=outcomes)
        return
    if request.param == "postgres":
        require_postgres()
        connect, dialect = _pg, "postgres"
    else:
        require_mysql()
        connect, dialect = _mysql, "mysql"
    try:
        yield SubmissionLedger(connect, dialect=dialect, table=table, outcome_table=outcomes)  # type: ignore[arg-type]
    finally:
        _drop(connect, table, outcomes)


def _outcome(batch_id: str, *, task_id: str = "results", failed: int = 2, **kw: Any) -> BatchOutcome:
    values: dict[str, Any] = {
        "batch_id": batch_id,
        "dag_id": "nightly",
        "task_id": task_id,
        "run_id": "scheduled__2026-11-30",
        "map_index": -1,
        "results_table": "llm_results",
        "summary_table": "llm_results_summary",
        "warehouse_conn_id": "warehouse",
        "final_status": "COMPLETED",
        "requests": 10,
        "succeeded": 10 - failed,
        "failed": failed,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
        "cost_usd_batch": 0.0015,
        "cost_usd_list": 0.003,
        "savings_usd": 0.0015,
        "failures": [FailureBucket(code="server_error", count=failed, examples=["r-3", "r-7"][:failed])],
        "loaded_at": WHEN,
    }
    values.update(kw)
    return BatchOutcome.model_validate(values)


def test_an_outcome_round_trips_with_its_failures(ledger: SubmissionLedger) -> None:
    ledger.record_outcome(_outcome("batch-1"))
    (got,) = ledger.outcomes_for(["batch-1"])
    assert got == _outcome("batch-1")
    assert got.failures[0].examples == ["r-3", "r-7"]
    assert ledger.outcomes_for(["batch-2"]) == []
    assert ledger.outcomes_for([]) == []


def test_a_reload_replaces_only_that_tasks_outcome(ledger: SubmissionLedger) -> None:
    ledger.record_outcome(_outcome("batch-1"))
    ledger.record_outcome(_outcome("batch-1", task_id="results_copy", failed=1))
    later = WHEN + timedelta(hours=1)
    ledger.record_outcome(_outcome("batch-1", failed=0, failures=[], loaded_at=later))
    got = ledger.outcomes_for(["batch-1"])
    assert [(o.task_id, o.failed) for o in got] == [("results", 0), ("results_copy", 1)]


def test_outcomes_for_many_batches(ledger: SubmissionLedger) -> None:
    ids = [f"batch-{i}" for i in range(3)]
    for i, batch_id in enumerate(ids):
        ledger.record_outcome(_outcome(batch_id, loaded_at=WHEN + timedelta(minutes=i)))
    assert [o.batch_id for o in ledger.outcomes_for(ids)] == list(reversed(ids))


def test_a_part_records_its_model_and_estimate(ledger: SubmissionLedger) -> None:
    identity = TaskIdentity("nightly", "submit", "scheduled__2026-11-30")
    record = ledger.open(
        identity, part_index=0, part_sha256="a" * 64, generation=0, request_count=10,
        endpoint="/v1/chat/completions", together_conn_id="together",
        model="meta-llama/Llama-3.3-70B-Instruct-Turbo", estimated_cost_usd=0.0125, vendor="openai",
    )  # fmt: skip
    assert record.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    (stored,) = ledger.records_for(identity)
    assert stored.estimated_cost_usd == pytest.approx(0.0125)
    assert stored.model == record.model
    assert stored.vendor == "openai"


def test_a_ledger_table_from_before_gains_the_new_columns(tmp_path: Path) -> None:
    """A table created before ``model``, ``estimated_cost_usd`` and ``vendor`` existed keeps its
    rows and gets the columns on first use; its rows read as Together's (``vendor`` NULL)."""
    path = str(tmp_path / "ledger.db")
    old = sqlite_ledger(path)
    identity = TaskIdentity("nightly", "submit", "run-1")
    old.open(identity, part_index=0, part_sha256="b" * 64, generation=0, request_count=1,
             endpoint="/v1/chat/completions", together_conn_id="together")  # fmt: skip
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE together_batch_submissions DROP COLUMN model")
    conn.execute("ALTER TABLE together_batch_submissions DROP COLUMN estimated_cost_usd")
    conn.execute("ALTER TABLE together_batch_submissions DROP COLUMN vendor")
    conn.commit()
    conn.close()
    (record,) = sqlite_ledger(path).records_for(identity)
    assert record.model is None and record.estimated_cost_usd is None and record.vendor is None
    columns = {
        row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(together_batch_submissions)")
    }
    assert {"model", "estimated_cost_usd", "vendor"} <= columns


def test_a_ledger_on_an_sqlite_connection_waits_for_another_writer(tmp_path: Path, monkeypatch) -> None:
    """``ledger_conn_id`` naming an SQLite connection: a write waits while another process holds
    the file's write lock (sqlite3's own default gave up after 5 s with ``database is locked``)."""
    import json
    import threading
    import time

    from airflow_provider_batch.ledger.location import get_ledger

    path = tmp_path / "ledger.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_APB_LEDGER_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    ledger = get_ledger("apb_ledger_sqlite")
    ledger.ensure()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(6.0, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        record = ledger.open(
            TaskIdentity("nightly", "submit", "run-1"), part_index=0, part_sha256="0" * 64, generation=0,
            request_count=1, endpoint="/v1/chat/completions", together_conn_id="together",
        )  # fmt: skip
    finally:
        release.join()
        other.close()
    assert time.monotonic() - started >= 5.5
    assert ledger.records_for(record.identity) == [record]


def _raw(ledger: SubmissionLedger, sql: str) -> list[tuple[Any, ...]]:
    with ledger._tx() as cur:
        cur.execute(ledger._sql(sql))
        return list(cur.fetchall()) if cur.description else []


def test_an_outcome_table_from_before_gains_the_cache_token_columns(ledger: SubmissionLedger) -> None:
    """An outcome table of the previous release (no prompt-cache columns) gets them in place on
    first use: its old outcome reads 0 cached tokens (the columns are NULL for it), a new outcome
    keeps its counts, and the page's daily spend adds both up."""
    identity = TaskIdentity("nightly", "submit", "scheduled__2026-11-30")
    for part, batch_id in enumerate(("batch-old", "batch-new")):
        record = ledger.open(
            identity, part_index=part, part_sha256=f"{part:064d}", generation=0, request_count=10,
            endpoint="/v1/messages", together_conn_id="anthropic_default", model="claude-haiku-4-5",
            vendor="anthropic",
        )  # fmt: skip
        ledger.record_batch(record, batch_id, WHEN, "COMPLETED")
    ledger.record_outcome(_outcome("batch-old"))
    for column in ("cache_creation_tokens", "cache_read_tokens"):
        _raw(ledger, f"ALTER TABLE {{o}} DROP COLUMN {column}")
    assert _raw(ledger, "SELECT COUNT(*) FROM {o}") == [(1,)]

    upgraded = SubmissionLedger(
        ledger._connect, dialect=ledger.sql_dialect, table=ledger.table, outcome_table=ledger.outcome_table
    )
    cached = _outcome("batch-new", cache_creation_tokens=4_096, cache_read_tokens=77_824)
    upgraded.record_outcome(cached)
    assert _raw(
        upgraded, "SELECT cache_creation_tokens, cache_read_tokens FROM {o} WHERE batch_id = 'batch-old'"
    ) == [(None, None)]
    old, new = (upgraded.outcomes_for([b])[0] for b in ("batch-old", "batch-new"))
    assert (old.cache_creation_tokens, old.cache_read_tokens) == (0, 0) and old == _outcome("batch-old")
    assert new == cached and new.cached
    (day,) = upgraded.daily_spend(since=WHEN - timedelta(days=1))
    assert (day.vendor, day.batches, day.cache_creation_tokens, day.cache_read_tokens) == (
        "anthropic",
        2,
        4_096,
        77_824,
    )
    assert day.cost_usd_batch == pytest.approx(2 * 0.0015)
    glance = summarize(*upgraded.summary_rows(BatchQuery()))  # the page's summary, old row NULL
    assert (glance.batches, glance.cache_creation_tokens, glance.cache_read_tokens) == (2, 4_096, 77_824)
    # A third process finds the columns there and changes nothing.
    again = SubmissionLedger(
        ledger._connect, dialect=ledger.sql_dialect, table=ledger.table, outcome_table=ledger.outcome_table
    )
    assert again.outcomes_for(["batch-new"]) == [cached]
