"""What may end a deferred batch wait, on a real distributed Airflow (Celery worker, triggerer,
PostgreSQL metadata DB, Redis broker) against the local server as its own process.

One deployment, one DAG run of ``tests/e2e/dags/apb_lifecycle.py``; batches stay ``IN_PROGRESS``
until the test ends them. In order:

1. A user marks the deferred ``killed_by_user`` failed through the REST API: the triggerer calls
   the trigger's ``on_kill``, which cancels the batch on the server. No second batch.
2. The triggerer is SIGKILLed ~15 s into ``times_out`` (45 s timeout) and a new one started: the
   task still fails with ``TogetherBatchTimeoutError`` at about the original deadline, and the
   batch is cancelled. Restarts cancel nothing: ``survives_restart`` keeps running through that
   one and through a graceful (SIGTERM) restart after it.
3. ``survives_restart`` (``max_poll_failures=3``) gets exactly 3 failed polls in a row and still
   succeeds; ``gives_up_polling`` gets 4 and fails with the retryable polling error, and its retry
   re-attaches to the same batch. The connection's ``max_retries`` is 0, so each scripted 500
   reaches the trigger as one failed polling round.

Deployment setting: ``[triggerer] triggerer_health_check_threshold=10`` so the new triggerer takes
the dead one's triggers over after 10 s instead of 30 s.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.harness import AirflowDeployment, deployment, task_log_events
from tests.services import require_postgres, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "apb_lifecycle"
RUN_ID = "lifecycle"
API_KEY = "lifecycle-" + uuid.uuid4().hex
#: batches would take 10 minutes: only the test (or a cancel, or the deadline) ends them
SERVER_ARGS = ("--validating-seconds", "1", "--processing-seconds", "600", "--cancel-seconds", "1")
TIMEOUT_SECONDS = 45  # as in the DAG
MAX_POLL_FAILURES = 3  # as in the DAG
KILL_TRIGGERER_AFTER = 15.0
POLL_ROUTE = "GET /v1/batches/{id}"
TASKS = ("killed_by_user", "times_out", "survives_restart", "gives_up_polling")
CANCELLING = ("CANCELING", "CANCELLED")


class ServerControl:
    """The server's ``/_control`` API: never faulted, and never a ``GET /v1/batches/{id}``."""

    def __init__(self, together_url: str) -> None:
        self.control = ControlClient(together_url, API_KEY)

    def stats(self) -> dict[str, Any]:
        return self.control.stats()

    def batch(self, batch_id: str) -> dict[str, Any]:
        return next(b for b in self.stats()["batches"] if b["id"] == batch_id)

    def status(self, batch_id: str) -> str:
        return str(self.batch(batch_id)["status"])

    def fail_polls(self, times: int) -> None:
        script = [{"route": POLL_ROUTE, "kind": "500", "times": times}]
        self.control.set_faults(script=script)

    def scripted_faults_left(self) -> int:
        return self.control.set_faults()

    def complete(self, batch_id: str) -> None:
        self.control.force_status(batch_id, "COMPLETED")


