"""Warehouse fixtures: one hook per database (file SQLite, the real PostgreSQL and MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.results._data import SyntheticBatch, make_batch
from tests.results._warehouse import (
    Warehouse,
    bigquery_warehouse,
    duckdb_warehouse,
    mysql_warehouse,
    postgres_warehouse,
    snowflake_warehouse,
    sqlite_warehouse,
)
from tests.warehouses.conftest import (
    bqemulator_server,  # noqa: F401 - the emulator, once per session
    fakesnow_server,  # noqa: F401 (a fixture)
)


@pytest.fixture(scope="session")
def batch_50k(tmp_path_factory) -> SyntheticBatch:
    """50,000 expected requests: 96 % output lines, 3 % error lines, 1 % in neither file."""
    return make_batch(tmp_path_factory.mktemp("batch50k"), 50_000)


@pytest.fixture
def postgres_schema(monkeypatch) -> Iterator[Warehouse]:
    """A hook on a fresh PostgreSQL schema, dropped afterwards."""
    with postgres_warehouse(monkeypatch) as wh:
        yield wh


@pytest.fixture
def mysql_database(monkeypatch) -> Iterator[Warehouse]:
    """A hook on a fresh MySQL/MariaDB database, dropped afterwards."""
    with mysql_warehouse(monkeypatch) as wh:
        yield wh


@pytest.fixture
def bigquery_dataset(monkeypatch, bqemulator_server) -> Iterator[Warehouse]:  # noqa: F811
    """A hook on a fresh dataset of bqemulator, dropped afterwards."""
    with bigquery_warehouse(monkeypatch, bqemulator_server) as wh:
        yield wh


WAREHOUSES = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
    pytest.param("bigquery", marks=pytest.mark.warehouses),
    pytest.param("duckdb", marks=pytest.mark.warehouses),
    pytest.param("snowflake", marks=pytest.mark.warehouses),
]


@pytest.fixture
def snowflake_schema(monkeypatch, fakesnow_server) -> Iterator[Warehouse]:  # noqa: F811
    """A hook on a fresh schema of fakesnow's server (Snowflake), dropped afterwards."""
    with snowflake_warehouse(monkeypatch, fakesnow_server.host, fakesnow_server.port) as wh:
        yield wh


@pytest.fixture(params=WAREHOUSES[1:3])
def server_warehouse(request) -> Warehouse:
    """The same test on the real PostgreSQL and the real MariaDB (database servers only)."""
    return request.getfixturevalue({"postgres": "postgres_schema", "mysql": "mysql_database"}[request.param])


@pytest.fixture(params=WAREHOUSES)
def warehouse(request, tmp_path, monkeypatch) -> Warehouse:
    """The same test on a file SQLite database, the real PostgreSQL and MariaDB, and BigQuery
    (bqemulator; only in the warehouses leg, ``scripts/warehouse_emulators.sh test``). The cases
    that do not apply to a warehouse are listed, with why, in tests/warehouses/not_applicable.py
    (skipped at collection by the root conftest)."""
    if request.param == "sqlite":
        return sqlite_warehouse(tmp_path, monkeypatch)
    if request.param == "duckdb":
        return duckdb_warehouse(tmp_path, monkeypatch)
    if request.param == "bigquery":
        return request.getfixturevalue("bigquery_dataset")
    if request.param == "postgres":
        return request.getfixturevalue("postgres_schema")
    if request.param == "snowflake":
        return request.getfixturevalue("snowflake_schema")
    return request.getfixturevalue("mysql_database")
