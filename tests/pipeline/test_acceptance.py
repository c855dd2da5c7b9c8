"""Acceptance: a 120,000-row SQL table becomes the vendor's batches, and every request lands exactly once.

Build -> submit -> results run through the real operators with ``dag.test()`` (the trigger runs
inline) against the local server over loopback. The input is split at the vendor's batch limit:
50,000 + 50,000 + 20,000 on Together and OpenAI, 100,000 + 20,000 on Anthropic.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_batch.vendors import vendor_named

from apb_pipeline_helpers import rows, run_dag, seed_source, ti_states, uploads, xcom

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROWS = 120_000
ALL_OK = {"build": ("success", 1), "submit": ("success", 1), "results": ("success", 1)}


def _parts(total: int, per_batch: int) -> list[int]:
    """The request counts of the batches ``total`` requests split into, smallest first."""
    return sorted([per_batch] * (total // per_batch) + ([total % per_batch] if total % per_batch else []))


def test_120k_rows_split_at_the_vendors_limit_every_request_once(pipeline: Any) -> None:
    server = pipeline.server
    parts = _parts(ROWS, vendor_named(server.vendor).limits.max_lines)
    seed_source(pipeline.source, ROWS)
    started = time.perf_counter()
    dag_run = run_dag("apb_pipeline", pipeline.work_dir)
    wall = time.perf_counter() - started
    print(f"\nacceptance: {ROWS} rows -> build, submit, results in {wall:.1f} s")

    assert ti_states(dag_run) == ALL_OK
    stats = server.stats()
    assert stats["batch_creates"] == len(parts) and stats["uploads"] == uploads(server, len(parts))
    assert sorted(b["request_count"] for b in xcom(dag_run, "submit")["batches"]) == parts
    assert sorted(_server_lines(server)) == parts

    wh = pipeline.warehouse
    assert rows(wh, "SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM pipeline_results") == [(ROWS, ROWS)]
    assert rows(wh, "SELECT status, COUNT(*) FROM pipeline_results GROUP BY status") == [("succeeded", ROWS)]
    missing = rows(wh, "SELECT COUNT(*) FROM pipeline_results WHERE custom_id NOT LIKE 'row-%'")
    assert missing == [(0,)]
    segments = rows(wh, "SELECT segment, COUNT(*) FROM pipeline_results GROUP BY segment ORDER BY segment")
    assert segments == [("partner", ROWS // 3), ("retail", ROWS // 3), ("wholesale", ROWS // 3)]

    tokens = "SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens)"
    (row_sums,) = rows(wh, f"SELECT {tokens}, SUM(cost_usd) FROM pipeline_results")
    (batch_sums,) = rows(
        wh,
        f"SELECT {tokens}, SUM(cost_usd_batch), SUM(requests), SUM(succeeded), COUNT(*) "
        "FROM pipeline_summary",
    )
    assert batch_sums[:3] == row_sums[:3] and row_sums[2] > 0
    assert batch_sums[3] == pytest.approx(row_sums[3], rel=1e-9)
    assert batch_sums[4:] == (ROWS, ROWS, len(parts))

    result = xcom(dag_run, "results")
    assert result["requests"] == result["rows_loaded"] == ROWS
    assert result["counts"]["succeeded"] == ROWS


def _server_lines(server: Any) -> list[int]:
    """Line counts of the server's batch input files, as the server counted them."""
    files = {f["id"]: f for f in server.files()}
    return [int(files[b["input_file_id"]]["LineCount"]) for b in server.batches()]
