"""The submit operator inside real Airflow (dag.test(): task runner, XCom, task state store, inline
trigger) against the local server over loopback."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_compat import AIRFLOW_V_3_3_PLUS, requires_3_3

from apb_airflow_helpers import write_input
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


def test_crash_after_create_then_retry_reattaches(
    tmp_path: Path, together_server: Any, output: Any
) -> None:
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
    # Airflow 3.3 finds the batch in the task state store; 3.1 and 3.2 have none and find it
    # through the identity-bearing file name (the API lookup), with the same single batch.
    found_via = "task state store" if AIRFLOW_V_3_3_PLUS else "file/batch lookup"
    assert "re-attached to existing batch" in log and f"found via {found_via}" in log


@requires_3_3
def test_clear_without_task_state_reattaches_through_the_api(
    tmp_path: Path, together_server: Any, output: Any
) -> None:
    path = write_input(tmp_path / "in.jsonl", 2)
    when = datetime(2026, 3, 1, tzinfo=timezone.utc)
    first = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    assert ti_states(first) == {"submit": ("success", 1)}
    batch_id = xcom(first, "submit", "batch_id")
    assert '"phase": "submitted"' in _state_text(first)

    clear_task_state(first, "submit")  # a clear discards the task state store
    assert _state_text(first) == ""
    output()
    second = run_dag("apb_submit_deferrable", {"input_path": str(path)}, logical_date=when)
    assert second.run_id == first.run_id
    assert ti_states(second)["submit"][0] == "success"
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    assert xcom(second, "submit", "batch_id") == batch_id
    assert "found via file/batch lookup" in output()


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


def _state_text(dag_run: Any) -> str:
    """Every task-state-store row of the run's submit task, as text."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == dag_run.dag_id,
                TaskStateStoreModel.run_id == dag_run.run_id,
                TaskStateStoreModel.task_id == "submit",
            )
        ).all()
        return "\n".join(f"{r.key}={r.value}" for r in rows)
