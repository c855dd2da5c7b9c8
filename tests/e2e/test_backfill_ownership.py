"""A run owns its batches and its rows, on a real scheduler, triggerer and Celery worker, on every
vendor.

Two catch-up DAGs share one results table and one spend table; every logical date and every
mapped shard has byte-identical input, and each load uses ``replace_logical_date``. Then one run
is cleared (it must re-attach to its own batches and leave every other row alone), and cleared
again after its input changed (new batches: its old answers are replaced, the old batches stay in
the spend table, marked superseded, so the money spent is still one ``SUM``).

The same DAGs run once per vendor (Together, OpenAI and Anthropic, each against its own local
server started with ``--vendor``, through a connection of its type) in one deployment: the cluster
is started once for the module, every vendor's DAGs catch up side by side, and the test is
parametrised over the vendor. Every vendor writes into the same two tables, which also shows that
one vendor's loads never touch another's. The rows read back are checked against the submission
ledger: every result row and every spend row is of a batch its own run created, and no batch is
paid for twice.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.conftest import vendor_connections, vendor_servers, warehouse_for
from tests.e2e.harness import AirflowDeployment, deployment, query
from tests.services import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # the first test starts the cluster

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).parent / "dags_backfill"  # alone: other deployments must not schedule it
SHARDS, PER_SHARD = 3, 4
API_KEY = "e2e-" + uuid.uuid4().hex
SERVER_ARGS = ("--validating-seconds", "1", "--processing-seconds", "4")
WAREHOUSE_DAYS: list[Any] = []
WAREHOUSE_PER_DAY = 0


def _dag_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "apb_backfill_ownership", DAGS / "apb_backfill_ownership.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: vendor -> (connection id, model), and the DAG ids per vendor, as the DAG file defines them.
_DAGS = _dag_module()
VENDORS: dict[str, tuple[str, str]] = _DAGS.VENDORS


@dataclass
class Cluster:
    """One deployment running every vendor's DAGs, each vendor against its own local server."""

    dep: AirflowDeployment
    urls: dict[str, str]  # vendor -> base URL of its server
    warehouse: str
    work: Path


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_redis()
    tmp = tmp_path_factory.mktemp("backfill")
    work = tmp / "work"
    work.mkdir()
    with vendor_servers(request.module, tmp, VENDORS) as urls, warehouse_for(request.module) as warehouse:
        conn_ids = {vendor: conn_id for vendor, (conn_id, _) in VENDORS.items()}
        env = vendor_connections(conn_ids, urls, API_KEY, poll_interval=1)
        env |= {
            "AIRFLOW_CONN_TOGETHER_WAREHOUSE": f"postgres://postgres@127.0.0.1:5432/{warehouse}",
            "APB_BACKFILL_DIR": str(work),
            "PYTHONPATH": str(REPO),
        }
        home = tmp / "airflow"
        home.mkdir()
        with deployment(home, DAGS, env) as dep:
            yield Cluster(dep, urls, warehouse, work)


def _runs(dep: AirflowDeployment, dag_id: str) -> list[dict[str, Any]]:
    return sorted(dep.dag_runs(dag_id), key=lambda r: r["logical_date"])


def _wait_finished(
    dep: AirflowDeployment, dag_ids: tuple[str, ...], expected: int, what: str
) -> dict[str, list[dict[str, Any]]]:
    def finished() -> dict[str, list[dict[str, Any]]] | None:
        runs = {dag_id: _runs(dep, dag_id) for dag_id in dag_ids}
        states = [r["state"] for rs in runs.values() for r in rs]
        return runs if len(states) == expected and all(s in ("success", "failed") for s in states) else None

    # Every vendor's DAGs catch up at once on one worker of 2 slots: the first vendor's test waits
    # for nearly all of it (12 runs, 84 task instances; 6-7 min on a loaded 2-core machine).
    return dep.wait_for(finished, 300 * len(VENDORS), what)  # type: ignore[no-any-return]


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


def _stats(base_url: str) -> dict[str, Any]:
    return ControlClient(base_url, API_KEY).stats()


def _rows(db: str, dag_ids: tuple[str, ...]) -> dict[tuple[str, str], int]:
    found = query(
        db,
        "SELECT dag_id, run_id, count(*) FROM shared_results WHERE dag_id = ANY(%s) GROUP BY dag_id, run_id",
        (list(dag_ids),),
    )
    return {(d, r): n for d, r, n in found}


