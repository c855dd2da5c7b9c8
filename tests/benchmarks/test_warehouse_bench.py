"""Warehouse load throughput: WarehouseLoader against DbApiHook.insert_rows and the raw drivers.

Run with ``make bench`` (or ``pytest tests/benchmarks -m benchmark -s``). Figures are printed and
written to ``tests/benchmarks/results/warehouse.json``.

``test_loader_versus_insert_rows`` loads one batch of ``APB_BENCH_ROWS`` rows (100,000). Targets:
SQLite >= 100,000 rows/s, PostgreSQL >= 50,000 rows/s for the loader (best of three loads into
empty tables). Also recorded: a re-run over the full table (every row updated), a load of a batch
that already has a row (on PostgreSQL that forces COPY into staging + one INSERT … SELECT … ON
CONFLICT), ``insert_rows`` with its defaults and, on SQLite, ``insert_rows(executemany=True)`` (on
PostgreSQL the hook always takes its executemany path, so that row would repeat the defaults).

``test_nightly_load`` loads what a nightly job loads: ``APB_BENCH_BATCHES`` batches (20) of
``APB_BENCH_BATCH_ROWS`` rows (50,000) each, in one ``load()`` as the results operator does,
against the floors of the same database in one transaction into the same keyed table: the raw
driver's ``executemany`` (SQLite and PostgreSQL) and psycopg's ``COPY … (FORMAT BINARY)``
(PostgreSQL). The floors time only the driver calls and the commit, with the tuples built
beforehand.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.results import ParsedFile, RunContext, WarehouseLoader, reconcile
from airflow_provider_batch.warehouse.dialects._sql import to_utc
from tests.results._data import make_batch
from tests.results._warehouse import PG_DSN, postgres_warehouse, sqlite_warehouse

pytestmark = pytest.mark.benchmark

ROWS = int(os.environ.get("APB_BENCH_ROWS", "100000"))
BATCHES = int(os.environ.get("APB_BENCH_BATCHES", "20"))
BATCH_ROWS = int(os.environ.get("APB_BENCH_BATCH_ROWS", "50000"))
REPEATS = 3
TARGETS = {"sqlite": 100_000, "postgres": 50_000}
META = ("row_id", "category")
RESULTS_FILE = Path(__file__).parent / "results" / "warehouse.json"
_figures: dict[str, dict] = {}


def _reconciled(directory: Path, n: int) -> tuple[list, Any]:
    batch = make_batch(directory, n)
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


@pytest.fixture(scope="module")
def rows_and_summary(tmp_path_factory):
    return _reconciled(tmp_path_factory.mktemp("bench"), ROWS)


@pytest.fixture(scope="module")
def batch_rows_and_summary(tmp_path_factory):
    return _reconciled(tmp_path_factory.mktemp("nightly"), BATCH_ROWS)


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

    values = [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in r.values(META)) for r in rows]
    insert_secs = None
    if wh.name == "sqlite":  # PostgresHook always takes the executemany path: same as the defaults
        baseline = _loader(wh, "baseline")
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
        "insert_rows_default_rows_per_s": round(n / default_secs),
        "insert_rows_default_seconds": round(default_secs, 3),
        "speedup_vs_insert_rows_default": round(default_secs / min(loader_secs), 2),
        "target_rows_per_s": TARGETS[wh.name],
    }
    if insert_secs is not None:
        figures["insert_rows_executemany_rows_per_s"] = round(n / insert_secs)
        figures["insert_rows_seconds"] = round(insert_secs, 3)
        figures["speedup_vs_insert_rows"] = round(insert_secs / min(loader_secs), 2)
    _figures[wh.name] = figures
    print(f"\n[{wh.name}] {json.dumps(figures)}")
    _write_results()
    assert figures["loader_rows_per_s"] >= TARGETS[wh.name], figures


def _renamed(item: Any, **fields: Any) -> Any:
    """A copy of a row or summary with ``fields`` changed (NamedTuple, dataclass or pydantic)."""
    if hasattr(item, "_replace"):
        return item._replace(**fields)
    if hasattr(item, "model_copy"):
        return item.model_copy(update=fields)
    return dataclasses.replace(item, **fields)


def _as_text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _batch_id(i: int) -> str:
    return f"nightly-{i:02d}"


def _nightly_rows(rows: list) -> Iterator[Any]:
    """``BATCHES`` batches of ``rows``, each with its own batch id and custom ids, as they are met."""
    for i in range(BATCHES):
        bid = _batch_id(i)
        for row in rows:
            yield _renamed(row, batch_id=bid, answered_by_batch_id=bid, custom_id=f"{bid}-{row.custom_id}")


def _batch_values(base: list[tuple], columns: tuple[str, ...], i: int) -> list[tuple]:
    """The value tuples of batch ``i``: ``base`` with that batch's ids (built outside the timings)."""
    bid = _batch_id(i)
    where = {columns.index("batch_id"): bid, columns.index("answered_by_batch_id"): bid}
    cid = columns.index("custom_id")
    out = []
    for values in base:
        row = list(values)
        for pos, value in where.items():
            row[pos] = value
        row[cid] = f"{bid}-{values[cid]}"
        out.append(tuple(row))
    return out