def write_inputs(folder: Path, lines: int = 4) -> Path:
    """One JSONL per task, each with its own content (identical bytes would share one upload)."""
    folder.mkdir(parents=True)
    body = {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "max_tokens": 16}
    for task in TASKS:
        rows = (
            {"custom_id": f"{task}-{n}", "body": {**body, "messages": [{"role": "user", "content": f"{n}"}]}}
            for n in range(lines)
        )
        (folder / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ---- driving the deployment -------------------------------------------------------------------


class Run:
    """The one DAG run of the test, seen through the REST API."""

    def __init__(self, dep: AirflowDeployment) -> None:
        self.dep = dep

    def ti(self, task: str) -> dict[str, Any]:
        return self.dep.task_instance(DAG_ID, RUN_ID, task)

    def batch_id(self, task: str) -> str | None:
        value = self.dep.xcom(DAG_ID, RUN_ID, task, "batch_id")
        return str(value) if value else None

    def wait_state(self, task: str, state: str, timeout: float, try_number: int = 1) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            ti = self.ti(task)
            return ti if (ti["state"], ti["try_number"]) == (state, try_number) else None

        what = f"{task} try {try_number} {state}"
        return self.dep.wait_for(reached, timeout, what, interval=0.5)  # type: ignore[no-any-return]

    def wait_deferred(self, task: str, timeout: float = 180, try_number: int = 1) -> str:
        """Wait until ``task`` is deferred on its batch; returns the batch id."""
        self.wait_state(task, "deferred", timeout, try_number)
        batch_id = self.batch_id(task)
        assert batch_id, task
        return batch_id

    def trigger_logs(self, task: str) -> list[str]:
        """Names of the task's try-1 trigger logs, one per triggerer job that ran it, oldest first."""
        folder = self.dep.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / f"task_id={task}"
        found = folder.glob("attempt=1.log.trigger.*.log")
        return [p.name for p in sorted(found, key=lambda p: int(p.name.split(".")[-2]))]

    def log(self, task: str, pattern: str) -> str:
        return " ".join(task_log_events(self.dep.home / "logs", DAG_ID, RUN_ID, task, pattern))


def user_kill(run: Run, server: ServerControl, batch_id: str) -> dict[str, Any]:
    """Mark the deferred task failed like a user would; the trigger's on_kill must cancel the batch."""
    path = f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/killed_by_user"
    started = time.monotonic()
    resp = run.dep.api("PATCH", path, json={"new_state": "failed"})
    assert resp.status_code == 200, resp.text
    status = run.dep.wait_for(
        lambda: (s := server.status(batch_id)) in CANCELLING and s, 20, "the batch cancelled", interval=0.2
    )
    latency = time.monotonic() - started
    assert run.ti("killed_by_user")["state"] == "failed"
    return {"batch": batch_id, "status": status, "kill_to_cancel_s": round(latency, 1)}


def restart_triggerer(run: Run, server: ServerControl, timed: str, survivor: str) -> dict[str, Any]:
    """SIGKILL the triggerer ``KILL_TRIGGERER_AFTER`` s after the timed batch was created; start a new one."""
    created = _epoch(server.batch(timed)["created_at"])
    time.sleep(max(0.0, created + KILL_TRIGGERER_AFTER - time.time()))
    killed_at = time.time()
    # Later than this, the takeover (~10 s) could come after the deadline and prove nothing.
    assert killed_at - created < TIMEOUT_SECONDS - 20, "the deployment was too slow to test the restart"
    run.dep.kill("triggerer")
    time.sleep(2)
    run.dep.start("triggerer")
    # A triggerer that dies is no user action: nothing is cancelled.
    assert (server.status(timed), server.status(survivor)) == ("IN_PROGRESS", "IN_PROGRESS")
    return {"created": created, "killed_after_s": round(killed_at - created, 1)}


def check_timeout(run: Run, server: ServerControl, batch_id: str, created: float) -> dict[str, Any]:
    """The task fails at the original deadline with the timeout error, and its batch is cancelled."""
    ti = run.wait_state("times_out", "failed", 120)
    deadline = created + TIMEOUT_SECONDS
    failed_at = _epoch(ti["end_date"])
    # A deadline reset by the restart would fire >= KILL_TRIGGERER_AFTER + 10 s (takeover) later.
    assert deadline <= failed_at < deadline + 12, (deadline, failed_at)
    assert server.status(batch_id) in CANCELLING
    log = run.log("times_out", "attempt=1.log")
    assert "TogetherBatchTimeoutError" in log, log[-3000:]
    # Two trigger logs: the killed triggerer's and the new one's, which saw the deadline pass.
    trigger_logs = run.trigger_logs("times_out")
    assert len(trigger_logs) == 2, trigger_logs
    assert "deadline passed" in run.log("times_out", trigger_logs[-1])
    return {"batch": batch_id, "failed_after_deadline_s": round(failed_at - deadline, 1)}


def fail_polls_and_wait(run: Run, server: ServerControl, times: int) -> None:
    server.fail_polls(times)
    run.dep.wait_for(lambda: server.scripted_faults_left() == 0, 30, f"{times} failed polls", interval=0.5)


def tolerated_failures(run: Run, server: ServerControl, batch_id: str) -> dict[str, Any]:
    """Exactly ``MAX_POLL_FAILURES`` failed polls in a row: still deferred, then succeeds."""
    fail_polls_and_wait(run, server, MAX_POLL_FAILURES)
    time.sleep(2)  # at least one more (good) poll
    assert run.ti("survives_restart")["state"] == "deferred"
    assert server.status(batch_id) == "IN_PROGRESS"
    server.complete(batch_id)
    run.wait_state("survives_restart", "success", 60)
    # Run by all three triggerers (first, after SIGKILL, after SIGTERM); none cancelled anything.
    assert len(run.trigger_logs("survives_restart")) == 3
    log = run.log("survives_restart", "attempt=1.log.trigger.*.log")
    assert "on_kill" not in log and "cancellation requested" not in log, log[-3000:]
    expected = f"polling round failed ({MAX_POLL_FAILURES} consecutive, {MAX_POLL_FAILURES} tolerated)"
    assert expected in log, log[-3000:]
    return {"batch": batch_id, "failed_polls": MAX_POLL_FAILURES}


def one_failure_too_many(run: Run, server: ServerControl) -> dict[str, Any]:
    """``MAX_POLL_FAILURES + 1`` failed polls: the retryable polling error, and a retry that re-attaches."""
    batch_id = run.wait_deferred("gives_up_polling", timeout=120)
    started = time.monotonic()
    fail_polls_and_wait(run, server, MAX_POLL_FAILURES + 1)
    assert run.wait_deferred("gives_up_polling", timeout=90, try_number=2) == batch_id
    retried_after = time.monotonic() - started
    first = run.log("gives_up_polling", "attempt=1.log")
    assert "TogetherBatchPollingError" in first, first[-3000:]
    assert f"gave up after {MAX_POLL_FAILURES + 1} consecutive failed polls" in first, first[-3000:]
    assert f"re-attached (ledger) to batch {batch_id}" in run.log("gives_up_polling", "attempt=2.log")
    server.complete(batch_id)
    run.wait_state("gives_up_polling", "success", 60, try_number=2)
    return {"batch": batch_id, "failed_polls": MAX_POLL_FAILURES + 1, "retry_s": round(retried_after, 1)}


# ---- the test -----------------------------------------------------------------------------------


def test_kill_timeout_and_poll_failures_on_a_distributed_airflow(tmp_path: Path, together_url: str) -> None:
    require_postgres()
    require_redis()
    started = time.monotonic()
    server = ServerControl(together_url)
    env = {
        "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
            {"conn_type": "together", "password": API_KEY, "host": together_url, "extra": {"max_retries": 0}}
        ),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "APB_LIFECYCLE_INPUTS": str(write_inputs(tmp_path / "inputs")),
        "PYTHONPATH": str(REPO),
    }
    home = tmp_path / "airflow"
    home.mkdir()
    facts: dict[str, Any] = {}
    try:
        run_cases(home, env, server, facts)
    finally:
        facts["total_s"] = round(time.monotonic() - started, 1)
        print("\nlifecycle facts:", json.dumps(facts, indent=1))


