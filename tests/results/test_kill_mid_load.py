"""SIGKILL in the middle of a load: nothing of it is visible afterwards, and a re-run loads it all once.

The load runs in a child process (``_kill_child.py``) that kills itself right after the k-th
statement writing result rows has returned: those rows are on the server, inside the open
transaction (the child counts them there before dying). Then, from the outside, the table must
hold the earlier batch unchanged and no row of the killed one, and loading again must give all N
rows exactly once. On PostgreSQL a new batch is one ``COPY``: the kill follows it, before the
summary and the commit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.results._kill_child import BATCH_ID, rows_for
from tests.results.test_warehouse import loader_for, small_rec

REPO = Path(__file__).resolve().parents[2]
N, CHUNK = 5_000, 1_000
#: write statement after which the child dies: the 2nd of 5 chunks, PostgreSQL's single COPY, or
#: SQLite's single merge of its staged rows, Snowflake's one MERGE, DuckDB's one streaming INSERT
#: (straight into the table)
KILL_AFTER = {"sqlite": 1, "postgres": 1, "mysql": 2, "duckdb": 1, "snowflake": 1}
CONN_IDS = {"sqlite": "apb_wh_sqlite", "postgres": "apb_wh_postgres", "mysql": "apb_wh_mysql",
            "duckdb": "apb_wh_duckdb", "snowflake": "apb_wh_snowflake"}  # fmt: skip

pytestmark = pytest.mark.timeout(240)


def run_killed_load(wh, dialect: str | None, marker: Path) -> dict:
    kill_after = 2 if dialect == "generic" else KILL_AFTER[wh.name]
    spec = {
        "conn_id": CONN_IDS[wh.name],
        "results_table": wh.table("results"),
        "summary_table": wh.table("summary"),
        "dialect": dialect,
        "rows": N,
        "chunk_size": CHUNK,
        "kill_after": kill_after,
        "marker": str(marker),
        "over_http": wh.name == "snowflake",
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.results._kill_child", json.dumps(spec)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    return json.loads(marker.read_text())


def test_sigkill_mid_load_leaves_no_partial_rows_and_a_rerun_loads_all_once(warehouse, tmp_path):
    check_kill_and_rerun(warehouse, None, tmp_path)


@pytest.mark.mysql
def test_sigkill_mid_load_on_the_generic_dialect_too(mysql_database, tmp_path):
    """The delete-and-insert fallback of other DB-API databases, on a transactional one."""
    check_kill_and_rerun(mysql_database, "generic", tmp_path)


def check_kill_and_rerun(warehouse, dialect: str | None, tmp_path: Path) -> None:
    loader = loader_for(warehouse, dialect=dialect, chunk_size=CHUNK)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("earlier", ["e1", "e2", "e3"]))
    results = warehouse.table("results")

    died = run_killed_load(warehouse, dialect, tmp_path / "killed.json")
    assert died["visible_in_transaction"] >= CHUNK  # rows really were written before the kill

    count = f"SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM {results} WHERE batch_id = %s"
    count = count.replace("%s", "?") if warehouse.name in ("sqlite", "duckdb") else count
    assert warehouse.query(count, (BATCH_ID,)) == [(0, 0)]
    assert warehouse.count("results") == 3
    assert warehouse.query(f"SELECT batch_id FROM {warehouse.table('summary')}") == [("earlier",)]

    stats = loader.load_reconciliation(rows_for(N))
    assert stats.rows == N
    assert warehouse.query(count, (BATCH_ID,)) == [(N, N)]
    assert warehouse.count("results") == N + 3
    assert warehouse.count("summary") == 2
