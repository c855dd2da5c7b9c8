"""The shipped nightly backfill example, with its results connection pointed at each warehouse.

``together_nightly_backfill`` runs with ``dag.test()`` against the local server: two dates, then
a new run of the first date. Its settings come from the environment, as a user's would
(``APB_WAREHOUSE_CONN_ID``, ``APB_WAREHOUSE_SCHEMA``; the tickets stay in the SQLite source,
``APB_SOURCE_CONN_ID``). The tables are then read back with the warehouse's own client.
"""

from __future__ import annotations

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


@pytest.fixture(params=["duckdb", "snowflake", "bigquery"])
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


def test_nightly_backfill_example_loads_into_the_warehouse(
    examples_env: dict[str, Any],  # noqa: F811
    target: tuple[Warehouse, Reader],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    warehouse, read = target
    monkeypatch.setenv("APB_WAREHOUSE_CONN_ID", CONN_IDS[warehouse.name])
    monkeypatch.setenv("APB_SOURCE_CONN_ID", "together_warehouse")  # the seeded SQLite tickets
    monkeypatch.setenv("APB_WAREHOUSE_SCHEMA", warehouse.prefix.rstrip("."))
    # The examples' settings are read at import: read them again now, and again after the test.
    sys.modules.pop("_example_config", None)
    request.addfinalizer(lambda: sys.modules.pop("_example_config", None))
    bag = airflow_compat.dagbag(str(EXAMPLES / "together_nightly_backfill.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("together_nightly_backfill")

    server, per_day = examples_env["server"], examples_env["per_day"]
    server.reset()
    days = examples_env["days"][:2]
    logical = [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in days]
    first_runs = [dag.test(logical_date=when, run_after=when) for when in logical]
    assert [run.state for run in first_runs] == ["success", "success"]
    # A new run of the first date: the example's replace_logical_date mode replaces that day's rows.
    rerun = dag.test(logical_date=logical[0])
    assert rerun.state == "success"
    assert rerun.run_id != first_runs[0].run_id
    assert server.stats()["batch_creates"] == 3

    results, spend = warehouse.table("ticket_summaries"), warehouse.table("ticket_batch_spend")
    stats = warehouse.table("daily_ticket_stats")
    rows = read(f"SELECT custom_id, run_id, status, superseded FROM {results}")
    assert len(rows) == len({r[0] for r in rows}) == per_day * len(days)  # every row once
    owners = {r[1] for r in rows}
    assert owners == {rerun.run_id, first_runs[1].run_id}  # the replaced run owns nothing now
    assert sum(r[1] == rerun.run_id for r in rows) == per_day
    assert {r[2] for r in rows} == {"succeeded"} and not any(r[3] for r in rows)

    paid = read(f"SELECT batch_id, run_id, requests, superseded FROM {spend}")
    assert len(paid) == len({r[0] for r in paid}) == 3  # one row per paid batch, kept
    assert sorted((r[1], int(r[2]), bool(r[3])) for r in paid) == sorted(
        [
            (first_runs[0].run_id, per_day, True),  # replaced, still in the ledger
            (first_runs[1].run_id, per_day, False),
            (rerun.run_id, per_day, False),
        ]
    )

    got = read(f"SELECT day, tickets, succeeded, failed FROM {stats} ORDER BY day")
    assert [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in got] == [
        (d.isoformat(), per_day, per_day, 0) for d in days
    ]
