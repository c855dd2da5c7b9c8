"""Money and data safety under crashes, on a real distributed Airflow (Celery worker, triggerer,
PostgreSQL metadata DB, Redis broker) against the local server as its own process.

One DAG run per crash point, all in one deployment, each on its own day of input rows. On try 1
the task process SIGKILLs itself at its step (see ``tests/e2e/dags/apb_crash_points.py``); for
the ``deferred`` step the test SIGKILLs the triggerer while the batch runs and starts a new one.
Airflow's retry (or the new triggerer) must finish every run with exactly one batch per input,
one upload per input, and exactly the run's custom_ids once each in the warehouse.

Deployment settings this needs, and why:

* ``retries=1`` and ``retry_delay=2s`` in the DAG. A SIGKILLed task process needs no heartbeat
  timeout: its supervisor (which survives) sees the signal exit code and reports
  ``up_for_retry`` at once.
* ``[triggerer] triggerer_health_check_threshold=10``: triggers of a dead triggerer are handed to
  a live one only once its heartbeat is older than this (default 30 s, which would only slow
  the test down).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import TogetherClient
from airflow_provider_batch.idempotency import TaskIdentity
from airflow_provider_batch.testing.sample_data import ticket_rows
from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.harness import AirflowDeployment, deployment, query, task_log_events
from tests.services import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "apb_crash_points"
API_KEY = "crash-" + uuid.uuid4().hex
PER_RUN = 12
#: step -> the task whose process dies on try 1 (``deferred``: nothing dies but the triggerer)
STEPS = {
    "intent": "submit_batch",
    "mid_upload": "submit_batch",
    "uploaded": "submit_batch",
    "created": "submit_batch",
    "deferred": None,
    "download": "load_results",
    "mid_load": "load_results",
}
DAYS = {step: date(2026, 11, 1) + timedelta(days=n) for n, step in enumerate(STEPS)}
#: batches run long enough to kill the triggerer mid-way
SERVER_ARGS = ("--validating-seconds", "1", "--processing-seconds", "20")
WAREHOUSE_DAYS, WAREHOUSE_PER_DAY = list(DAYS.values()), PER_RUN


def run_id(step: str) -> str:
    return f"crash_{step}"


# ---- driving the deployment -----------------------------------------------------------------


def trigger_all(dep: AirflowDeployment) -> None:
    for n, step in enumerate(STEPS):
        body = {
            "dag_run_id": run_id(step),
            "logical_date": datetime(2026, 11, 1 + n, tzinfo=timezone.utc).isoformat(),
            "conf": {"crash": step, "day": DAYS[step].isoformat()},
        }
        resp = dep.api("POST", f"/dags/{DAG_ID}/dagRuns", json=body)
        assert resp.status_code in (200, 201), resp.text


def task_instances(dep: AirflowDeployment, step: str) -> dict[str, dict[str, Any]]:
    resp = dep.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id(step)}/taskInstances")
    resp.raise_for_status()
    return {ti["task_id"]: ti for ti in resp.json()["task_instances"]}


def run_files_and_batches(client: TogetherClient, step: str) -> tuple[list[Any], list[Any]]:
    """Server-side files named for this run's submit task, and the batches created on them."""
    prefix = f"apb-{TaskIdentity(DAG_ID, 'submit_batch', run_id(step)).key[:12]}-"
    files = [f for f in client.files.list() if (f.filename or "").startswith(prefix)]
    ids = {f.id for f in files}
    return files, [b for b in client.batches.list() if b.input_file_id in ids]


def kill_triggerer_while_deferred(dep: AirflowDeployment, client: TogetherClient) -> dict[str, Any]:
    """SIGKILL the triggerer while the ``deferred`` run's batch is still running; start a new one."""

    def deferred() -> dict[str, Any] | None:
        ti = task_instances(dep, "deferred").get("submit_batch")
        return ti if ti and ti["state"] == "deferred" else None

    dep.wait_for(deferred, 240, "the submit task of run crash_deferred to defer", interval=1)
    time.sleep(3)  # let the triggerer pick the trigger up and poll at least once
    _, (batch,) = run_files_and_batches(client, "deferred")
    status_at_kill = client.batches.retrieve(batch.id).status.value
    dep.kill("triggerer")
    time.sleep(2)
    dep.start("triggerer")
    return {"batch_id": batch.id, "status_at_kill": status_at_kill}


