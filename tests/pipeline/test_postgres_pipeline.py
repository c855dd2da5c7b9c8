"""The small pipeline loading into the real PostgreSQL (database ``test``): same guarantees as on
SQLite, and a re-run of the same DAG run merges instead of duplicating."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from apb_pipeline_helpers import pg_query as _query
from apb_pipeline_helpers import run_dag, seed_source, ti_states, xcom

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

N = 30


def test_pipeline_loads_into_postgres_exactly_once(pipeline: Any, pg_table: str) -> None:
    seed_source(pipeline.source, N)
    when = datetime(2026, 5, 1, tzinfo=timezone.utc)
    first = run_dag("apb_pipeline_postgres", pipeline.work_dir, logical_date=when, fresh=True)
    assert ti_states(first) == {"build": ("success", 1), "submit": ("success", 1), "results": ("success", 1)}
    again = run_dag("apb_pipeline_postgres", pipeline.work_dir, logical_date=when)
    assert again.run_id == first.run_id and ti_states(again)["results"][0] == "success"
    assert pipeline.server.stats()["batch_creates"] == 1

    assert _query(f'SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM "{pg_table}"') == [(N, N)]
    assert _query(f'SELECT status, COUNT(*) FROM "{pg_table}" GROUP BY status') == [("succeeded", N)]
    segments = _query(f'SELECT segment, COUNT(*) FROM "{pg_table}" GROUP BY segment ORDER BY segment')
    assert segments == [("partner", N // 3), ("retail", N // 3), ("wholesale", N // 3)]
    (row_sums,) = _query(f'SELECT SUM(total_tokens), SUM(cost_usd) FROM "{pg_table}"')
    (spend,) = _query(f'SELECT requests, total_tokens, cost_usd_batch FROM "{pg_table}_summary"')
    assert spend[0] == N and spend[1] == row_sums[0] > 0
    assert float(spend[2]) == pytest.approx(float(row_sums[1]), abs=1e-6)

    result = xcom(again, "results")
    assert result["results_table"] == pg_table and result["rows_loaded"] == N
    assert len(json.dumps(result)) < 2048
