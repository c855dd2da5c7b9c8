"""The nightly backfill DAG on a real distributed Airflow: scheduler, dag-processor, triggerer,
CeleryExecutor worker and API server as separate processes, metadata DB on PostgreSQL, Redis as
the broker, and the local Together-compatible server as a separate process.

Half-way through the batches the triggerer is SIGKILLed and a new one started. Every DAG run must
still succeed, with exactly one batch per logical date and exactly the right warehouse rows.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from airflow_provider_batch.testing.server import ControlClient
from tests.e2e.harness import deployment, query
from tests.services import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "together_nightly_backfill"
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
PER_DAY = 40
API_KEY = "e2e-" + uuid.uuid4().hex
SERVER_ARGS = ("--validating-seconds", "2", "--processing-seconds", "25")
WAREHOUSE_DAYS, WAREHOUSE_PER_DAY = DAYS, PER_DAY


def test_nightly_backfill_survives_triggerer_restart(tmp_path, together_url, warehouse_db):
    require_redis()
    base_url = together_url
    root_url = base_url.removesuffix("/v1")
    env = {
        "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
            {"conn_type": "together", "password": API_KEY, "host": base_url, "extra": {"poll_interval": 2}}
        ),
        "AIRFLOW_CONN_TOGETHER_WAREHOUSE": f"postgres://postgres@127.0.0.1:5432/{warehouse_db}",
        "APB_START_DATE": DAYS[0].isoformat(),
        "APB_END_DATE": DAYS[-1].isoformat(),
        "APB_WORK_DIR": str(tmp_path / "work"),
        "PYTHONPATH": str(REPO),
    }
    home = tmp_path / "airflow"
    home.mkdir()
    with deployment(home, REPO / "dags_examples", env) as dep:
        dep.wait_dag_parsed(DAG_ID)

        def deferred_submits() -> list[dict]:
            found = []
            for run in dep.dag_runs(DAG_ID):
                ti = dep.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/submit_batch")
                if ti.status_code == 200 and ti.json()["state"] == "deferred":
                    found.append(ti.json())
            return found

        deferred = dep.wait_for(deferred_submits, 300, "a deferred submit_batch task")
        time.sleep(4)  # let the triggerer poll and log progress at least once
        ti = deferred[0]
        links = dep.api("GET", f"/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/submit_batch/links")
        links.raise_for_status()
        link = links.json()["extra_links"].get("Together batch")
        assert link and link.startswith(f"{root_url}/batches/"), links.json()
        assert httpx.get(link, timeout=10).status_code == 200

        dep.kill("triggerer")
        time.sleep(3)
        dep.start("triggerer")

        def all_finished() -> list[dict] | None:
            runs = dep.dag_runs(DAG_ID)
            if len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            return None

        runs = dep.wait_for(all_finished, 600, "every DAG run to finish")
        assert sorted(r["state"] for r in runs) == ["success"] * len(DAYS), runs

        # Progress lines logged by the triggerer reach the task's log through the API server.
        log = dep.api("GET", f"/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/submit_batch/logs/1")
        assert log.status_code == 200, log.text[:500]
        text = json.dumps(log.json())
        assert "IN_PROGRESS" in text and "%" in text, text[-3000:]

        # UI side: the provider, the connection form.
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

    stats = ControlClient(base_url, API_KEY).stats()
    assert stats["batch_creates"] == len(DAYS), stats
    assert stats["uploads"] == len(DAYS), stats

    rows = query(warehouse_db, "SELECT custom_id, status FROM ticket_summaries")
    assert len(rows) == len(DAYS) * PER_DAY
    assert len({r[0] for r in rows}) == len(rows)
    assert {r[1] for r in rows} == {"succeeded"}
    stats_rows = query(warehouse_db, "SELECT day, tickets FROM daily_ticket_stats ORDER BY day")
    assert stats_rows == [(d.isoformat(), PER_DAY) for d in DAYS]
