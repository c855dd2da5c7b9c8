"""A 10,000-request DAG run (build -> submit -> results) while the local server faults 20 % of all
calls on every route.

Faults: 429 (short Retry-After), 500, 502, 503, connection reset, a stall longer than the client's
read timeout, and (downloads) a body cut short. On top of the random 20 %, a script gives the
routes hit only once or twice per run every kind at least once: the batch create (plus a reset
*after* the create took effect, so the answer of a billable call is lost), the upload PUT, and
the file downloads. Client retries come from the connection extras; Airflow task retries are
allowed too (a retried submit re-attaches, it never pays twice).

What it proves: the run succeeds, every custom_id is in the results table exactly once, and the
server holds exactly one batch for the input. The figures go to ``fault_storm_pipeline.json`` in
the test's tmp dir and to stdout (``-s``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from airflow_provider_batch.testing.server import FAULT_KINDS
from tests.reliability.fault_view import client_view, expected_view

from apb_pipeline_helpers import rows, run_dag, seed_source, ti_states, together_conn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def vendor_server(together_server: Any) -> Any:
    """Together only: the script below names Together's wire routes (the upload's signed PUT)."""
    return together_server


N = 10_000
READ_TIMEOUT = 0.5
STALL_SECONDS = 0.7  # > READ_TIMEOUT: every stall is a client timeout
ERRORS = ("429", "500", "502", "503")
#: Scripted one-shot faults, consumed in this order before any random fault on the same route.
SCRIPT: tuple[tuple[str, str, dict[str, Any]], ...] = (
    *(("POST /v1/batches", kind, {}) for kind in (*ERRORS, "reset", "stall")),
    ("POST /v1/batches", "reset", {"after": True}),  # created, but the answer is lost
    *(("PUT /_uploads/{id}", kind, {}) for kind in (*ERRORS, "reset", "stall")),
    *(("GET /v1/files/{id}/content", kind, {}) for kind in (*ERRORS, "reset", "stall", "truncate")),
)


def test_fault_storm_pipeline(
    pipeline: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = pipeline.server
    together_conn(
        monkeypatch,
        server,
        poll_interval=0.05,
        timeout=READ_TIMEOUT,
        upload_timeout=READ_TIMEOUT,
        max_retries=10,
        retry_max_delay=1.0,
    )
    seed_source(pipeline.source, N)
    server.configure(
        processing_seconds=1.0,
        fault_rate=0.2,
        fault_kinds=FAULT_KINDS,
        stall_seconds=STALL_SECONDS,
        retry_after_seconds=0.2,
    )
    for route, kind, params in SCRIPT:
        server.inject(route, kind, **params)
    started = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
            dag_run = run_dag("apb_pipeline_storm", pipeline.work_dir)
    finally:
        server.configure(fault_rate=0.0)
    wall = time.perf_counter() - started

    states = ti_states(dag_run)
    assert dag_run.state == "success", states
    stats = server.stats()
    assert stats["batch_creates"] == 1 and len(stats["batches"]) == 1
    ((count, distinct, succeeded),) = rows(
        pipeline.warehouse,
        "SELECT COUNT(*), COUNT(DISTINCT custom_id), SUM(status = 'succeeded') FROM pipeline_results",
    )
    expected = {f"row-{n}" for n in range(N)}
    found = {r[0] for r in rows(pipeline.warehouse, "SELECT custom_id FROM pipeline_results")}
    lost, duplicates = len(expected - found), count - distinct
    assert (lost, duplicates, distinct, succeeded) == (0, 0, N, N)
    assert found == expected

    injected: dict[str, int] = stats["faults_injected"]
    assert set(injected) == set(FAULT_KINDS)
    assert server.controller.faults.script == []  # every scripted fault reached its route
    survived = client_view(caplog.records)
    figures = {
        "requests": N,
        "http_requests": sum(stats["requests"].values()),
        "fault_rate": 0.2,
        "faults_scripted": len(SCRIPT),
        "faults_injected": dict(sorted(injected.items())),
        "faults_injected_total": sum(injected.values()),
        "faults_seen_by_client": dict(sorted(survived.items())),
        "faults_survived_total": sum(injected.values()),
        "task_tries": {task: tries for task, (_, tries) in sorted(states.items())},
        "rows_loaded": count,
        "rows_lost": lost,
        "duplicate_rows": duplicates,
        "batches_created": stats["batch_creates"],
        "duplicate_batches": stats["batch_creates"] - 1,
        "wall_seconds": round(wall, 2),
    }
    path = tmp_path / "fault_storm_pipeline.json"
    path.write_text(json.dumps(figures, indent=2))
    print(f"\nfault storm (pipeline): {json.dumps(figures)}\nfigures written to {path}")
    # A fault the client did not retry itself surfaced as an Airflow task retry instead.
    task_retried = sum(tries for _, tries in states.values()) > len(states)
    assert survived == expected_view(injected) or task_retried, (injected, survived)
