"""The results load path at 100k and 1M rows on DuckDB, Snowflake (fakesnow) and BigQuery
(bqemulator), each beside that warehouse's own bulk-load floor measured in the same run.

Run in .venv-warehouses (``bash scripts/warehouse_emulators.sh install`` first)::

    .venv-warehouses/bin/python -m pytest tests/benchmarks/test_warehouse_scale_bench.py \\
        -m "benchmark and warehouses" -s -p no:randomly

Each (warehouse, size) runs in a fresh driver process (this file, run as a script), which builds
the synthetic batch (``tests/results/_data.py``: 96 % answers, 3 % errors, 1 % missing), reconciles
it into rows (held in a list: neither the build nor the reconciliation is timed), and then:

* ``ours``: ``WarehouseLoader.load(rows, [summary])`` into empty keyed tables, the call the
  results operator makes (adapting the rows, staging, the merge, ownership statements, commit);
* ``floor_from_rows`` (DuckDB only, after ``floor``): the same adapted rows as Python tuples in
  memory, columns -> one Arrow table -> one ``INSERT … SELECT`` into a third keyed table and
  ``COMMIT`` (timed from the tuples: what the least code does with rows that arrive as Python
  objects, as the operator's do);
* ``floor``: the warehouse's own bulk load of the same rows, already in the load's own format and
  written beforehand (untimed) — DuckDB: a Parquet file, ``INSERT INTO <keyed table> SELECT … FROM
  read_parquet(…)`` in one transaction; Snowflake: the Parquet file the dialect writes, ``PUT`` to
  a named stage + ``COPY INTO`` a plain table; BigQuery: the NDJSON file the dialect writes, one load
  job into a new table.

For each phase: wall seconds, this process's CPU seconds (the emulators' own CPU is in their
process and not counted here) and the peak RSS *above the RSS before the phase* (sampled every
5 ms from ``/proc/self/statm``; the rows list is part of the baseline, not of the figure).

Sizes: ``APB_WH_SCALE_SIZES`` (default ``100000,1000000``); the emulators take at most
``APB_WH_SCALE_EMULATOR_MAX`` rows (default 1,000,000; lower it when an emulator cannot take
1M in reasonable time). ``APB_WH_SCALE_WAREHOUSES`` picks warehouses (default all three).
``APB_WH_SCALE_DUCKDB_EXTRA`` (JSON) is the DuckDB connection's extra for every phase, e.g.
``{"settings": {"preserve_insertion_order": false, "memory_limit": "512MB"}}``.
Figures are printed and written to ``tests/benchmarks/results/warehouse_scale.json``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the driver process
    sys.path.insert(0, str(ROOT))

from tests.warehouses.conftest import bqemulator_server, fakesnow_server  # noqa: E402,F401

pytestmark = [pytest.mark.benchmark, pytest.mark.warehouses, pytest.mark.timeout(4 * 3600)]

SIZES = tuple(int(s) for s in os.environ.get("APB_WH_SCALE_SIZES", "100000,1000000").split(","))
EMULATOR_MAX = int(os.environ.get("APB_WH_SCALE_EMULATOR_MAX", "1000000"))
WAREHOUSES = tuple(os.environ.get("APB_WH_SCALE_WAREHOUSES", "duckdb,snowflake,bigquery").split(","))
META = ("row_id", "category")
RESULTS_FILE = Path(__file__).parent / "results" / "warehouse_scale.json"
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the driver process ---------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class _Phase:
    """Wall, CPU and peak RSS above the starting RSS of one timed block."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        gc.collect()
        base = peak = _rss_bytes()
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.005):
                peak = max(peak, _rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            done.set()
            sampler.join()
            peak = max(peak, _rss_bytes())
            self.figures = {
                "seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "rss_before_mb": round(base / 2**20, 1),
                "peak_rss_above_mb": round((peak - base) / 2**20, 1),
            }


def _rows(work: Path, n: int) -> tuple[list, Any]:
    from airflow_provider_batch.results import ParsedFile, RunContext, reconcile
    from airflow_provider_batch.warehouse.dialects._sql import to_utc
    from tests.results._data import make_batch

    (work / "batch").mkdir()
    batch = make_batch(work / "batch", n)
    ts = to_utc(datetime(2026, 1, 1))
    rec = reconcile(
        batch.expected, ParsedFile(batch.output_path, "output"), ParsedFile(batch.error_path, "error"),
        batch_id="bench", batch_status="COMPLETED", run=RunContext("dag", "run", ts, ts),
    )  # fmt: skip
    rows = list(rec.rows())
    del batch
    return rows, rec.summary


def _hook(warehouse: str) -> Any:
    if warehouse == "duckdb":
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        if os.environ.get("APB_WH_SCALE_DUCKDB_EXTRA"):  # DuckDBHook's extra, e.g. its "settings"
            conn = json.loads(os.environ["AIRFLOW_CONN_APB_WH_DUCKDB"])
            conn["extra"] = os.environ["APB_WH_SCALE_DUCKDB_EXTRA"]
            os.environ["AIRFLOW_CONN_APB_WH_DUCKDB"] = json.dumps(conn)
        return DuckDBHook(duckdb_conn_id="apb_wh_duckdb")
    if warehouse == "snowflake":
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        from tests.results._warehouse import SNOWFLAKE_CONN_ID, fakesnow_over_http

        fakesnow_over_http()
        return SnowflakeHook(snowflake_conn_id=SNOWFLAKE_CONN_ID)
    from airflow_provider_batch.warehouse.dialects.bigquery import BigQueryHook

    return BigQueryHook("apb_wh_bigquery")


def _adapted(loader: Any, rows: list) -> list[tuple]:
    from airflow_provider_batch.results._adapt import result_adapter

    return list(map(result_adapter(META, loader.dialect()), rows))


def _arrow_table(loader: Any, values: list[tuple]) -> Any:
    """The adapted rows as one Arrow table of the results table's columns."""
    import pyarrow as pa

    types = {"key": pa.string(), "text": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "money": pa.float64(), "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
             "vector": pa.string()}  # fmt: skip
    kinds = loader._result_columns
    columns = zip(*values, strict=True)
    arrays = [pa.array(col, type=types[kind]) for col, (_, kind) in zip(columns, kinds, strict=True)]
    return pa.Table.from_arrays(arrays, names=[name for name, _ in kinds])


def _duckdb_floor(hook: Any, loader: Any, values: list[tuple], work: Path, phase: _Phase) -> int:
    import pyarrow.parquet as pq

    path = work / "floor.parquet"
    pq.write_table(_arrow_table(loader, values), path)
    table = loader.results_table.sql('"{}"')
    with contextlib.closing(hook.get_conn()) as conn:
        with phase.measure():
            conn.execute("BEGIN TRANSACTION")
            conn.execute(f"INSERT INTO {table} SELECT * REPLACE (NULL AS response_embedding) "
                         f"FROM read_parquet('{path}')")  # fmt: skip
            conn.execute("COMMIT")
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _duckdb_rows_floor(hook: Any, loader: Any, values: list[tuple], phase: _Phase) -> int:
    """The second DuckDB floor: the same adapted rows, still Python tuples in memory, by the
    least code that gets them into the same keyed table (columns -> one Arrow table -> one
    ``INSERT … SELECT`` -> ``COMMIT``); no staging, no ownership statements, no chunking."""
    table = loader.results_table.sql('"{}"')
    with contextlib.closing(hook.get_conn()) as conn:
        with phase.measure():
            rows = _arrow_table(loader, values)
            conn.execute("BEGIN TRANSACTION")
            conn.execute(f"INSERT INTO {table} SELECT * REPLACE (NULL AS response_embedding) FROM rows")
            conn.execute("COMMIT")
            del rows
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _snowflake_floor(
    hook: Any, loader: Any, values: list[tuple], work: Path, phase: _Phase, from_rows: bool = False
) -> int:
    from airflow_provider_batch.warehouse.dialects import snowflake as sf
    from airflow_provider_batch.warehouse.dialects._sql import Table

    dialect = loader.dialect()
    columns = loader._result_columns
    tag = "_rows" if from_rows else ""
    path = str(work / f"floor{tag}.parquet")
    if not from_rows:  # the file is ready before the clock starts
        sf._write_parquet(path, columns, values, loader.chunk_size)
    schema = loader.results_table.schema
    target = Table(f"{loader.results_table.name}_bulk{tag}", schema)
    stage = f"{loader.results_table.name}_stage{tag}"
    typed = [f"{dialect.quote.format(n)} {sf._STAGE_TYPES.get(k, 'VARCHAR')}" for n, k in columns]
    typed.append(f"{dialect.quote.format(sf._SEQ)} BIGINT")
    with contextlib.closing(hook.get_conn()) as conn, contextlib.closing(conn.cursor()) as cur:
        cur.execute(f"USE SCHEMA {schema}")
        cur.execute(f"CREATE TABLE {target.sql(dialect.quote)} ({', '.join(typed)})")
        cur.execute(f"CREATE STAGE {stage}")
        with phase.measure():
            if from_rows:  # the same rows in memory, written to the file inside the clock
                sf._write_parquet(path, columns, values, loader.chunk_size)
            cur.execute(f"PUT 'file://{sf._file_url(path)}' @{stage}/floor AUTO_COMPRESS = FALSE")
            cur.execute(dialect._copy_sql(target, columns, f"@{stage}/floor/"))
            conn.commit()
        cur.execute(f"SELECT count(*) FROM {target.sql(dialect.quote)}")
        return int(cur.fetchone()[0])


def _bigquery_floor(
    hook: Any, loader: Any, values: list[tuple], work: Path, phase: _Phase, from_rows: bool = False
) -> int:
    from airflow_provider_batch.warehouse.dialects import bigquery as bq
    from airflow_provider_batch.warehouse.dialects._sql import Table

    dialect = loader.dialect()
    columns = loader._result_columns
    tag = "_rows" if from_rows else ""
    path = work / f"floor{tag}.ndjson"

    def write() -> None:
        with path.open("wb") as out:
            bq._ndjson([n for n, _ in columns], values, out)

    if not from_rows:  # the file is ready before the clock starts
        write()
    schema = [(n, dialect._STAGE_TYPES[dialect.kind(n, k)], k) for n, k in columns]
    target = Table(f"{loader.results_table.name}_bulk{tag}", loader.results_table.schema)
    conn = hook.get_conn()
    try:
        with phase.measure():
            if from_rows:  # the same rows in memory, written to the file inside the clock
                write()
            with path.open("rb") as body:
                stage = conn.load_stage(target, schema, body)
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {stage}")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


#: Warehouses with a second floor that starts from the adapted rows in memory (the file written
#: inside the clock), beside the first, which starts from the file.
FROM_ROWS = ("snowflake", "bigquery")
FLOORS: dict[str, Callable[..., int]] = {
    "duckdb": _duckdb_floor, "snowflake": _snowflake_floor, "bigquery": _bigquery_floor,
}  # fmt: skip


def drive(warehouse: str, n: int, prefix: str, work: Path) -> dict[str, Any]:
    """One size on one warehouse: our load, then the floor, in this (fresh) process."""
    from airflow_provider_batch.results import WarehouseLoader

    started = time.perf_counter()
    rows, summary = _rows(work, n)
    prepared = time.perf_counter() - started
    hook = _hook(warehouse)

    def loader(name: str) -> Any:
        made = WarehouseLoader(hook, results_table=f"{prefix}res_{name}", summary_table=f"{prefix}sum_{name}",
                               metadata_columns=META)  # fmt: skip
        made.ensure_tables()
        return made

    ours, floor = _Phase(), _Phase()
    target = loader("ours")
    with ours.measure():
        stats = target.load(rows, [summary])
    assert stats.rows == n, stats
    floor_loader = loader("floor")
    values = _adapted(floor_loader, rows)
    del rows
    loaded = FLOORS[warehouse](hook, floor_loader, values, work, floor)
    assert loaded == n, (loaded, n)
    from_rows = _Phase()
    if warehouse == "duckdb":
        assert _duckdb_rows_floor(hook, loader("rows_floor"), values, from_rows) == n
    elif warehouse in FROM_ROWS:  # the second floor: from the adapted rows in memory, file included
        loaded = FLOORS[warehouse](hook, floor_loader, values, work, from_rows, from_rows=True)
        assert loaded == n, (loaded, n)
    extra: dict[str, Any] = {}
    if from_rows.figures.get("seconds"):
        extra["ours_over_floor_from_rows"] = round(ours.figures["seconds"] / from_rows.figures["seconds"], 2)
    return {
        **extra,
        "warehouse": warehouse,
        "rows": n,
        "prepare_seconds": round(prepared, 1),
        "ours": ours.figures,
        "floor": floor.figures,
        "ours_over_floor": round(ours.figures["seconds"] / floor.figures["seconds"], 2),
        "floor_from_rows": from_rows.figures,
        "direct_loads": getattr(target.dialect(), "direct_loads", None),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


# -- the test -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _warehouse(name: str, request: Any, tmp_path: Path, monkeypatch: Any) -> Iterator[str]:
    """The warehouse's connection in the environment; yields the table prefix."""
    from tests.results import _warehouse as wh

    if name == "duckdb":
        pytest.importorskip("airflow.providers.duckdb")
        yield wh.duckdb_warehouse(tmp_path, monkeypatch).prefix
    elif name == "snowflake":
        server = request.getfixturevalue("fakesnow_server")
        with wh.snowflake_warehouse(monkeypatch, server.host, server.port) as found:
            yield found.prefix
    else:
        server = request.getfixturevalue("bqemulator_server")
        with wh.bigquery_warehouse(monkeypatch, server) as found:
            yield found.prefix


def _run(warehouse: str, n: int, prefix: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"apb-whscale-{warehouse}-{n}-") as work:
        out = Path(work) / "figures.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, __file__, warehouse, str(n), prefix, work, str(out)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
        if done.returncode != 0:
            raise AssertionError(f"{warehouse} {n:,}: the driver failed:\n{done.stderr[-4000:]}")
        figures: dict[str, Any] = json.loads(out.read_text())
        return figures


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_results_load_beside_bulk_floor(warehouse, request, tmp_path, monkeypatch) -> None:
    sizes = [n for n in SIZES if warehouse == "duckdb" or n <= EMULATOR_MAX]
    figures = []
    with _warehouse(warehouse, request, tmp_path, monkeypatch) as prefix:
        for n in sizes:
            figure = _run(warehouse, n, f"{prefix}s{n}_")
            print(f"\n[{warehouse} {n:,}] {json.dumps(figure)}")
            figures.append(figure)
    if len(figures) > 1:
        small, large = figures[0], figures[-1]
        scale = large["rows"] / small["rows"]
        for phase in ("ours", "floor", "floor_from_rows"):
            if not small.get(phase) or not large.get(phase):
                continue
            linear = large[phase]["seconds"] / small[phase]["seconds"] / scale
            print(f"[{warehouse}] {phase}: time ratio / {scale:g} = {linear:.2f}")
    existing = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    existing[warehouse] = figures
    existing["_environment"] = {
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    assert all(f["rows"] for f in figures)


if __name__ == "__main__":
    name, size, table_prefix, workdir, figures_path = sys.argv[1:6]
    Path(figures_path).write_text(json.dumps(drive(name, int(size), table_prefix, Path(workdir))))
