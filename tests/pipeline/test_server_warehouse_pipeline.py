"""The small pipeline loading into the real PostgreSQL and the real MariaDB (database ``test``,
through the MySQL provider and mysql-connector-python): same guarantees as on SQLite, and a re-run
of the same DAG run merges instead of duplicating."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from apb_pipeline_helpers import run_dag, seed_source, ti_states, xcom

pytestmark = pytest.mark.timeout(180)

N = 30


def test_pipeline_loads_into_a_database_server_exactly_once(pipeline: Any, server_table: Any) -> None:
    db = server_table
    seed_source(pipeline.source, N)
    when = datetime(2026, 5, 1, tzinfo=timezone.utc)
    first = run_dag(db.dag_id, pipeline.work_dir, logical_date=when, fresh=True)
    assert ti_states(first) == {"build": ("success", 1), "submit": ("success", 1), "results": ("success", 1)}
    again = run_dag(db.dag_id, pipeline.work_dir, logical_date=when)
    assert again.run_id == first.run_id and ti_states(again)["results"][0] == "success"
    assert pipeline.server.stats()["batch_creates"] == 1

    table, summary = db.quoted(db.table), db.quoted(f"{db.table}_summary")
    assert db.query(f"SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM {table}") == [(N, N)]
    assert db.query(f"SELECT status, COUNT(*) FROM {table} GROUP BY status") == [("succeeded", N)]
    segments = db.query(f"SELECT segment, COUNT(*) FROM {table} GROUP BY segment ORDER BY segment")
    assert segments == [("partner", N // 3), ("retail", N // 3), ("wholesale", N // 3)]
    (logical_dates,) = db.query(f"SELECT MIN(logical_date), MAX(logical_date) FROM {table}")
    assert {_utc(d) for d in logical_dates} == {when}
    (row_sums,) = db.query(f"SELECT SUM(total_tokens), SUM(cost_usd) FROM {table}")
    (spend,) = db.query(f"SELECT requests, succeeded, total_tokens, cost_usd_batch FROM {summary}")
    assert spend[:2] == (N, N) and spend[2] == row_sums[0] > 0
    assert float(spend[3]) == pytest.approx(float(row_sums[1]), abs=1e-6)

    result = xcom(again, "results")
    assert result["results_table"] == db.table and result["rows_loaded"] == N
    assert len(json.dumps(result)) < 2048


def _utc(value: datetime) -> datetime:
    """PostgreSQL answers TIMESTAMPTZ; MySQL's DATETIME holds UTC without a zone."""
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
