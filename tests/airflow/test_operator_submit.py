"""TogetherBatchOperator.execute() called directly: what it pushes, how it defers, what it refuses."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch._compat import AirflowFailException, TaskDeferred
from airflow_provider_batch.inputs import BatchLimits
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

from apb_airflow_helpers import MODEL, DictStateStore, FakeTI, context, write_input

pytestmark = [pytest.mark.usefixtures("vendor_conn"), pytest.mark.timeout(60)]


def _op(path: Path, **kwargs: Any) -> TogetherBatchOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return TogetherBatchOperator(task_id="submit", input_path=str(path), **kwargs)


def test_defers_one_trigger_for_all_parts_after_pushing_ids(tmp_path: Path, vendor_server: Any) -> None:
    vendor_server.configure(validating_seconds=30)
    path = write_input(tmp_path / "in.jsonl", 5)
    op = _op(path, limits=BatchLimits(max_lines=2), timeout=timedelta(hours=2), max_poll_failures=7)
    ti = FakeTI()
    started = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute(context(ti, DictStateStore()))
    trigger = info.value.trigger
    assert isinstance(trigger, TogetherBatchTrigger)
    assert info.value.method_name == "execute_complete"
    ids = ti.xcom["batch_ids"]
    assert len(ids) == 3 and ti.xcom["batch_id"] == ids[0]
    _, kwargs = trigger.serialize()
    assert kwargs["batch_ids"] == ids and kwargs["max_poll_failures"] == 7 and kwargs["poll_interval"] == 0.05
    # Each batch's wall-clock deadline is anchored to its creation; the defer timeout is a
    # backstop beyond the latest one.
    assert list(kwargs["deadlines"]) == ids
    assert all(started + 7200 - 5 <= d <= time.time() + 7200 for d in kwargs["deadlines"].values())
    assert info.value.timeout.total_seconds() > max(kwargs["deadlines"].values()) - time.time()
    manifest = ti.xcom["manifest"]
    assert [b["part"] for b in manifest["batches"]] == [1, 2, 3]
    assert [b["request_count"] for b in manifest["batches"]] == [2, 2, 1]
    assert info.value.kwargs == {"manifest": manifest}


def test_deadline_stays_anchored_to_the_batchs_creation(tmp_path: Path, vendor_server: Any) -> None:
    vendor_server.configure(validating_seconds=30)
    path = write_input(tmp_path / "in.jsonl", 2)
    store = DictStateStore()
    with pytest.raises(TaskDeferred) as first:
        _op(path, timeout=timedelta(hours=1)).execute(context(FakeTI(), store))
    time.sleep(1.1)
    with pytest.raises(TaskDeferred) as retry:
        _op(path, timeout=timedelta(hours=1)).execute(context(FakeTI(try_number=2), store))
    assert retry.value.trigger.serialize()[1]["deadlines"] == pytest.approx(
        first.value.trigger.serialize()[1]["deadlines"], abs=0.01
    )
    assert vendor_server.stats()["batch_creates"] == 1


def test_budget_guard_refuses_before_upload(tmp_path: Path, vendor_server: Any) -> None:
    path = write_input(tmp_path / "in.jsonl", 50)
    with pytest.raises(AirflowFailException, match="max_cost_usd"):
        _op(path, max_cost_usd=0.000001).execute(context())
    assert vendor_server.stats()["uploads"] == 0


def test_ledger_rows_carry_each_parts_model_and_estimate(
    tmp_path: Path, vendor_server: Any, together_ledger: Any
) -> None:
    from airflow_provider_batch.inputs import estimate_batch_cost, split_batch_file
    from airflow_provider_batch.ledger import TaskIdentity
    from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE

    path = write_input(tmp_path / "in.jsonl", 5)
    ti = FakeTI()
    _op(path, limits=BatchLimits(max_lines=2), wait_for_completion=False, max_cost_usd=10.0).execute(
        context(ti)
    )
    rows = together_ledger.records_for(TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index))
    parts = split_batch_file(path, tmp_path / "expected", limits=BatchLimits(max_lines=2))
    assert [(r.part_index, r.part_sha256, r.request_count) for r in rows] == [
        (p.index, p.sha256, p.lines) for p in parts
    ]
    assert {r.model for r in rows} == {MODEL}
    for row, part in zip(rows, parts, strict=True):
        alone = estimate_batch_cost(part.path, DEFAULT_PRICE_TABLE).batch_usd
        assert row.estimated_cost_usd == pytest.approx(alone) and alone > 0


def test_non_retryable_api_refusal_fails_without_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor_server: Any
) -> None:
    import json

    conn = {"conn_type": vendor_server.vendor, "password": "not-the-key", "host": vendor_server.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_BAD", json.dumps(conn))
    with pytest.raises(AirflowFailException, match="HTTP 401"):
        _op(write_input(tmp_path / "in.jsonl", 1), together_conn_id="together_bad").execute(context())


def test_sync_on_kill_cancels_the_batches_being_waited_on(tmp_path: Path, vendor_server: Any) -> None:
    vendor_server.configure(processing_seconds=60)
    op = _op(write_input(tmp_path / "in.jsonl", 2), deferrable=False, poll_interval=0.05)
    ti = FakeTI()
    result: dict[str, BaseException] = {}

    def run() -> None:
        try:
            op.execute(context(ti))
        except BaseException as exc:  # the cancelled batch ends the wait with an error
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    while not op._waiting_on:
        time.sleep(0.01)
    op.on_kill()
    worker.join(timeout=30)
    batch_id = ti.xcom["batch_id"]
    assert type(result["error"]).__name__ == "TogetherBatchCancelledError"
    assert next(b["status"] for b in vendor_server.batches() if b["id"] == batch_id) == "CANCELLED"


def test_sync_wait_times_out_and_cancels(tmp_path: Path, vendor_server: Any) -> None:
    vendor_server.configure(processing_seconds=60)
    op = _op(write_input(tmp_path / "in.jsonl", 2), deferrable=False, timeout=timedelta(seconds=0.5))
    ti = FakeTI()
    with pytest.raises(Exception) as info:
        op.execute(context(ti))
    assert type(info.value).__name__ == "TogetherBatchTimeoutError"
    assert ti.xcom["manifest"]["batches"][0]["batch_id"] == ti.xcom["batch_id"]
    status = next(b["status"] for b in vendor_server.batches() if b["id"] == ti.xcom["batch_id"])
    assert status in {"CANCELING", "CANCELLED"}
