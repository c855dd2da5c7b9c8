"""A run owns its batches and its rows, on a real scheduler, triggerer and Celery worker.

Two catch-up DAGs share one results table and one spend table; every logical date and every
mapped shard has byte-identical input, and each load uses ``replace_logical_date``. Then one run
is cleared (it must re-attach to its own batches and leave every other row alone), and cleared
again after its input changed (new batches: its old answers are replaced, the old batches stay in
the spend table, marked superseded, so the money spent is still one ``SUM``).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.harness import AirflowDeployment, deployment, query
from tests.services import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).parent / "dags_backfill"  # alone: other deployments must not schedule it
DAG_IDS = ("apb_backfill_a", "apb_backfill_b")
SHARDS, PER_SHARD = 3, 4
API_KEY = "e2e-" + uuid.uuid4().hex
SERVER_ARGS = ("--validating-seconds", "1", "--processing-seconds", "4")
WAREHOUSE_DAYS: list[Any] = []
WAREHOUSE_PER_DAY = 0


def _runs(dep: AirflowDeployment, dag_id: str) -> list[dict[str, Any]]:
    return sorted(dep.dag_runs(dag_id), key=lambda r: r["logical_date"])


def _wait_finished(dep: AirflowDeployment, expected: int, what: str) -> dict[str, list[dict[str, Any]]]:
    def finished() -> dict[str, list[dict[str, Any]]] | None:
        runs = {dag_id: _runs(dep, dag_id) for dag_id in DAG_IDS}
        states = [r["state"] for rs in runs.values() for r in rs]
        return runs if len(states) == expected and all(s in ("success", "failed") for s in states) else None

    return dep.wait_for(finished, 420, what)  # type: ignore[no-any-return]


def _failures(dep: AirflowDeployment, runs: dict[str, list[dict[str, Any]]]) -> str:
    """The failed task instances of ``runs`` with the end of their logs, for an assertion message."""
    found = []
    for dag_id, dag_runs in runs.items():
        for run in dag_runs:
            tis = dep.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances").json()
            for ti in tis.get("task_instances", []):
                if ti["state"] in ("success", "skipped"):
                    continue
                where = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{ti['task_id']}"
                log = dep.api(
                    "GET", f"{where}/logs/{ti['try_number']}", params={"map_index": ti["map_index"]}
                )
                what = f"{dag_id} {run['dag_run_id']} {ti['task_id']}[{ti['map_index']}] {ti['state']}"
                found.append(f"{what}: {log.text[-1500:]}")
    return "\n".join(found)


def _clear(dep: AirflowDeployment, dag_id: str, run_id: str) -> None:
    body = {"dry_run": False, "dag_run_id": run_id, "task_ids": ["build", "submit", "load"],
            "only_failed": False, "reset_dag_runs": True}  # fmt: skip
    response = dep.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)
    assert response.status_code == 200, response.text[:500]

    def rerun_done() -> bool:
        run = dep.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
        return run["state"] in ("success", "failed") and run.get("end_date") is not None

    time.sleep(3)
    dep.wait_for(rerun_done, 300, f"the cleared run {run_id} to finish")


def _stats(together_url: str) -> dict[str, Any]:
    return ControlClient(together_url, API_KEY).stats()


def _rows(db: str) -> dict[tuple[str, str], int]:
    found = query(db, "SELECT dag_id, run_id, count(*) FROM shared_results GROUP BY dag_id, run_id")
    return {(d, r): n for d, r, n in found}


def test_runs_own_their_batches_and_rows(tmp_path: Path, together_url: str, warehouse_db: str) -> None:
    require_redis()
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
            {
                "conn_type": "together",
                "password": API_KEY,
                "host": together_url,
                "extra": {"poll_interval": 1},
            }
        ),
        "AIRFLOW_CONN_TOGETHER_WAREHOUSE": f"postgres://postgres@127.0.0.1:5432/{warehouse_db}",
        "APB_BACKFILL_DIR": str(work),
        "PYTHONPATH": str(REPO),
    }
    home = tmp_path / "airflow"
    home.mkdir()
    with deployment(home, DAGS, env) as dep:
        for dag_id in DAG_IDS:
            dep.wait_dag_parsed(dag_id)
        runs = _wait_finished(dep, 4, "both catch-up runs of both DAGs")
        assert {r["state"] for rs in runs.values() for r in rs} == {"success"}, _failures(dep, runs)
        n_runs = sum(len(rs) for rs in runs.values())
        stats = _stats(together_url)
        # Identical content in every run and shard: still one batch per (run, shard).
        assert stats["batch_creates"] == n_runs * SHARDS, stats
        rows = _rows(warehouse_db)
        assert sorted(rows.values()) == [SHARDS * PER_SHARD] * n_runs, rows  # every shard kept
        spend = query(warehouse_db, "SELECT count(*) FROM shared_spend")[0][0]
        assert spend == n_runs * SHARDS

        # A clear of day 1 of DAG a: re-attaches to its own batches, touches no other row.
        day1 = runs["apb_backfill_a"][0]
        _clear(dep, "apb_backfill_a", day1["dag_run_id"])
        assert _stats(together_url)["batch_creates"] == n_runs * SHARDS
        assert _rows(warehouse_db) == rows

        # Its input changed: the re-run pays for new batches, replaces its own answers only, and
        # the spend table keeps the first batches, marked superseded.
        ds = day1["logical_date"][:10]
        (work / f"revision-{ds}").write_text("v2")
        _clear(dep, "apb_backfill_a", day1["dag_run_id"])
        assert _stats(together_url)["batch_creates"] == (n_runs + 1) * SHARDS
        after = _rows(warehouse_db)
        assert after == rows, after
        spend_rows = query(warehouse_db, "SELECT superseded, count(*) FROM shared_spend GROUP BY superseded")
        by_flag = {bool(flag): count for flag, count in spend_rows}
        assert by_flag == {False: n_runs * SHARDS, True: SHARDS}, spend_rows
        current = query(
            warehouse_db,
            "SELECT count(*) FROM shared_results WHERE dag_id = %s AND run_id = %s AND response_text LIKE %s",
            ("apb_backfill_a", day1["dag_run_id"], "%v2%"),
        )
        assert current == [(SHARDS * PER_SHARD,)], current
