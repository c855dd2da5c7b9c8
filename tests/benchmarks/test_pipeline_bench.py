"""End-to-end provider overhead: a 10,000-request batch through the local server with instant
processing, split into phases, plus the same job through the real operators with ``dag.test()``.

Target: provider overhead under 10 s for 10,000 requests. Run with ``make bench``; figures are
printed and written to ``tests/benchmarks/results/pipeline.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import ClientSettings, TogetherClient
from airflow_provider_batch.collect.files import download_batch_files
from airflow_provider_batch.inputs import ensure_valid, estimate_batch_cost, split_batch_file
from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE
from airflow_provider_batch.results import ParsedFile, RunContext, WarehouseLoader, iter_expected, reconcile
from airflow_provider_batch.vendors import vendor_named

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(600)]

REQUESTS = int(os.environ.get("APB_BENCH_REQUESTS", "10000"))
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
RESULTS_FILE = Path(__file__).parent / "results" / "pipeline.json"
TARGET_SECONDS = 10.0


def _write_input(path: Path, n: int, tag: str = "") -> Path:
    with path.open("w") as fh:
        for i in range(n):
            body = {
                "model": MODEL,
                "max_tokens": 64,
                "messages": [
                    {"role": "system", "content": "Summarise the ticket in one sentence."},
                    {
                        "role": "user",
                        "content": f"Ticket {i}{tag}: the export of invoice {i * 7} fails with a timeout.",
                    },
                ],
            }
            fh.write(json.dumps({"custom_id": f"req-{i:06d}", "body": body}) + "\n")
    return path


class _Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        self.seconds[name] = time.perf_counter() - started
        return result


TOGETHER = vendor_named("together")


def _poll(client: TogetherClient, batch_id: str) -> Any:
    while True:
        job = client.batches.retrieve(batch_id)
        if job.status.is_terminal:
            return job
        time.sleep(0.05)


def _library_phases(server: Any, tmp: Path) -> dict[str, float]:
    input_path = _write_input(tmp / "requests.jsonl", REQUESTS)
    phases = _Phases()
    phases.run("validate", lambda: ensure_valid(input_path, check_totals=False))
    phases.run("split", lambda: split_batch_file(input_path, tmp / "parts"))
    phases.run("budget", lambda: estimate_batch_cost(input_path, DEFAULT_PRICE_TABLE))
    settings = ClientSettings(api_key=server.api_key, base_url=server.base_url)
    with TogetherClient(settings) as client:
        uploaded = phases.run("upload", lambda: client.files.upload(input_path))
        job = phases.run("create", lambda: client.batches.create(uploaded.id).job)
        job = phases.run("poll (incl. server processing)", lambda: _poll(client, job.id))
        files = phases.run("download", lambda: download_batch_files(client, job, tmp / "dl", vendor=TOGETHER))
    ts = None
    rec = phases.run(
        "reconcile",
        lambda: reconcile(
            iter_expected(files.input_path, {}), ParsedFile(files.output_path, "output"),
            ParsedFile(files.error_path, "error"), batch_id=job.id, batch_status=job.status.value,
            run=RunContext("bench", "run", ts, ts),
        ),
    )  # fmt: skip
    rows = phases.run("build rows", lambda: list(rec.rows()))
    assert len(rows) == REQUESTS

    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    os.environ["AIRFLOW_CONN_APB_BENCH_PHASES"] = json.dumps(
        {"conn_type": "sqlite", "host": str(tmp / "wh.db")}
    )
    loader = WarehouseLoader(SqliteHook(sqlite_conn_id="apb_bench_phases"))
    loader.ensure_tables()
    phases.run("load (SQLite)", lambda: loader.load(rows, [rec.summary]))
    return phases.seconds


class _TI:
    """Identity and XCom of a task instance, for timing ``execute()`` without a scheduler."""

    def __init__(self, task_id: str) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = (
            "bench",
            task_id,
            "r1",
            -1,
            1,
        )
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, **_: Any) -> Any:
        return self.xcom.get("manifest")


def _operator_run(server: Any, tmp: Path) -> dict[str, float]:
    """The same job through the operators' own ``execute()``: what a worker spends, minus Airflow."""
    from collections import defaultdict
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from airflow_provider_batch.operators.batch import TogetherBatchOperator
    from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

    # Distinct content: identical bytes would be answered by the server's checksum dedupe, not uploaded.
    input_path = _write_input(tmp / "op-requests.jsonl", REQUESTS, tag=" (operators)")
    os.environ.update(
        {
            "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
                {"conn_type": "together", "password": server.api_key, "host": server.base_url}
            ),
            "AIRFLOW_CONN_APB_BENCH_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(tmp / "op.db")}
            ),
        }
    )
    submit = TogetherBatchOperator(task_id="submit", input_path=str(input_path), wait_for_completion=False)
    load = TogetherBatchResultsOperator(task_id="load", warehouse_conn_id="apb_bench_warehouse")
    timings = _Phases()
    manifest = timings.run(
        "submit operator execute()", lambda: submit.execute({"ti": _TI("submit"), "params": {}})
    )
    settings = ClientSettings(api_key=server.api_key, base_url=server.base_url)
    with TogetherClient(settings) as client:
        timings.run("wait (server processing)", lambda: _poll(client, manifest["batches"][0]["batch_id"]))
    load.manifest = manifest
    context = {
        "ti": _TI("load"),
        "params": {},
        "dag": SimpleNamespace(dag_id="bench"),
        "run_id": "r1",
        "logical_date": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "outlet_events": defaultdict(SimpleNamespace),
    }
    result = timings.run("results operator execute()", lambda: load.execute(context))
    assert result["requests"] == REQUESTS and result["counts"]["succeeded"] == REQUESTS
    with sqlite3.connect(tmp / "op.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM together_batch_results").fetchone()[0] == REQUESTS
    return timings.seconds


def test_pipeline_overhead(together_server: Any, tmp_path: Path) -> None:
    together_server.configure(validating_seconds=0, processing_seconds=0)
    phases = _library_phases(together_server, tmp_path)
    server_side = phases["poll (incl. server processing)"]
    provider = sum(phases.values()) - server_side
    operator = _operator_run(together_server, tmp_path)
    operator_overhead = sum(v for k, v in operator.items() if not k.startswith("wait"))

    print(f"\nEnd-to-end overhead, {REQUESTS:,} requests, local server with instant processing")
    print(f"{'phase':<40}{'seconds':>10}")
    for name, seconds in phases.items():
        print(f"{name:<40}{seconds:>10.3f}")
    print(f"{'provider overhead (all but poll)':<40}{provider:>10.3f}   target < {TARGET_SECONDS:.0f} s")
    for name, seconds in operator.items():
        print(f"{name:<40}{seconds:>10.3f}")
    label = "operators overhead (all but wait)"
    print(f"{label:<40}{operator_overhead:>10.3f}   target < {TARGET_SECONDS:.0f} s")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "node": platform.node(),
                },
                "date": time.strftime("%Y-%m-%d"),
                "requests": REQUESTS,
                "phases_seconds": phases,
                "provider_overhead_seconds": provider,
                "operators_seconds": operator,
                "operators_overhead_seconds": operator_overhead,
                "target_seconds": TARGET_SECONDS,
            },
            indent=2,
        )
    )
    assert provider < TARGET_SECONDS
    assert operator_overhead < TARGET_SECONDS
