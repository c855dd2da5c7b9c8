"""Warehouse load throughput: WarehouseLoader versus DbApiHook.insert_rows on the same rows.

Run with ``make bench`` (or ``pytest tests/benchmarks -m benchmark -s``). Figures are printed and
written to ``tests/benchmarks/results/warehouse.json``. Targets: SQLite >= 100,000 rows/s,
PostgreSQL >= 50,000 rows/s for the loader (best of three loads into empty tables). Also recorded:
a re-run over the full table (every row updated) and a load of a batch that already has a row
(on PostgreSQL that forces COPY into staging + one INSERT … SELECT … ON CONFLICT).
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_batch.results import ParsedFile, RunContext, WarehouseLoader, reconcile
from airflow_provider_batch.results._sql import to_utc
from tests.results._data import make_batch
from tests.results._warehouse import postgres_warehouse, sqlite_warehouse

pytestmark = pytest.mark.benchmark

ROWS = int(os.environ.get("APB_BENCH_ROWS", "100000"))
REPEATS = 3
TARGETS = {"sqlite": 100_000, "postgres": 50_000}
META = ("row_id", "category")
RESULTS_FILE = Path(__file__).parent / "results" / "warehouse.json"
_figures: dict[str, dict] = {}


@pytest.fixture(scope="module")
def rows_and_summary(tmp_path_factory):
    batch = make_batch(tmp_path_factory.mktemp("bench"), ROWS)
    ts = to_utc(datetime(2026, 1, 1))
    rec = reconcile(
        batch.expected,
        ParsedFile(batch.output_path, "output"),
        ParsedFile(batch.error_path, "error"),
        batch_id="bench",
        batch_status="COMPLETED",
        run=RunContext("dag", "run", ts, ts),
    )
    return list(rec.rows()), rec.summary


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bench_warehouse(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield sqlite_warehouse(tmp_path, monkeypatch)
    else:
        with postgres_warehouse(monkeypatch) as wh:
            yield wh


def _timed(fn, cpu: list | None = None) -> float:
    started, cpu_started = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def _loader(wh, name: str) -> WarehouseLoader:
    """A loader of the tables ``res_<name>`` and ``sum_<name>``, created."""
    loader = WarehouseLoader(
        wh.hook,
        results_table=wh.table(f"res_{name}"),
        summary_table=wh.table(f"sum_{name}"),
        metadata_columns=META,
    )
    loader.ensure_tables()
    return loader


def test_loader_versus_insert_rows(bench_warehouse, rows_and_summary):
    wh = bench_warehouse
    rows, summary = rows_and_summary
    loader_secs, upsert_secs, loader_cpu = [], [], []
    for attempt in range(REPEATS):
        loader = _loader(wh, str(attempt))
        loader_secs.append(_timed(lambda loader=loader: loader.load(rows, [summary]), loader_cpu))
        assert wh.count(f"res_{attempt}") == len(rows)
    upsert_secs.append(_timed(lambda: loader.load(rows, [summary])))  # re-run over a full table
    assert wh.count(f"res_{REPEATS - 1}") == len(rows)

    # The batch already has a row: PostgreSQL must take the staging + merge path (mostly inserts).
    staged = _loader(wh, "staged")
    staged.load(rows[-1:], [])
    staging_secs = _timed(lambda: staged.load(rows, [summary]))
    assert wh.count("res_staged") == len(rows)

    baseline = _loader(wh, "baseline")
    values = [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in r.values(META)) for r in rows]
    insert_secs = _timed(
        lambda: wh.hook.insert_rows(
            wh.table("res_baseline"),
            values,
            target_fields=list(baseline.result_columns),
            commit_every=1000,
            executemany=True,
        )
    )
    assert wh.count("res_baseline") == len(rows)
    # insert_rows as most DAGs call it: defaults (one execute per row, commit every 1000 rows).
    default = _loader(wh, "default")
    default_secs = _timed(
        lambda: wh.hook.insert_rows(
            wh.table("res_default"),
            values,
            target_fields=list(default.result_columns),
            commit_every=1000,
        )
    )
    assert wh.count("res_default") == len(rows)

    n = len(rows)
    figures = {
        "rows": n,
        "loader_rows_per_s": round(n / min(loader_secs)),
        "loader_seconds": [round(s, 3) for s in loader_secs],
        "loader_client_cpu_seconds": [round(s, 3) for s in loader_cpu],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "loader_rerun_upsert_rows_per_s": round(n / upsert_secs[0]),
        "loader_existing_batch_rows_per_s": round(n / staging_secs),
        "insert_rows_executemany_rows_per_s": round(n / insert_secs),
        "insert_rows_seconds": round(insert_secs, 3),
        "speedup_vs_insert_rows": round(insert_secs / min(loader_secs), 2),
        "insert_rows_default_rows_per_s": round(n / default_secs),
        "insert_rows_default_seconds": round(default_secs, 3),
        "speedup_vs_insert_rows_default": round(default_secs / min(loader_secs), 2),
        "target_rows_per_s": TARGETS[wh.name],
    }
    _figures[wh.name] = figures
    print(f"\n[{wh.name}] {json.dumps(figures)}")
    _write_results()
    assert figures["loader_rows_per_s"] >= TARGETS[wh.name], figures


def _write_results() -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    existing.update(_figures)
    existing["_environment"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS_FILE.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
