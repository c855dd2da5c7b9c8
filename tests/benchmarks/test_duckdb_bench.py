"""DuckDB beside SQLite: the 50,000-row synthetic batch (``tests/results``' ``batch_50k``) loaded by
``WarehouseLoader`` into each, in the same run, with DuckDB's bulk-load floor beside it.

Run in .venv-warehouses (the DuckDB provider lives there): ``.venv-warehouses/bin/python -m
pytest tests/benchmarks/test_duckdb_bench.py -m "benchmark and warehouses" -s``.
Each figure is the best of three loads into empty tables (the whole ``load()``: adapting the
rows, staging, the merge, ownership statements, the commit). The floor is DuckDB's own Arrow
path: the same rows, already columns of a typed Arrow table built beforehand, inserted with one
``INSERT … SELECT`` into the same keyed table and committed.

The second benchmark measures time and peak RSS of a streamed load (rows read from the batch's
files as the load goes) at ``APB_DUCKDB_BENCH_ROWS`` requests (default ``50000,200000``), each in
a fresh process (``_duckdb_load_rss.py``); with ``APB_DUCKDB_BENCH_BEFORE`` naming another source
tree (e.g. ``git archive main | tar -x -C /tmp/before``) that tree is measured too, alternating.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.results import ParsedFile, RunContext, WarehouseLoader, reconcile
from airflow_provider_batch.results._adapt import result_adapter
from airflow_provider_batch.warehouse.dialects._sql import to_utc
from tests.results._data import make_batch
from tests.results._warehouse import duckdb_warehouse, sqlite_warehouse

pytestmark = [pytest.mark.benchmark, pytest.mark.warehouses]

ROWS, REPEATS, META = 50_000, 3, ("row_id", "category")


def _load_seconds(wh: Any, rows: list, summary: Any, attempt: int) -> float:
    loader = WarehouseLoader(
        wh.hook, results_table=f"r{attempt}", summary_table=f"s{attempt}", metadata_columns=META
    )
    loader.ensure_tables()
    started = time.perf_counter()
    stats = loader.load(rows, [summary])
    took = time.perf_counter() - started
    assert stats.rows == ROWS
    return took


def _arrow_floor_seconds(wh: Any, rows: list, attempt: int) -> float:
    import pyarrow as pa

    loader = WarehouseLoader(
        wh.hook, results_table=f"f{attempt}", summary_table=f"fs{attempt}", metadata_columns=META
    )
    loader.ensure_tables()
    dialect = loader.dialect()
    values = list(map(result_adapter(META, dialect), rows))
    kinds = loader._result_columns
    types = {"key": pa.string(), "text": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "money": pa.float64(), "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
             "vector": pa.string()}  # fmt: skip
    table = pa.Table.from_arrays(
        [
            pa.array(col, type=types[kind])
            for col, (_, kind) in zip(zip(*values, strict=True), kinds, strict=True)
        ],
        names=[name for name, _ in kinds],
    )
    with closing(wh.hook.get_conn()) as conn:
        conn.register("floor_rows", table)
        started = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"INSERT INTO f{attempt} SELECT * REPLACE (NULL AS response_embedding) FROM floor_rows")
        conn.execute("COMMIT")
        took = time.perf_counter() - started
    return took


def test_fifty_thousand_rows_into_duckdb_beside_sqlite(tmp_path, monkeypatch) -> None:
    pytest.importorskip("airflow.providers.duckdb")
    (tmp_path / "batch").mkdir()
    batch = make_batch(tmp_path / "batch", ROWS)
    ts = to_utc(datetime(2026, 1, 1))
    rec = reconcile(
        batch.expected, ParsedFile(batch.output_path, "output"), ParsedFile(batch.error_path, "error"),
        batch_id="bench", batch_status="COMPLETED", run=RunContext("dag", "run", ts, ts),
    )  # fmt: skip
    rows, summary = list(rec.rows()), rec.summary
    (tmp_path / "s").mkdir()
    (tmp_path / "d").mkdir()
    sqlite = sqlite_warehouse(tmp_path / "s", monkeypatch)
    duck = duckdb_warehouse(tmp_path / "d", monkeypatch)
    figures = {
        "sqlite": min(_load_seconds(sqlite, rows, summary, i) for i in range(REPEATS)),
        "duckdb": min(_load_seconds(duck, rows, summary, i) for i in range(REPEATS)),
        "duckdb_arrow_floor": min(_arrow_floor_seconds(duck, rows, i) for i in range(REPEATS)),
    }
    for name, seconds in figures.items():
        print(f"{name:>20}: {seconds:6.3f} s  {ROWS / seconds:>10,.0f} rows/s")
    print(f"duckdb / sqlite: {figures['duckdb'] / figures['sqlite']:.2f}x; "
          f"duckdb / its Arrow floor: {figures['duckdb'] / figures['duckdb_arrow_floor']:.2f}x")  # fmt: skip


def _child_loads(tree: Path, rows: int, directory: Path) -> dict[str, dict[str, float]]:
    directory.mkdir()
    child = Path(__file__).with_name("_duckdb_load_rss.py")
    done = subprocess.run(
        [sys.executable, str(child), str(tree), str(rows), str(directory)],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {figure.pop("load"): figure for figure in found}


def test_streamed_load_time_and_peak_rss(tmp_path) -> None:
    pytest.importorskip("airflow.providers.duckdb")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak RSS is read from Linux's /proc/self/status")
    sizes = [int(n) for n in os.environ.get("APB_DUCKDB_BENCH_ROWS", "50000,200000").split(",")]
    trees = {"this tree": Path(__file__).resolve().parents[2]}
    if os.environ.get("APB_DUCKDB_BENCH_BEFORE"):
        trees = {"before": Path(os.environ["APB_DUCKDB_BENCH_BEFORE"]).resolve(), **trees}
    print(f"\nuptime: {os.getloadavg()}")
    for rows in sizes:
        for name, tree in trees.items():
            figures = _child_loads(tree, rows, tmp_path / f"{name.replace(' ', '_')}_{rows}")
            for load, f in figures.items():
                print(
                    f"{name:>10} {rows:>8,} {load:>6}: {f['seconds']:7.2f} s  "
                    f"peak RSS {f['peak_mb']:7.1f} MB "
                    f"(+{f['peak_mb'] - f['base_mb']:6.1f} MB over {f['base_mb']:6.1f} MB before the load)"
                )
    print(f"uptime: {os.getloadavg()}")