def _raw_load(wh, columns: tuple[str, ...], base: list[tuple], table: str, how: str) -> tuple[float, float]:
    """Wall and CPU seconds of the driver calls and the commit loading ``BATCHES`` batches in one
    transaction: ``how`` is ``executemany`` or ``copy`` (PostgreSQL, binary)."""
    import psycopg

    conn = wh.hook.get_conn() if wh.name == "sqlite" else psycopg.connect(**PG_DSN)
    wall = cpu = 0.0
    with closing(conn):
        cur = conn.cursor()
        mark = "?" if wh.name == "sqlite" else "%s"
        names = ", ".join(columns)
        insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join([mark] * len(columns))})"
        types = _pg_types(cur, table, columns) if how == "copy" else []
        for i in range(BATCHES):
            batch = _batch_values(base, columns, i)
            started, cpu_started = time.perf_counter(), time.process_time()
            if how == "copy":
                with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for row in batch:
                        copy.write_row(row)
            else:
                cur.executemany(insert, batch)
            wall += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()
        conn.commit()
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
    return wall, cpu


def _pg_types(cur, table: str, columns: tuple[str, ...]) -> list[str]:
    cur.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    found = dict(cur.fetchall())
    return [found[c] for c in columns]


def test_nightly_load(bench_warehouse, batch_rows_and_summary):
    """``BATCHES`` x ``BATCH_ROWS`` rows: the loader against raw executemany and raw binary COPY."""
    wh = bench_warehouse
    rows, summary = batch_rows_and_summary
    total = BATCHES * len(rows)
    summaries = [_renamed(summary, batch_id=_batch_id(i)) for i in range(BATCHES)]

    loader = _loader(wh, "nightly")
    cpu: list[float] = []
    loader_secs = _timed(lambda: loader.load(_nightly_rows(rows), summaries), cpu)
    assert wh.count("res_nightly") == total

    convert = wh.name == "sqlite"  # sqlite3 takes timestamps as text; psycopg as datetime
    base = [
        tuple(v.isoformat() if convert and hasattr(v, "isoformat") else v for v in r.values(META))
        for r in rows
    ]
    floors: dict[str, tuple[float, float]] = {}
    for how in ("executemany", "copy") if wh.name == "postgres" else ("executemany",):
        floor_loader = _loader(wh, f"raw_{how}")
        floors[how] = _raw_load(wh, floor_loader.result_columns, base, wh.table(f"res_raw_{how}"), how)
        assert wh.count(f"res_raw_{how}") == total

    figures: dict[str, Any] = {
        "batches": BATCHES,
        "rows_per_batch": len(rows),
        "rows": total,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "loader_seconds": round(loader_secs, 3),
        "loader_client_cpu_seconds": round(cpu[0], 3),
        "loader_rows_per_s": round(total / loader_secs),
    }
    for how, (secs, floor_cpu) in floors.items():
        figures[f"raw_{how}_seconds"] = round(secs, 3)
        figures[f"raw_{how}_client_cpu_seconds"] = round(floor_cpu, 3)
        figures[f"raw_{how}_rows_per_s"] = round(total / secs)
        figures[f"loader_vs_raw_{how}"] = round(loader_secs / secs, 2)
    _figures[f"{wh.name}_nightly"] = figures
    print(f"\n[{wh.name} nightly] {json.dumps(figures)}")
    _write_results()


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
