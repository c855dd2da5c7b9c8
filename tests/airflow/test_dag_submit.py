"""The submit operator inside real Airflow (dag.test(): task runner, XCom, task state store, inline
trigger) against the local server over loopback."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from apb_airflow_helpers import age_batch, cancel_requests, write_input
from apb_dag_runs import clear_task_state, run_dag, ti_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db", "together_conn"), pytest.mark.timeout(120)]


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """Everything logged so far (task runner output and stdlib logging); each call starts afresh."""
    caplog.set_level("INFO")

    def _read() -> str:
        out = capfd.readouterr()
        text = out.out + out.err + caplog.text
        caplog.clear()
        return text

    return _read


def test_deferrable_submit_succeeds_with_one_upload_and_one_create(
    tmp_path: Path, together_server: Any, output: Any
) -> None:
    path = write_input(tmp_path / "in.jsonl", 3)
    dag_run = run_dag("apb_submit_deferrable", {"input_path": str(path)})
    assert ti_states(dag_run) == {"submit": ("success", 1)}
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)

    manifest = xcom(dag_run, "submit")
    (record,) = manifest["batches"]
    assert record["status"] == "COMPLETED" and record["output_file_id"] and record["request_count"] == 3
    assert manifest["input_path"] == str(path) and manifest["submitted_at"] and manifest["completed_at"]
    assert xcom(dag_run, "submit", "batch_id") == record["batch_id"]
    assert xcom(dag_run, "submit", "batch_ids") == [record["batch_id"]]
    root = together_server.root_url.rstrip("/")
    assert xcom(dag_run, "submit", "_link_TogetherBatchLink") == f"{root}/batches/{record['batch_id']}"

    log = output()
    assert "[DAG TEST] running trigger in line" in log
    assert f"batch {record['batch_id']}: COMPLETED 100.0%" in log
    assert f"{root}/batches/{record['batch_id']}" in log


def test_crash_after_create_then_retry_reattaches(tmp_path: Path, together_server: Any, output: Any) -> None:
    path = write_input(tmp_path / "in.jsonl", 2)
    flag = tmp_path / "crash-once"
    flag.touch()
    dag_run = run_dag("apb_submit_crash_once", {"input_path": str(path), "crash_flag": str(flag)})
    assert not flag.exists()  # the first try did crash
    assert ti_states(dag_run) == {"submit": ("success", 2)}
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"], len(together_server.batches())) == (1, 1, 1)
    log = output()
    assert "simulated worker crash right after create" in log
    assert "re-attached (ledger) to batch" in log


def test_rerun_creating_a_missing_part_waits_for_it_its_full_timeout(
    tmp_path: Path, together_server: Any, output: Any
) -> None:
    # Yesterday's try created both parts and died; part 1 then COMPLETED, part 2 was cancelled.
    together_server.configure(processing_seconds=60)
    path = write_input(tmp_path / "in.jsonl", 4)
    flag = tmp_path / "crash-once"
    flag.touch()
    when = datetime(2026, 3, 3, tzinfo=timezone.utc)
    conf = {"input_path": str(path), "crash_flag": str(flag)}
    first = run_dag("apb_submit_parts_crash_once", conf, logical_date=when)
    assert ti_states(first) == {"submit": ("failed", 1)}
    names = {f["id"]: f["filename"] for f in together_server.files()}
    by_part = sorted(together_server.batches(), key=lambda b: names[b["input_file_id"]])  # ...-p0001
    old_part, lost_part = (b["id"] for b in by_part)
    together_server.force_status(old_part, "COMPLETED")
    together_server.force_status(lost_part, "CANCELLED")
    age_batch(together_server, old_part, 2 * 3600)  # older than the 1 h timeout
    together_server.configure(processing_seconds=0.5)

    # The re-run re-attaches part 1 and creates part 2 again; part 2 gets its own full hour.
    second = run_dag("apb_submit_parts_crash_once", conf, logical_date=when)
    assert ti_states(second) == {"submit": ("success", 1)}, output()
    manifest = xcom(second, "submit")
    assert next(b["batch_id"] for b in manifest["batches"]) == old_part
    assert [b["status"] for b in manifest["batches"]] == ["COMPLETED", "COMPLETED"]
    assert together_server.stats()["batch_creates"] == 3 and cancel_requests(together_server) == 0


def test_clear_reattaches_through_the_submission_ledger(
    tmp_path: Path, together_server: Any, output: Any
) -> None:
    path = write_input(tmp_path / "in.jsonl", 2)
    when = datetime(2026, 3, 1, tzinfo=timezone.utc)
    first = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    assert ti_states(first) == {"submit": ("success", 1)}
    batch_id = xcom(first, "submit", "batch_id")

    clear_task_state(first, "submit")  # a clear discards the task state store; the ledger stays
    output()
    second = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    assert second.run_id == first.run_id
    assert ti_states(second)["submit"][0] == "success"
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    assert xcom(second, "submit", "batch_id") == batch_id
    assert "re-attached (ledger)" in output()


def test_identical_input_on_two_days_then_a_rerun_of_day_one(tmp_path: Path, together_server: Any) -> None:
    """Day 2's input is byte-identical to day 1's; re-running day 1 must find day 1's batch."""
    path = write_input(tmp_path / "in.jsonl", 2)
    day1, day2 = (datetime(2026, 3, d, tzinfo=timezone.utc) for d in (1, 2))
    first = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=day1)
    second = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=day2)
    batch1, batch2 = xcom(first, "submit", "batch_id"), xcom(second, "submit", "batch_id")
    assert batch1 != batch2
    inputs = {b["id"]: b["input_file_id"] for b in together_server.batches()}
    assert inputs[batch1] != inputs[batch2]  # no content de-duplication between runs
    clear_task_state(first, "submit")
    rerun = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=day1)
    assert rerun.run_id == first.run_id
    assert xcom(rerun, "submit", "batch_id") == batch1
    assert together_server.stats()["batch_creates"] == 2


def test_changed_input_in_the_same_run_is_a_new_batch(tmp_path: Path, together_server: Any) -> None:
    when = datetime(2026, 3, 2, tzinfo=timezone.utc)
    path = write_input(tmp_path / "in.jsonl", 2)
    run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    write_input(path, 3)
    run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    assert together_server.stats()["batch_creates"] == 2


def test_synchronous_path(tmp_path: Path, together_server: Any) -> None:
    dag_run = run_dag("apb_submit_sync", {"input_path": str(write_input(tmp_path / "in.jsonl", 2))})
    assert ti_states(dag_run) == {"submit": ("success", 1)}
    assert xcom(dag_run, "submit")["batches"][0]["status"] == "COMPLETED"
    assert together_server.stats()["batch_creates"] == 1


def test_no_wait_returns_right_after_create(tmp_path: Path, together_server: Any) -> None:
    together_server.configure(validating_seconds=30)
    dag_run = run_dag("apb_submit_no_wait", {"input_path": str(write_input(tmp_path / "in.jsonl", 2))})
    assert ti_states(dag_run) == {"submit": ("success", 1)}
    (record,) = xcom(dag_run, "submit")["batches"]
    assert record["status"] == "VALIDATING"


def test_bad_input_is_refused_before_any_upload(tmp_path: Path, together_server: Any) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"custom_id": "a", "body": {}}\nnot json\n')
    dag_run = run_dag("apb_submit_deferrable", {"input_path": str(path)})
    assert ti_states(dag_run)["submit"][0] == "failed"
    assert together_server.stats()["uploads"] == 0