def wait_all_finished(dep: AirflowDeployment) -> list[dict[str, Any]]:
    def finished() -> list[dict[str, Any]] | None:
        runs = dep.dag_runs(DAG_ID)
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return runs if len(done) == len(STEPS) else None

    return dep.wait_for(finished, 420, "every crash-point DAG run to finish")  # type: ignore[no-any-return]


# ---- the test -----------------------------------------------------------------------------------


def test_sigkill_at_every_step_then_retry(tmp_path: Path, together_url: str, warehouse_db: str) -> None:
    require_redis()
    started = time.monotonic()
    crash_dir = tmp_path / "crash"
    env = {
        "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
            {"conn_type": "together", "password": API_KEY, "host": together_url}
        ),
        "AIRFLOW_CONN_TOGETHER_WAREHOUSE": f"postgres://postgres@127.0.0.1:5432/{warehouse_db}",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "APB_CRASH_DIR": str(crash_dir),
        "PYTHONPATH": str(REPO),
    }
    home = tmp_path / "airflow"
    home.mkdir()
    observed: dict[str, dict[str, Any]] = {}
    with TogetherClient(api_key=API_KEY, base_url=together_url) as client, deployment(home, DAGS, env) as dep:
        dep.wait_dag_parsed(DAG_ID)
        trigger_all(dep)
        triggerer_kill = kill_triggerer_while_deferred(dep, client)
        runs = wait_all_finished(dep)
        assert {r["dag_run_id"]: r["state"] for r in runs} == {run_id(s): "success" for s in STEPS}
        for step, crashed_task in STEPS.items():
            tries = {task: ti["try_number"] for task, ti in task_instances(dep, step).items()}
            expected = {task: 2 if task == crashed_task else 1 for task in tries}
            assert tries == expected, (step, tries)
            observed[step] = {"tries": tries}

    stats = client_stats(together_url)
    for step in STEPS:
        observed[step].update(check_run(step, together_url, warehouse_db, crash_dir))
        check_logs(step, home / "logs", observed[step])
    assert triggerer_kill["status_at_kill"] in ("VALIDATING", "IN_PROGRESS"), triggerer_kill
    assert stats["batch_creates"] == len(STEPS), stats
    assert stats["uploads"] == len(STEPS), stats
    assert len(query(warehouse_db, "SELECT batch_id FROM crash_summary")) == len(STEPS)
    print_report(observed, stats, triggerer_kill, time.monotonic() - started)


def client_stats(together_url: str) -> dict[str, Any]:
    return ControlClient(together_url, API_KEY).stats()


def check_run(step: str, together_url: str, warehouse_db: str, crash_dir: Path) -> dict[str, Any]:
    """Per-run assertions: where it died, one batch, one filled upload, exactly the right rows."""
    with TogetherClient(api_key=API_KEY, base_url=together_url) as client:
        files, batches = run_files_and_batches(client, step)
    assert len(batches) == 1, (step, batches)
    (batch,) = batches
    assert batch.status.value == "COMPLETED", (step, batch)
    filled = [f for f in files if f.processed]
    assert len(filled) == 1, (step, files)
    # Only the mid-upload crash leaves a second, never-filled record of the same name behind.
    assert len(files) == (2 if step == "mid_upload" else 1), (step, files)

    marker = crash_dir / f"{step}.json"
    if STEPS[step] is None:
        assert not marker.exists()
        died_at: dict[str, Any] = {}
    else:
        died_at = json.loads(marker.read_text())
        assert (died_at["run_id"], died_at["task_id"]) == (run_id(step), STEPS[step]), died_at
    if step == "created":
        assert died_at["batch_id"] == batch.id  # the batch the dead try created is the one used
    if step == "uploaded":
        assert died_at["file_id"] == batch.input_file_id
    if step == "mid_load":
        assert died_at["visible_in_transaction"] == PER_RUN  # rows were written, never committed

    sql = "SELECT batch_id, custom_id, status FROM crash_results WHERE run_id = %s"
    rows = query(warehouse_db, sql, (run_id(step),))
    expected_ids = sorted(r["ticket_id"] for r in ticket_rows([DAYS[step]], PER_RUN))
    assert sorted(r[1] for r in rows) == expected_ids, step  # each custom_id exactly once
    assert {(r[0], r[2]) for r in rows} == {(batch.id, "succeeded")}, step
    summary = query(warehouse_db, "SELECT requests FROM crash_summary WHERE batch_id = %s", (batch.id,))
    assert summary == [(PER_RUN,)], step
    return {"batch": batch.id, "files": len(files), "rows": len(rows), "died_at": died_at}