def _spend(db: str, dag_ids: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """``(superseded, count)`` of the spend rows of ``dag_ids``."""
    return query(
        db,
        "SELECT superseded, count(*) FROM shared_spend WHERE dag_id = ANY(%s) GROUP BY superseded",
        (list(dag_ids),),
    )


def _owned(cluster: Cluster, dag_ids: tuple[str, ...], vendor: str) -> dict[str, tuple[str, str]]:
    """The batches the submission ledger records for ``dag_ids`` (batch id -> its DAG and run),
    after checking that every result row and spend row is of a batch its own run created, and that
    no batch has two spend rows (paid, or counted, twice)."""
    ledger = query(
        cluster.dep.db_name,
        "SELECT batch_id, dag_id, run_id, vendor FROM together_batch_submissions "
        "WHERE dag_id = ANY(%s) AND batch_id IS NOT NULL",
        (list(dag_ids),),
    )
    assert {v for *_, v in ledger} == {vendor}, ledger
    owner = {batch: (dag_id, run_id) for batch, dag_id, run_id, _ in ledger}
    assert len(owner) == len(ledger), ledger
    for table in ("shared_results", "shared_spend"):
        found = query(
            cluster.warehouse,
            f"SELECT DISTINCT batch_id, dag_id, run_id FROM {table} WHERE dag_id = ANY(%s)",
            (list(dag_ids),),
        )
        strays = [(b, d, r) for b, d, r in found if owner.get(b) != (d, r)]
        assert not strays, f"{table}: rows of a batch their run did not create: {strays}"
    spent = query(
        cluster.warehouse,
        "SELECT batch_id, count(*) FROM shared_spend WHERE dag_id = ANY(%s) "
        "GROUP BY batch_id HAVING count(*) > 1",
        (list(dag_ids),),
    )
    assert not spent, f"batches with more than one spend row: {spent}"
    return owner


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_runs_own_their_batches_and_rows(cluster: Cluster, vendor: str) -> None:
    dep, db, url = cluster.dep, cluster.warehouse, cluster.urls[vendor]
    dag_ids = _DAGS.dag_ids(vendor)
    first, _ = dag_ids
    for dag_id in dag_ids:
        dep.wait_dag_parsed(dag_id)
    runs = _wait_finished(dep, dag_ids, 4, f"both catch-up runs of both DAGs on {vendor}")
    assert {r["state"] for rs in runs.values() for r in rs} == {"success"}, _failures(dep, runs)
    n_runs = sum(len(rs) for rs in runs.values())
    stats = _stats(url)
    # Identical content in every run and shard: still one batch per (run, shard).
    assert stats["batch_creates"] == n_runs * SHARDS, stats
    rows = _rows(db, dag_ids)
    assert sorted(rows.values()) == [SHARDS * PER_SHARD] * n_runs, rows  # every shard kept
    assert _spend(db, dag_ids) == [(False, n_runs * SHARDS)]
    owned = _owned(cluster, dag_ids, vendor)
    assert len(owned) == n_runs * SHARDS, owned

    # A clear of day 1 of DAG a: re-attaches to its own batches, touches no other row.
    day1 = runs[first][0]
    _clear(dep, first, day1["dag_run_id"])
    assert _stats(url)["batch_creates"] == n_runs * SHARDS
    assert _rows(db, dag_ids) == rows
    assert _owned(cluster, dag_ids, vendor) == owned

    # Its input changed: the re-run pays for new batches, replaces its own answers only, and
    # the spend table keeps the first batches, marked superseded.
    ds = day1["logical_date"][:10]
    (cluster.work / f"revision-{first}-{ds}").write_text("v2")
    _clear(dep, first, day1["dag_run_id"])
    assert _stats(url)["batch_creates"] == (n_runs + 1) * SHARDS
    after = _rows(db, dag_ids)
    assert after == rows, after
    by_flag = {bool(flag): count for flag, count in _spend(db, dag_ids)}
    assert by_flag == {False: n_runs * SHARDS, True: SHARDS}, by_flag
    current = query(
        db,
        "SELECT count(*) FROM shared_results WHERE dag_id = %s AND run_id = %s AND response_text LIKE %s",
        (first, day1["dag_run_id"], "%v2%"),
    )
    assert current == [(SHARDS * PER_SHARD,)], current
    # The new batches are the re-run's own; every other run keeps its batches and rows.
    now_owned = _owned(cluster, dag_ids, vendor)
    new = {b: o for b, o in now_owned.items() if b not in owned}
    assert set(new.values()) == {(first, day1["dag_run_id"])} and len(new) == SHARDS, new
    assert {b: o for b, o in now_owned.items() if b in owned} == owned
