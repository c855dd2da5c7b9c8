"""Automatic follow-up batches through whole DAG runs: transient failures are re-sent once, their
answers land in the same rows, the spend table gets the follow-up batch, and a crash of the
results task after the follow-up was created re-attaches instead of paying twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from apb_pipeline_helpers import error_code, rows, run_dag, ti_states, uploads, xcom

pytestmark = pytest.mark.timeout(180)

N = 24
TRANSIENT = {3, 8, 15, 21}  # fail on the first batch only ([[fail-once:...]])
PERMANENT = 5  # invalid_model: never re-sent
PERSISTENT = 11  # fails on every batch (a retryable code)


def _seed(
    path: Path, *, transient: set[int], permanent: int | None = None, persistent: int | None = None
) -> None:
    def question(n: int) -> str:
        if n in transient:
            return f"What is {n}? [[fail-once:server_overloaded]]"
        if n == permanent:
            return f"What is {n}? [[fail:invalid_model]]"
        if n == persistent:
            return f"What is {n}? [[fail:timeout]]"
        return f"What is {n}?"

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE source_rows (id INTEGER PRIMARY KEY, question TEXT, segment TEXT)")
        conn.executemany(
            "INSERT INTO source_rows VALUES (?, ?, ?)", ((n, question(n), "seg") for n in range(N))
        )
    conn.close()


def _spend_matches(pipeline: Any) -> tuple[float, int]:
    ((cost, tokens, count, distinct),) = rows(
        pipeline.warehouse,
        "SELECT SUM(cost_usd), SUM(total_tokens), COUNT(*), COUNT(DISTINCT custom_id) FROM pipeline_results",
    )
    ((spend, spend_tokens),) = rows(
        pipeline.warehouse, "SELECT SUM(cost_usd_batch), SUM(total_tokens) FROM pipeline_summary"
    )
    assert (count, distinct) == (N, N)
    assert spend_tokens == tokens > 0
    assert spend == pytest.approx(cost, abs=1e-9)
    return spend, tokens


def _outcomes(ledger: Any, *batch_ids: str) -> dict[str, Any]:
    found = ledger.outcomes_for(list(batch_ids))
    assert len(found) == len(batch_ids), "one outcome per batch, a re-load replaces it"
    return {o.batch_id: o for o in found}


def _failures(outcome: Any) -> list[tuple[str, int, list[str]]]:
    return [(f.code, f.count, sorted(f.examples, key=lambda cid: int(cid[4:]))) for f in outcome.failures]


def test_transient_failures_are_answered_by_one_follow_up_batch(pipeline: Any, together_ledger: Any) -> None:
    _seed(pipeline.source, transient=TRANSIENT)
    dag_run = run_dag("apb_pipeline_follow_up", pipeline.work_dir)
    assert set(ti_states(dag_run).values()) == {("success", 1)}

    stats = pipeline.server.stats()
    assert stats["batch_creates"] == 2 and stats["uploads"] == uploads(pipeline.server, 2)
    result = xcom(dag_run, "results")
    (original,), (follow_up,) = result["batch_ids"], result["follow_up_batch_ids"]
    assert {b["id"] for b in stats["batches"]} == {original, follow_up}
    assert rows(pipeline.warehouse, "SELECT status, COUNT(*) FROM pipeline_results GROUP BY status") == [
        ("succeeded", N)
    ]
    assert rows(pipeline.warehouse, "SELECT DISTINCT batch_id FROM pipeline_results") == [(original,)]
    answered = rows(
        pipeline.warehouse,
        "SELECT custom_id, answered_by_batch_id, attempts, response_text "
        "FROM pipeline_results WHERE attempts > 1 ORDER BY custom_id",
    )
    assert {r[0] for r in answered} == {f"row-{n}" for n in TRANSIENT}
    assert all(r[1] == follow_up and r[2] == 2 and r[3].startswith("[simulated]") for r in answered)
    assert rows(
        pipeline.warehouse,
        "SELECT COUNT(*) FROM pipeline_results WHERE attempts = 1 AND answered_by_batch_id = batch_id",
    ) == [(N - len(TRANSIENT),)]

    summary = rows(
        pipeline.warehouse,
        "SELECT batch_id, requests, succeeded, failed FROM pipeline_summary ORDER BY requests DESC",
    )
    assert summary == [
        (original, N, N - len(TRANSIENT), len(TRANSIENT)),
        (follow_up, len(TRANSIENT), len(TRANSIENT), 0),
    ]
    spend, tokens = _spend_matches(pipeline)

    assert result["counts"]["succeeded"] == N and result["counts"]["failed"] == 0
    assert result["follow_up_rounds"] == 1 and result["rows_merged"] == len(TRANSIENT)
    assert result["total_tokens"] == tokens and result["cost_usd_batch"] == pytest.approx(spend, abs=1e-6)

    # The ledger holds each loaded batch's outcome, the follow-up batch's too.
    outcomes = _outcomes(together_ledger, original, follow_up)
    first, second = outcomes[original], outcomes[follow_up]
    assert (first.requests, first.succeeded, first.failed) == (N, N - len(TRANSIENT), len(TRANSIENT))
    assert _failures(first) == [
        (error_code(pipeline.server, "server_overloaded"), 4, [f"row-{n}" for n in sorted(TRANSIENT)])
    ]
    assert (second.requests, second.succeeded, second.failures) == (len(TRANSIENT), len(TRANSIENT), [])
    assert (first.dag_id, first.task_id, first.run_id) == (dag_run.dag_id, "results", dag_run.run_id)
    assert (first.results_table, first.summary_table) == ("pipeline_results", "pipeline_summary")
    assert first.total_tokens + second.total_tokens == tokens
    assert first.cost_usd_batch + second.cost_usd_batch == pytest.approx(spend, abs=1e-9)
    # The batches page: the original's failures say the follow-up answered them; the follow-up's
    # row names its parent, its model and its estimate.
    assert [(f.answered, f.answered_by) for f in first.failures] == [(len(TRANSIENT), [follow_up])]
    child = together_ledger.by_batch(follow_up)
    assert child.parent_batch_id == original and child.model and child.estimated_cost_usd


def test_crash_after_follow_up_created_reattaches_and_skips_permanent_errors(
    pipeline: Any, together_ledger: Any
) -> None:
    _seed(pipeline.source, transient=TRANSIENT, permanent=PERMANENT, persistent=PERSISTENT)
    dag_run = run_dag("apb_pipeline_follow_up_crash", pipeline.work_dir)
    assert ti_states(dag_run)["results"] == ("success", 2)

    stats = pipeline.server.stats()
    # the retry paid for nothing
    assert stats["batch_creates"] == 2 and stats["uploads"] == uploads(pipeline.server, 2)
    result = xcom(dag_run, "results")
    (original,), (follow_up,) = result["batch_ids"], result["follow_up_batch_ids"]
    sent = rows(pipeline.warehouse, "SELECT requests FROM pipeline_summary WHERE batch_id = ?", follow_up)
    assert sent == [(len(TRANSIENT) + 1,)]  # the invalid_model row was not re-sent
    found = dict(rows(pipeline.warehouse, "SELECT status, COUNT(*) FROM pipeline_results GROUP BY status"))
    assert found == {"succeeded": N - 2, "failed": 2}
    failed = rows(
        pipeline.warehouse,
        "SELECT custom_id, error_code, attempts, answered_by_batch_id "
        "FROM pipeline_results WHERE status = 'failed' ORDER BY custom_id",
    )
    assert failed == [
        (f"row-{PERSISTENT}", error_code(pipeline.server, "timeout"), 2, follow_up),
        (f"row-{PERMANENT}", error_code(pipeline.server, "invalid_model"), 1, original),
    ]
    assert len(rows(pipeline.warehouse, "SELECT * FROM pipeline_summary")) == 2
    _spend_matches(pipeline)

    # Both tries loaded the original batch: its outcome was replaced, not doubled.
    outcomes = _outcomes(together_ledger, original, follow_up)
    assert _failures(outcomes[original]) == [
        (error_code(pipeline.server, "server_overloaded"), 4, [f"row-{n}" for n in sorted(TRANSIENT)]),
        (error_code(pipeline.server, "invalid_model"), 1, [f"row-{PERMANENT}"]),
        (error_code(pipeline.server, "timeout"), 1, [f"row-{PERSISTENT}"]),
    ]
    assert _failures(outcomes[follow_up]) == [
        (error_code(pipeline.server, "timeout"), 1, [f"row-{PERSISTENT}"])
    ]
    # The task's result has the final failures: the answered ones are gone.
    assert sorted((f["code"], f["count"], f["examples"]) for f in result["failures"]) == [
        (error_code(pipeline.server, "invalid_model"), 1, [f"row-{PERMANENT}"]),
        (error_code(pipeline.server, "timeout"), 1, [f"row-{PERSISTENT}"]),
    ]


def test_synchronous_rounds_stop_when_nothing_is_left_to_re_send(pipeline: Any) -> None:
    _seed(pipeline.source, transient=TRANSIENT, persistent=PERSISTENT)
    dag_run = run_dag("apb_pipeline_follow_up_sync", pipeline.work_dir)
    assert ti_states(dag_run)["results"] == ("success", 1)
    # Round 1 re-sends 5 requests; round 2 only the persistent failure; both rounds are paid once.
    assert pipeline.server.stats()["batch_creates"] == 3
    assert rows(pipeline.warehouse, "SELECT requests FROM pipeline_summary ORDER BY requests DESC") == [
        (N,),
        (len(TRANSIENT) + 1,),
        (1,),
    ]
    assert rows(
        pipeline.warehouse,
        f"SELECT attempts, error_code FROM pipeline_results WHERE custom_id = 'row-{PERSISTENT}'",
    ) == [(3, error_code(pipeline.server, "timeout"))]
    result = xcom(dag_run, "results")
    assert result["follow_up_rounds"] == 2 and len(result["follow_up_batch_ids"]) == 2
    assert result["counts"] == {"succeeded": N - 1, "failed": 1, "missing": 0, "expired": 0, "cancelled": 0}
    _spend_matches(pipeline)


def test_delete_input_files_removes_the_uploaded_inputs_once_loaded(pipeline: Any) -> None:
    _seed(pipeline.source, transient=TRANSIENT)
    dag_run = run_dag("apb_pipeline_cleanup", pipeline.work_dir)
    assert set(ti_states(dag_run).values()) == {("success", 1)}
    result = xcom(dag_run, "results")
    batches = {b["id"]: b for b in pipeline.server.batches()}
    inputs = {batches[b]["input_file_id"] for b in (*result["batch_ids"], *result["follow_up_batch_ids"])}
    assert len(inputs) == 2 and result["deleted_input_files"] == 2
    remaining = {f["id"] for f in pipeline.server.files()}
    assert not inputs & remaining  # the inputs are gone; outputs and error files stay
    assert {batches[b]["output_file_id"] for b in result["batch_ids"]} <= remaining
    # Nothing was loaded differently for it.
    assert rows(pipeline.warehouse, "SELECT status, COUNT(*) FROM pipeline_results GROUP BY status") == [
        ("succeeded", N)
    ]


def test_a_rerun_after_delete_input_files_loads_every_answer_and_error_again(pipeline: Any) -> None:
    """``delete_input_files=True``, then the run is cleared: the results task finds the input file
    gone (404) and still re-loads every answer and error from the output and error files, in the
    same rows, with the same spend; it used to fail on every try."""
    from datetime import datetime, timezone

    day = datetime(2026, 5, 1, tzinfo=timezone.utc)
    _seed(pipeline.source, transient=set(), permanent=PERMANENT, persistent=PERSISTENT)
    first = run_dag("apb_pipeline_cleanup_reload", pipeline.work_dir, logical_date=day)
    assert set(ti_states(first).values()) == {("success", 1)}
    # Anthropic has no input files to delete: its requests went inline in the create.
    assert xcom(first, "results")["deleted_input_files"] == uploads(pipeline.server, 1)
    wh = pipeline.warehouse
    query = "SELECT custom_id, status, error_code, response_text, total_tokens, cost_usd, superseded FROM "
    loaded = rows(wh, query + "pipeline_results ORDER BY custom_id")
    spend_sql = "SELECT batch_id, requests, succeeded, failed, cost_usd_batch FROM pipeline_summary"
    spend = rows(wh, spend_sql)
    assert [r[1] for r in loaded].count("failed") == 2 and len(loaded) == N
    ((before,),) = rows(wh, "SELECT MAX(loaded_at) FROM pipeline_results")

    again = run_dag("apb_pipeline_cleanup_reload", pipeline.work_dir, logical_date=day)  # cleared, re-run
    assert again.run_id == first.run_id
    assert ti_states(again)["results"][0] == "success"
    assert pipeline.server.stats()["batch_creates"] == 1  # nothing paid twice
    result = xcom(again, "results")
    assert result["counts"] == {"succeeded": N - 2, "failed": 2, "missing": 0, "expired": 0, "cancelled": 0}
    assert rows(wh, query + "pipeline_results ORDER BY custom_id") == loaded
    assert rows(wh, "SELECT COUNT(*) FROM pipeline_results WHERE loaded_at > ?", before) == [(N,)]
    assert rows(wh, spend_sql) == spend
