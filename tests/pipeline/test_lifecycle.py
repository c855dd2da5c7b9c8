"""Batch life cycle through whole DAG runs: expired and cancelled batches still deliver what
finished, the partial-failure policy applies after loading, re-runs never duplicate, and the
results task leaves a small XCom and an Asset event with its figures."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.airflow_compat import dagbag

import apb_pipeline_helpers
from apb_pipeline_helpers import asset_events, rows, run_dag, seed_source, ti_states, when_batch_appears, xcom

pytestmark = pytest.mark.timeout(180)

N = 40


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """Everything logged so far (task runner output and stdlib logging)."""
    caplog.set_level("INFO")

    def _read() -> str:
        out = capfd.readouterr()
        return out.out + out.err + caplog.text

    return _read


def _statuses(pipeline: Any) -> dict[str, int]:
    return dict(rows(pipeline.warehouse, "SELECT status, COUNT(*) FROM pipeline_results GROUP BY status"))


def _assert_every_request_once(pipeline: Any) -> None:
    found = rows(pipeline.warehouse, "SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM pipeline_results")
    assert found == [(N, N)]


def test_expired_batch_partial_results_loaded_then_policy_fails(pipeline: Any, output: Any) -> None:
    # The window closes about a third of the way through processing.
    pipeline.server.configure(processing_seconds=3.0, completion_window_seconds=1.0)
    seed_source(pipeline.source, N)
    dag_run = run_dag("apb_pipeline_partial_strict", pipeline.work_dir)

    assert ti_states(dag_run) == {"build": ("success", 1), "submit": ("failed", 1), "results": ("failed", 1)}
    log = output()
    assert "TogetherBatchExpiredError" in log and "TogetherBatchPartialFailureError" in log
    assert "fail_on_partial_error=True" in log
    _assert_every_request_once(pipeline)
    statuses = _statuses(pipeline)
    assert set(statuses) == {"succeeded", "expired"} and statuses["succeeded"] > 0
    (summary,) = rows(
        pipeline.warehouse, "SELECT final_status, requests, succeeded, expired FROM pipeline_summary"
    )
    assert summary == ("EXPIRED", N, statuses["succeeded"], statuses["expired"])
    assert pipeline.server.stats()["batch_creates"] == 1


def test_cancelled_batch_partial_results_loaded_then_fraction_policy_fails(
    pipeline: Any, output: Any
) -> None:
    server = pipeline.server
    server.configure(processing_seconds=4.0)
    seed_source(pipeline.source, N)
    watcher = when_batch_appears(
        server, lambda batch_id: server.force_status(batch_id, "CANCELLED"), min_progress=25
    )
    dag_run = run_dag("apb_pipeline_partial_fraction", pipeline.work_dir)
    watcher.join(timeout=5)

    assert ti_states(dag_run) == {"build": ("success", 1), "submit": ("failed", 1), "results": ("failed", 1)}
    log = output()
    assert "TogetherBatchCancelledError" in log and "above max_failed_fraction=5.00%" in log
    _assert_every_request_once(pipeline)
    statuses = _statuses(pipeline)
    assert set(statuses) == {"succeeded", "cancelled"} and statuses["succeeded"] > 0
    (summary,) = rows(pipeline.warehouse, "SELECT final_status, succeeded, cancelled FROM pipeline_summary")
    assert summary == ("CANCELLED", statuses["succeeded"], statuses["cancelled"])


def test_the_log_ends_with_a_table_and_the_partial_failure_carries_the_breakdown(
    pipeline: Any, output: Any
) -> None:
    import sqlite3

    failing = {3: "invalid_model", 7: "invalid_model", 11: "server_error"}
    with sqlite3.connect(pipeline.source) as conn:
        conn.execute("CREATE TABLE source_rows (id INTEGER PRIMARY KEY, question TEXT, segment TEXT)")
        conn.executemany(
            "INSERT INTO source_rows VALUES (?, ?, ?)",
            (
                (n, f"What is {n}?" + (f" [[fail:{failing[n]}]]" if n in failing else ""), "seg")
                for n in range(N)
            ),
        )
    conn.close()
    dag_run = run_dag("apb_pipeline_partial_strict", pipeline.work_dir)
    assert ti_states(dag_run)["results"] == ("failed", 1)
    log = output()
    # The results task's summary: a table of counts, failures by code with example ids, and where.
    table = log[log.index("Loaded 40 requests from 1 batch(es)") :]
    lines = [line.strip() for line in table.splitlines()]
    assert any(line.startswith("succeeded") and "37" in line for line in lines)
    assert any(line.startswith("failed") and " 3 " in f"{line} " for line in lines)
    invalid_model, server_error = (
        apb_pipeline_helpers.error_code(pipeline.server, c) for c in ("invalid_model", "server_error")
    )
    (invalid,) = [line for line in lines if line.startswith(f"failed: {invalid_model}")]
    assert "2" in invalid and "row-3" in invalid and "row-7" in invalid
    (server,) = [line for line in lines if line.startswith(f"failed: {server_error}")]
    assert "row-11" in server
    assert any(line.startswith("warehouse") and "apb_pipeline_wh" in line for line in lines)
    assert (
        "pipeline_results" in table and "pipeline_summary" in table and "tokens" in table and "spend" in table
    )
    # The error says the same, in its message.
    assert re.search(rf"failed {invalid_model}: 2 \(e\.g\. row-[37], row-[37]\)", log)
    assert f"failed {server_error}: 1 (e.g. row-11)" in log


def test_expired_batch_without_policy_loads_and_succeeds(pipeline: Any) -> None:
    pipeline.server.configure(processing_seconds=3.0, completion_window_seconds=1.0)
    seed_source(pipeline.source, N)
    dag_run = run_dag("apb_pipeline_partial_lenient", pipeline.work_dir)

    assert ti_states(dag_run) == {"build": ("success", 1), "submit": ("failed", 1), "results": ("success", 1)}
    _assert_every_request_once(pipeline)
    result = xcom(dag_run, "results")
    assert result["final_statuses"] == {result["batch_ids"][0]: "EXPIRED"}
    assert result["counts"]["expired"] + result["counts"]["succeeded"] == N


def test_rerun_merges_and_results_task_reports_small_manifest_and_asset_event(pipeline: Any) -> None:
    seed_source(pipeline.source, N)
    when = datetime(2026, 4, 1, tzinfo=timezone.utc)
    started = datetime.now(tz=timezone.utc)
    first = run_dag("apb_pipeline", pipeline.work_dir, logical_date=when)
    assert ti_states(first)["results"] == ("success", 1)
    first_loaded = rows(pipeline.warehouse, "SELECT MAX(loaded_at) FROM pipeline_results")

    second = run_dag("apb_pipeline", pipeline.work_dir, logical_date=when)  # the same run, re-run
    assert second.run_id == first.run_id and ti_states(second)["results"][0] == "success"
    assert pipeline.server.stats()["batch_creates"] == 1
    _assert_every_request_once(pipeline)
    assert rows(pipeline.warehouse, "SELECT COUNT(*) FROM pipeline_summary") == [(1,)]
    assert rows(pipeline.warehouse, "SELECT MAX(loaded_at) FROM pipeline_results") != first_loaded

    result = xcom(second, "results")
    text = json.dumps(result)
    (answer,) = rows(pipeline.warehouse, "SELECT response_text FROM pipeline_results LIMIT 1")
    assert answer[0] and answer[0] not in text and "response_text" not in text
    assert len(text) < 2048
    assert result["counts"] == {"succeeded": N, "failed": 0, "missing": 0, "expired": 0, "cancelled": 0}

    events = asset_events(second, "results", since=started)
    assert len(events) == 2  # one per execution of the results task in this run
    event = events[-1]
    sums = "SELECT SUM(total_tokens), SUM(cost_usd) FROM pipeline_results"
    ((tokens, cost),) = rows(pipeline.warehouse, sums)
    assert event["requests"] == N and event["counts"]["succeeded"] == N
    assert event["total_tokens"] == tokens > 0
    assert event["cost_usd_batch"] == pytest.approx(cost, abs=1e-6)
    assert event["batch_ids"] == result["batch_ids"]


def test_replace_logical_date_swaps_the_days_rows(pipeline: Any) -> None:
    seed_source(pipeline.source, N)
    when = datetime(2026, 4, 2, tzinfo=timezone.utc)
    first = run_dag("apb_pipeline_replace", pipeline.work_dir, logical_date=when)
    # A new run for the same logical date (another run id): a new batch, whose rows replace the old.
    later = datetime(2026, 4, 3, tzinfo=timezone.utc)
    second = run_dag("apb_pipeline_replace", pipeline.work_dir, logical_date=when, run_after=later)
    assert first.run_id != second.run_id and first.logical_date == second.logical_date
    assert ti_states(second)["results"] == ("success", 1)
    assert pipeline.server.stats()["batch_creates"] == 2
    new_batch = xcom(second, "results")["batch_ids"]
    _assert_every_request_once(pipeline)
    assert rows(pipeline.warehouse, "SELECT DISTINCT batch_id FROM pipeline_results") == [tuple(new_batch)]


def test_pipeline_dags_parse_without_errors() -> None:
    from apb_pipeline_helpers import DAGS_FILE

    bag = dagbag(str(DAGS_FILE.parent))
    assert bag.import_errors == {}
    assert {"apb_pipeline", "apb_pipeline_storm", "apb_pipeline_partial_strict"} <= set(bag.dag_ids)
    assert bag.get_dag("apb_pipeline_partial_strict").get_task("results").trigger_rule == "all_done"
