"""TogetherBatchSensor in poke and deferrable mode, through dag.test()."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batch.ledger import SubmissionLedger, TaskIdentity

from apb_dag_runs import run_dag, ti_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db", "vendor_conn"), pytest.mark.timeout(120)]


def test_sensor_waits_for_a_batch_created_elsewhere(
    vendor_server: Any, make_batch: Any, together_ledger: SubmissionLedger
) -> None:
    batch_id = make_batch(2)
    # A batch the provider's operator created: the sensor records what it sees, for the page.
    record = together_ledger.open(
        TaskIdentity("other", "submit", "r"), part_index=0, part_sha256="0" * 64, generation=0,
        request_count=2, endpoint="/v1/chat/completions", together_conn_id="together_default",
    )  # fmt: skip
    together_ledger.record_batch(record, batch_id, None, "VALIDATING")
    dag_run = run_dag("apb_sensor", {"batch_id": batch_id})
    assert ti_states(dag_run) == {"poke": ("success", 1), "deferred": ("success", 1)}
    for task_id in ("poke", "deferred"):
        (record,) = xcom(dag_run, task_id)["batches"]
        assert (record["batch_id"], record["status"]) == (batch_id, "COMPLETED")
        assert record["output_file_id"]
        assert xcom(dag_run, task_id, "_link_TogetherBatchLink").endswith(f"/batches/{batch_id}")
    assert vendor_server.stats()["batch_creates"] == 1  # a sensor never creates anything
    row = together_ledger.by_batch(batch_id)
    assert row is not None and (row.last_status, row.last_progress) == ("COMPLETED", 100.0)


def test_sensor_fails_on_a_failed_batch(vendor_server: Any, make_batch: Any) -> None:
    vendor_server.configure(processing_seconds=60)
    batch_id = make_batch(2)
    vendor_server.force_status(batch_id, "FAILED")
    dag_run = run_dag("apb_sensor", {"batch_id": batch_id})
    assert {t: s for t, (s, _) in ti_states(dag_run).items()} == {"poke": "failed", "deferred": "failed"}
    assert xcom(dag_run, "poke", "manifest")["batches"][0]["status"] == "FAILED"
