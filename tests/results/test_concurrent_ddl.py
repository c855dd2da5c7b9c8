"""Concurrent first loads: mapped results tasks create (and migrate) the same tables at once.

Each test starts many loaders on their own connections behind a barrier, so their
``CREATE TABLE IF NOT EXISTS`` / ``ALTER TABLE … ADD COLUMN`` statements really overlap. Without
serialisation PostgreSQL fails most of them (``UniqueViolation`` on ``pg_type``, duplicate
column), and MySQL/MariaDB fails the duplicate ``ADD COLUMN``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from airflow_provider_batch.results import WarehouseLoader
from tests.results._load_child import load_slowly
from tests.results._warehouse import sqlite_warehouse
from tests.results.test_warehouse import create_first_release_table, loader_for, small_rec

CONCURRENT = 60


def run_at_once(calls: list[Callable[[], object]]) -> list[BaseException]:
    """Run every call on its own thread, released together; return the exceptions raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
    return [exc for f in futures if (exc := f.exception()) is not None]


def describe(failures: list[BaseException], total: int = CONCURRENT) -> str:
    kinds: dict[str, int] = {}
    for exc in failures:
        kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
    return f"{len(failures)} of {total} failed: {kinds}; first: {failures[0]!r}" if failures else "none"


def columns_of(wh, table: str) -> list[str]:
    with closing(wh.hook.get_conn()) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {wh.table(table)} WHERE 1 = 0")
        cur.fetchall()
        names = [str(d[0]).lower() for d in cur.description]
        cur.close()
    return names


def test_concurrent_ensure_tables_on_a_new_table_all_succeed(warehouse):
    loaders = [loader_for(warehouse) for _ in range(CONCURRENT)]
    failures = run_at_once([loader.ensure_tables for loader in loaders])
    assert not failures, describe(failures)
    loaders[0].load_reconciliation(small_rec("b1", ["a", "b"]))
    assert warehouse.count("results") == 2


def test_concurrent_ensure_tables_add_a_missing_column_once(warehouse):
    """Existing tables of an older release: every loader finds the newer columns missing, and
    ``ADD COLUMN`` is the only DDL they race on."""
    create_first_release_table(warehouse, loader_for(warehouse).create_table_statements()[1])
    loaders = [loader_for(warehouse) for _ in range(CONCURRENT)]
    failures = run_at_once([loader.ensure_tables for loader in loaders])
    assert not failures, describe(failures)
    names = columns_of(warehouse, "results")
    assert names.count("answered_by_batch_id") == 1 and names.count("attempts") == 1


def test_concurrent_first_loads_of_different_batches_all_land(warehouse):
    """Mapped results tasks: each ensures the tables and loads its own batch, all at once."""
    n_tasks, per_task = 8, 300

    def task(i: int) -> Callable[[], object]:
        def run() -> object:
            loader: WarehouseLoader = loader_for(warehouse, chunk_size=100)
            loader.ensure_tables()
            return loader.load_reconciliation(small_rec(f"map-{i}", [f"r{j}" for j in range(per_task)]))

        return run

    failures = run_at_once([task(i) for i in range(n_tasks)])
    assert not failures, describe(failures, n_tasks)
    assert warehouse.count("results") == n_tasks * per_task
    assert warehouse.count("summary") == n_tasks


def test_concurrent_mapped_loads_into_one_sqlite_file_all_land(tmp_path, monkeypatch):
    """Six mapped results tasks (processes) load into one SQLite file at once, each reading its
    stream slowly. Each used to hold the write lock while reading and gave up after sqlite3's
    5 s: half of them failed with ``database is locked``."""
    wh = sqlite_warehouse(tmp_path, monkeypatch)
    n_tasks, rows, seconds = 6, 3_000, 2.0
    fork = multiprocessing.get_context("fork")
    go, report = fork.Event(), fork.Queue()
    children = []
    for i in range(n_tasks):
        spec = {"conn_id": "apb_wh_sqlite", "results_table": "results", "summary_table": "summary",
                "batch_id": f"map-{i}", "rows": rows, "seconds": seconds}  # fmt: skip
        children.append(fork.Process(target=load_slowly, args=(spec, go, report)))
        children[-1].start()
    go.set()
    outcomes = [report.get(timeout=240) for _ in children]
    for child in children:
        child.join(timeout=60)
    failed = [outcome for outcome in outcomes if outcome[1] is None]
    assert not failed, f"{len(failed)} of {n_tasks} loads failed: {failed}"
    assert sorted(outcome[1] for outcome in outcomes) == [rows] * n_tasks
    assert wh.count("results") == n_tasks * rows
    assert wh.count("summary") == n_tasks