def run_cases(home: Path, env: dict[str, str], server: ServerControl, facts: dict[str, Any]) -> None:
    started = time.monotonic()
    with deployment(home, DAGS, env) as dep:
        facts["deployment_up_s"] = round(time.monotonic() - started, 1)
        dep.wait_dag_parsed(DAG_ID)
        resp = dep.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": RUN_ID, "logical_date": None})
        assert resp.status_code in (200, 201), resp.text
        run = Run(dep)
        ids = {t: run.wait_deferred(t) for t in TASKS[:3]}  # the fourth waits for the third
        assert len(set(ids.values())) == 3, ids

        # on_kill can only run in a triggerer that runs the trigger: on a loaded machine the first
        # pick-up can take a while, and a task killed before it is never seen by a triggerer.
        dep.wait_for(
            lambda: "VALIDATING" in run.log("killed_by_user", "attempt=1.log.trigger.*.log")
            or "IN_PROGRESS" in run.log("killed_by_user", "attempt=1.log.trigger.*.log"),
            120, "the triggerer to poll killed_by_user's batch", interval=0.5,
        )  # fmt: skip
        facts["user_kill"] = user_kill(run, server, ids["killed_by_user"])
        restart = restart_triggerer(run, server, ids["times_out"], ids["survives_restart"])
        facts["timeout"] = {**check_timeout(run, server, ids["times_out"], restart["created"]),
                            "triggerer_killed_after_s": restart["killed_after_s"]}  # fmt: skip
        assert server.status(ids["survives_restart"]) == "IN_PROGRESS"
        # A graceful restart (a deploy) cancels the running triggers too, but is no user action either.
        dep.kill("triggerer", signal.SIGTERM)
        dep.start("triggerer")
        facts["tolerated"] = tolerated_failures(run, server, ids["survives_restart"])
        facts["beyond"] = one_failure_too_many(run, server)

        assert run.ti("killed_by_user")["try_number"] == 1
        killed_log = run.log("killed_by_user", "attempt=1.log.trigger.*.log")
        assert "Trigger cancelled by user action, invoking on_kill" in killed_log, killed_log[-3000:]
        assert f"batch {ids['killed_by_user']}: cancellation requested" in killed_log, killed_log[-3000:]

    stats = server.stats()
    # One upload and one batch per task: the user kill, the restart and the retry created none.
    assert (stats["uploads"], stats["batch_creates"]) == (len(TASKS), len(TASKS)), stats
    assert server.status(ids["killed_by_user"]) == "CANCELLED"