#: What the retry of each submit crash must log: the path it took to its one batch.
RETRY_PATH = {
    "intent": ("part 1: uploaded ", "part 1: submitted batch {batch}"),
    "mid_upload": ("part 1: uploaded ", "part 1: submitted batch {batch}"),
    "uploaded": ("part 1: re-using this task's uploaded file {file}", "part 1: submitted batch {batch}"),
    "created": (
        "part 1: a create interrupted on an earlier try made batch {batch}",
        "part 1: recovered (interrupted create) to batch {batch}",
    ),
}


def task_log(logs: Path, step: str, task: str, pattern: str) -> list[str]:
    return task_log_events(logs, DAG_ID, run_id(step), task, pattern)


def check_logs(step: str, logs: Path, facts: dict[str, Any]) -> None:
    """The supervisor saw the SIGKILL of try 1; the retry (or new triggerer) took the expected path."""
    task = STEPS[step]
    if task is None:
        # One trigger log per triggerer job that ran the trigger: the killed one and the new one.
        folder = logs / f"dag_id={DAG_ID}" / f"run_id={run_id(step)}" / "task_id=submit_batch"
        found = folder.glob("attempt=1.log.trigger.*.log")
        per_triggerer = sorted(found, key=lambda p: int(p.name.split(".")[-2]))  # by triggerer job id
        assert len(per_triggerer) == 2, per_triggerer
        resumed = " ".join(task_log(logs, step, "submit_batch", per_triggerer[-1].name))
        assert f"batch {facts['batch']}: COMPLETED" in resumed, resumed[-2000:]
        facts["trigger_logs"] = [p.name for p in per_triggerer]
        return
    first = " ".join(task_log(logs, step, task, "attempt=1.log"))
    assert "Process terminated by signal" in first and "SIGKILL" in first, first[-2000:]
    if step in RETRY_PATH:
        retry = " ".join(task_log(logs, step, task, "attempt=2.log"))
        file_id = facts["died_at"].get("file_id", "")
        for text in RETRY_PATH[step]:
            assert text.format(batch=facts["batch"], file=file_id) in retry, (step, text, retry[-2000:])


def print_report(
    observed: dict[str, dict[str, Any]], stats: dict[str, Any], kill: dict[str, Any], seconds: float
) -> None:
    print(f"\ncrash points: {len(STEPS)} runs in {seconds:.0f} s; server stats: uploads={stats['uploads']} "
          f"batch_creates={stats['batch_creates']} files={stats['files']}")  # fmt: skip
    print(f"triggerer SIGKILLed while {kill['batch_id']} was {kill['status_at_kill']}; trigger logs: "
          f"{observed['deferred']['trigger_logs']}")  # fmt: skip
    for step, facts in observed.items():
        died = {k: v for k, v in facts["died_at"].items() if k not in ("run_id", "pid", "step")}
        print(f"  {step:<10} tries={facts['tries']} batch={facts['batch']} files={facts['files']} "
              f"rows={facts['rows']} died_at={died}")  # fmt: skip
