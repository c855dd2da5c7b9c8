"""Prompt-cache tokens through the whole pipeline on Anthropic: the results task's XCom, the
ledger's outcome and the spend table carry the same counts, and the spend they explain."""

from __future__ import annotations

from typing import Any

import pytest

from apb_pipeline_helpers import asset_events, rows, run_dag, seed_source, ti_states, xcom

pytestmark = pytest.mark.timeout(180)

N = 6


@pytest.mark.parametrize("vendor_server", ["anthropic"], indirect=True)
def test_cache_tokens_reconcile_across_xcom_ledger_and_spend_table(
    pipeline: Any, together_ledger: Any
) -> None:
    seed_source(pipeline.source, N)
    dag_run = run_dag("apb_pipeline_cached", pipeline.work_dir)
    assert set(ti_states(dag_run).values()) == {("success", 1)}

    (spend,) = rows(
        pipeline.warehouse,
        "SELECT batch_id, cache_creation_tokens, cache_read_tokens, cost_usd_batch FROM pipeline_summary",
    )
    batch_id, written, read, cost = spend
    # The emulation writes the shared prompt once and reads it on the other requests.
    assert written > 1024 and read == (N - 1) * written
    (row_sums,) = rows(pipeline.warehouse, "SELECT SUM(cache_creation_tokens), SUM(cache_read_tokens) "
                       "FROM pipeline_results")  # fmt: skip
    assert row_sums == (written, read)

    result = xcom(dag_run, "results")
    assert (result["cache_creation_tokens"], result["cache_read_tokens"]) == (written, read)
    assert result["cost_usd_batch"] == round(cost, 6)  # XCom money is kept to the micro-dollar
    (event,) = asset_events(dag_run, "results")  # the results table's Asset event, for the next DAG
    assert (event["cache_creation_tokens"], event["cache_read_tokens"]) == (written, read)
    (outcome,) = together_ledger.outcomes_for([batch_id])
    assert (outcome.cache_creation_tokens, outcome.cache_read_tokens) == (written, read)
    assert outcome.cost_usd_batch == pytest.approx(cost, abs=1e-9)
