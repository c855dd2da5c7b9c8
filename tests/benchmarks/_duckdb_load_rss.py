"""One DuckDB load measured in its own process (run by ``test_duckdb_bench.py``).

``python _duckdb_load_rss.py TREE ROWS DIR``: imports the provider and the test data from the
source tree ``TREE`` (so an older checkout can be measured beside this one), writes the synthetic
``ROWS``-request batch into ``DIR``, then loads it twice into a DuckDB file there through
``WarehouseLoader.load()`` with the rows streamed from the files (``Reconciliation.rows()``):
first into empty tables, then again (a re-run: every key replaced). Prints one JSON line per load:
seconds, the process's resident set before the load and its peak during it (Linux ``VmHWM``,
reset before each load), in MB. ``APB_DUCKDB_BENCH_MEMORY_LIMIT`` (e.g. ``256MB``) is passed to
DuckDB as the connection's ``memory_limit``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def main(tree: str, rows: int, directory: Path) -> None:
    sys.path.insert(0, tree)
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    import airflow_provider_batch
    from airflow_provider_batch.results import ParsedFile, RunContext, WarehouseLoader, reconcile
    from airflow_provider_batch.warehouse.dialects._sql import to_utc
    from tests.results._data import make_batch

    assert airflow_provider_batch.__file__.startswith(tree), airflow_provider_batch.__file__
    (directory / "batch").mkdir()
    batch = make_batch(directory / "batch", rows)
    conn: dict = {"conn_type": "duckdb", "host": str(directory / "wh.duckdb")}
    if os.environ.get("APB_DUCKDB_BENCH_MEMORY_LIMIT"):  # DuckDBHook's extra: DuckDB's buffer pool
        conn["extra"] = json.dumps({"memory_limit": os.environ["APB_DUCKDB_BENCH_MEMORY_LIMIT"]})
    os.environ["AIRFLOW_CONN_APB_BENCH_DUCKDB"] = json.dumps(conn)
    loader = WarehouseLoader(
        DuckDBHook(duckdb_conn_id="apb_bench_duckdb"), metadata_columns=("row_id", "category")
    )
    loader.ensure_tables()
    ts = to_utc(datetime(2026, 1, 1))
    for load in ("first", "rerun"):
        rec = reconcile(
            batch.expected, ParsedFile(batch.output_path, "output"), ParsedFile(batch.error_path, "error"),
            batch_id="bench", batch_status="COMPLETED", run=RunContext("dag", "run", ts, ts),
        )  # fmt: skip
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
        base = _status_mb("VmHWM")
        started = time.perf_counter()
        stats = loader.load(rec.rows(), lambda rec=rec: [rec.summary])
        took = time.perf_counter() - started
        assert stats.rows == rows, stats
        print(json.dumps({"load": load, "seconds": took, "base_mb": base, "peak_mb": _status_mb("VmHWM")}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
