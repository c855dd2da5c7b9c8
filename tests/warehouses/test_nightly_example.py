"""The shipped nightly backfill examples, with their results connection pointed at each warehouse.

Each vendor's example runs into one warehouse and each warehouse takes one example (:data:`CASES`):
what a warehouse does with the rows is its dialect's, what they hold is the vendor's answers, so
the diagonal covers both without the full product. Each runs with ``dag.test()`` against its
vendor's local server: two dates; a clear of the first date's run after its tickets changed (one
dropped, the others edited), which pays for a new batch; then a new run of the first date. Its
settings come from the environment, as a user's would (``APB_WAREHOUSE_CONN_ID``,
``APB_WAREHOUSE_SCHEMA``; the tickets stay in an SQLite source, ``APB_SOURCE_CONN_ID``). The tables
are then read back with the warehouse's own client. Mapped shards loading into one table are
tests/results/test_ownership.py's, on the same warehouses.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests import airflow_compat
from tests.examples.conftest import EXAMPLES, examples_env  # noqa: F401  (the fixture)
from tests.results._warehouse import (
    SNOWFLAKE_CONN_ID,
    Warehouse,
    bigquery_warehouse,
    duckdb_warehouse,
    snowflake_warehouse,
)

pytestmark = [pytest.mark.warehouses, pytest.mark.timeout(420)]

#: The Airflow connection each warehouse helper of tests.results._warehouse defines.
CONN_IDS = {"duckdb": "apb_wh_duckdb", "snowflake": SNOWFLAKE_CONN_ID, "bigquery": "apb_wh_bigquery"}

Reader = Callable[[str], list[tuple]]


def _duckdb_reader(warehouse: Warehouse, tmp_path: Path) -> Reader:
    import duckdb

    path = tmp_path / "wh.duckdb"

    def read(sql: str) -> list[tuple]:
        with closing(duckdb.connect(str(path), read_only=True)) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    return read


def _snowflake_reader(warehouse: Warehouse, tmp_path: Path) -> Reader:
    from snowflake.connector import connect

    params = warehouse.hook._get_conn_params()  # the connection's own parameters (over HTTP here)

    def read(sql: str) -> list[tuple]:
        with closing(connect(**params)) as conn, closing(conn.cursor()) as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    return read


def _bigquery_reader(emulator: Any) -> Reader:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project="apb-test",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://{emulator.host}:{emulator.port}"),
    )
    return lambda sql: [tuple(r.values()) for r in client.query_and_wait(sql)]


#: (vendor, warehouse): each vendor's example once, each warehouse once.
CASES = [("together", "duckdb"), ("openai", "snowflake"), ("anthropic", "bigquery")]
#: The prefix of each example's table names (``_nightly.nightly_backfill``'s ``table_prefix``).
TABLE_PREFIX = {"together": "", "openai": "openai_", "anthropic": "anthropic_"}


@pytest.fixture
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Warehouse, Reader]]:
    """A fresh warehouse (DuckDB file, a schema on fakesnow's server, a dataset on bqemulator)
    and a reader of it through that warehouse's client."""
    with ExitStack() as stack:
        if request.param == "duckdb":
            warehouse = duckdb_warehouse(tmp_path, monkeypatch)
            reader = _duckdb_reader(warehouse, tmp_path)
        elif request.param == "snowflake":
            server = request.getfixturevalue("fakesnow_server")
            warehouse = stack.enter_context(snowflake_warehouse(monkeypatch, server.host, server.port))
            reader = _snowflake_reader(warehouse, tmp_path)
        else:
            emulator = request.getfixturevalue("bqemulator_server")
            warehouse = stack.enter_context(bigquery_warehouse(monkeypatch, emulator))
            reader = _bigquery_reader(emulator)
        yield warehouse, reader


def _batch_server(vendor: str, env: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    """The local server of ``vendor``, reset, behind the example's connection (``<vendor>_default``,
    of the vendor's type: password = key, host = base URL)."""
    if vendor == "together":
        server = env["server"]  # AIRFLOW_CONN_TOGETHER_DEFAULT is the examples' already
        server.reset()
        return server
    server = request.getfixturevalue(f"{vendor}_server")
    connection = {"conn_type": vendor, "password": server.api_key, "host": server.base_url,
                  "extra": {"poll_interval": env["poll_interval"]}}  # fmt: skip
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT", json.dumps(connection))
    return server


def _forget_settings() -> None:
    for module in ("_example_config", "_nightly"):
        sys.modules.pop(module, None)


def _change_tickets(source: Path, day: str) -> str:
    """Drop one of ``day``'s tickets and edit the others; returns the dropped ticket's id."""
    with closing(sqlite3.connect(source)) as conn, conn:
        (dropped,) = conn.execute(
            "SELECT MIN(ticket_id) FROM support_tickets WHERE created_day = ?", (day,)
        ).fetchone()
        conn.execute("DELETE FROM support_tickets WHERE ticket_id = ?", (dropped,))
        conn.execute("UPDATE support_tickets SET body = body || ' (edited)' WHERE created_day = ?", (day,))
    return str(dropped)


@pytest.mark.parametrize(("vendor", "target"), CASES, indirect=["target"], ids=[f"{v}-{w}" for v, w in CASES])
def test_nightly_backfill_example_loads_into_the_warehouse(
    examples_env: dict[str, Any],  # noqa: F811
    vendor: str,
    target: tuple[Warehouse, Reader],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    warehouse, read = target
    server = _batch_server(vendor, examples_env, request)
    source = tmp_path / "source.db"  # a copy of the seeded tickets: this test changes them
    shutil.copyfile(examples_env["warehouse"], source)
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_SOURCE", json.dumps({"conn_type": "sqlite", "host": str(source)}))
    monkeypatch.setenv("APB_SOURCE_CONN_ID", "apb_wh_source")
    monkeypatch.setenv("APB_WAREHOUSE_CONN_ID", CONN_IDS[warehouse.name])
    monkeypatch.setenv("APB_WAREHOUSE_SCHEMA", warehouse.prefix.rstrip("."))
    # The examples' settings are read at import (by _nightly too): read them again now, and again
    # after the test.
    _forget_settings()
    request.addfinalizer(_forget_settings)
    bag = airflow_compat.dagbag(str(EXAMPLES / f"{vendor}_nightly_backfill.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag(f"{vendor}_nightly_backfill")

    per_day = examples_env["per_day"]
    days = examples_env["days"][:2]
    logical = [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in days]
    first_runs = [dag.test(logical_date=when, run_after=when) for when in logical]
    assert [run.state for run in first_runs] == ["success", "success"]
    # A clear of the first date's run (the same run id) after its input changed pays for a new batch.
    dropped = _change_tickets(source, days[0].isoformat())
    cleared = dag.test(logical_date=logical[0], run_after=logical[0])
    assert cleared.state == "success" and cleared.run_id == first_runs[0].run_id
    # A new run of the first date: the example's replace_logical_date mode replaces that day's rows.
    rerun = dag.test(logical_date=logical[0])
    assert rerun.state == "success"
    assert rerun.run_id != first_runs[0].run_id
    assert server.stats()["batch_creates"] == 4

    prefix = TABLE_PREFIX[vendor]
    results, spend = (
        warehouse.table(f"{prefix}ticket_summaries"),
        warehouse.table(f"{prefix}ticket_batch_spend"),
    )
    stats = warehouse.table(f"{prefix}daily_ticket_stats")
    rows = read(f"SELECT custom_id, run_id, status, superseded, response_text FROM {results}")
    assert len(rows) == len({r[0] for r in rows}) == 2 * per_day - 1  # every current ticket once
    assert dropped not in {r[0] for r in rows}  # the clear's changed input dropped it
    owners = {r[1] for r in rows}
    assert owners == {rerun.run_id, first_runs[1].run_id}  # the replaced run owns nothing now
    assert sum(r[1] == rerun.run_id for r in rows) == per_day - 1
    assert {r[2] for r in rows} == {"succeeded"} and not any(r[3] for r in rows)
    assert all(r[4] for r in rows)

    paid = read(f"SELECT batch_id, run_id, requests, superseded FROM {spend}")
    assert len(paid) == len({r[0] for r in paid}) == 4  # one row per paid batch, kept
    assert sorted((r[1], int(r[2]), bool(r[3])) for r in paid) == sorted(
        [
            (first_runs[0].run_id, per_day, True),  # the batch of the input before the clear
            (first_runs[0].run_id, per_day - 1, True),  # the clear's, replaced by the new run
            (first_runs[1].run_id, per_day, False),
            (rerun.run_id, per_day - 1, False),
        ]
    )

    got = read(f"SELECT day, tickets, succeeded, failed FROM {stats} ORDER BY day")
    assert [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in got] == [
        (days[0].isoformat(), per_day - 1, per_day - 1, 0),
        (days[1].isoformat(), per_day, per_day, 0),
    ]
