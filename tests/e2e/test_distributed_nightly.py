"""The nightly backfill DAG on a real distributed Airflow: scheduler, dag-processor, triggerer,
CeleryExecutor worker and API server as separate processes, metadata DB on PostgreSQL, Redis as
the broker, and each vendor's local server as a separate process.

Every vendor's nightly example (``together_nightly_backfill`` on a ``together`` connection,
``openai_nightly_backfill`` on an ``openai`` one, ``anthropic_nightly_backfill`` on an
``anthropic`` one) catches up side by side with the others in one deployment. Half-way
through the batches the triggerer is SIGKILLed and a new one started. Every DAG run must still
succeed, with exactly one batch per logical date and exactly the right warehouse rows. The cluster
and the restart happen once for the module; the checks are parametrised over the vendor.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.conftest import vendor_connections, vendor_servers, warehouse_for
from tests.e2e.harness import AirflowDeployment, deployment, query
from tests.services import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # the first test starts the cluster

REPO = Path(__file__).resolve().parents[2]
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
PER_DAY = 40
API_KEY = "e2e-" + uuid.uuid4().hex
SERVER_ARGS = ("--validating-seconds", "2", "--processing-seconds", "25")
WAREHOUSE_DAYS, WAREHOUSE_PER_DAY = DAYS, PER_DAY


@dataclass(frozen=True)
class Example:
    """One vendor's nightly example, as its DAG file and ``_example_config`` define it."""

    dag_id: str
    conn_id: str  # its batch connection (``_example_config``)
    link: str  # the extra link to its batch on the vendor's console
    results_table: str
    stats_table: str
    uploads: int = 1  # files uploaded per batch (Anthropic's requests go inline in the create)


EXAMPLES = {
    "together": Example(
        "together_nightly_backfill", "together_default", "Batch console",
        "ticket_summaries", "daily_ticket_stats",
    ),
    "openai": Example(
        "openai_nightly_backfill", "openai_default", "Batch console",
        "openai_ticket_summaries", "openai_daily_ticket_stats",
    ),
    "anthropic": Example(
        "anthropic_nightly_backfill", "anthropic_default", "Batch console",
        "anthropic_ticket_summaries", "anthropic_daily_ticket_stats", uploads=0,
    ),
}  # fmt: skip


@dataclass
class Restarted:
    """The deployment after the triggerer restart, with every DAG run of every example finished."""

    dep: AirflowDeployment
    urls: dict[str, str]  # vendor -> base URL of its server
    warehouse: str
    deferred: dict[str, dict[str, Any]]  # vendor -> a submit task that was deferred at the kill
    runs: dict[str, list[dict[str, Any]]]  # vendor -> its DAG runs


def _deferred_submit(dep: AirflowDeployment, dag_id: str) -> dict[str, Any] | None:
    for run in dep.dag_runs(dag_id):
        ti = dep.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/submit_batch")
        if ti.status_code == 200 and ti.json()["state"] == "deferred":
            return dict(ti.json())
    return None


@pytest.fixture(scope="module")
def restarted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Restarted]:
    require_redis()
    tmp = tmp_path_factory.mktemp("nightly")
    with vendor_servers(request.module, tmp, EXAMPLES) as urls, warehouse_for(request.module) as warehouse:
        conn_ids = {vendor: example.conn_id for vendor, example in EXAMPLES.items()}
        env = vendor_connections(conn_ids, urls, API_KEY, poll_interval=2)
        env |= {
            "AIRFLOW_CONN_TOGETHER_WAREHOUSE": f"postgres://postgres@127.0.0.1:5432/{warehouse}",
            "APB_START_DATE": DAYS[0].isoformat(),
            "APB_END_DATE": DAYS[-1].isoformat(),
            "APB_WORK_DIR": str(tmp / "work"),
            "PYTHONPATH": str(REPO),
        }
        home = tmp / "airflow"
        home.mkdir()
        with deployment(home, REPO / "dags_examples", env) as dep:
            for example in EXAMPLES.values():
                dep.wait_dag_parsed(example.dag_id)

            def both_deferred() -> dict[str, dict[str, Any]] | None:
                found = {v: _deferred_submit(dep, e.dag_id) for v, e in EXAMPLES.items()}
                return {v: ti for v, ti in found.items() if ti} if all(found.values()) else None

            deferred = dep.wait_for(both_deferred, 300, "a deferred submit_batch task of each example")
            time.sleep(4)  # let the triggerer poll and log progress at least once

            dep.kill("triggerer")
            time.sleep(3)
            dep.start("triggerer")

            def all_finished() -> dict[str, list[dict[str, Any]]] | None:
                runs = {v: dep.dag_runs(e.dag_id) for v, e in EXAMPLES.items()}
                states = [r["state"] for rs in runs.values() for r in rs]
                done = len(states) == len(DAYS) * len(EXAMPLES) and all(
                    s in ("success", "failed") for s in states
                )
                return runs if done else None

            runs = dep.wait_for(all_finished, 900, "every DAG run of every example to finish")
            yield Restarted(dep, urls, warehouse, deferred, runs)


@pytest.mark.parametrize("vendor", list(EXAMPLES))
def test_nightly_backfill_survives_triggerer_restart(restarted: Restarted, vendor: str) -> None:
    example, dep = EXAMPLES[vendor], restarted.dep
    base_url = restarted.urls[vendor]
    runs = restarted.runs[vendor]
    assert sorted(r["state"] for r in runs) == ["success"] * len(DAYS), runs

    ti = restarted.deferred[vendor]
    where = f"/dags/{example.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/submit_batch"
    links = dep.api("GET", f"{where}/links")
    links.raise_for_status()
    link = links.json()["extra_links"].get(example.link)
    assert link and link.startswith(f"{base_url.removesuffix('/v1')}/batches/"), links.json()
    assert httpx.get(link, timeout=10).status_code == 200

    # Progress lines logged by the triggerer reach the task's log through the API server.
    log = dep.api("GET", f"{where}/logs/1")
    assert log.status_code == 200, log.text[:500]
    text = json.dumps(log.json())
    assert "in_progress" in text.lower() and "%" in text, text[-3000:]  # each vendor's own spelling

    stats = ControlClient(base_url, API_KEY).stats()
    assert stats["batch_creates"] == len(DAYS), stats
    assert stats["uploads"] == len(DAYS) * example.uploads, stats

    rows = query(restarted.warehouse, f"SELECT custom_id, status FROM {example.results_table}")
    assert len(rows) == len(DAYS) * PER_DAY
    assert len({r[0] for r in rows}) == len(rows)
    assert {r[1] for r in rows} == {"succeeded"}
    stats_rows = query(restarted.warehouse, f"SELECT day, tickets FROM {example.stats_table} ORDER BY day")
    assert stats_rows == [(d.isoformat(), PER_DAY) for d in DAYS]


def test_the_provider_and_its_connection_form_show_in_the_ui(restarted: Restarted) -> None:
    dep = restarted.dep
    providers = dep.api("GET", "/providers", params={"limit": 200}).json()["providers"]
    assert any(p["package_name"] == "airflow-provider-batch" for p in providers)
    hooks = httpx.get(
        f"{dep.api_url}/ui/connections/hook_meta",
        headers={"Authorization": f"Bearer {dep.token()}"},
        timeout=30,
    ).json()
    together = next(h for h in hooks if h["connection_type"] == "together")
    assert together["standard_fields"]["password"]["title"] == "API Key"
    assert together["standard_fields"]["host"]["title"] == "Base URL"
