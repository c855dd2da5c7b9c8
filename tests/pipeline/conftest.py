"""Fixtures of the pipeline tests: the metadata DB, and per-test source and warehouse databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import require_mysql, require_postgres

from apb_pipeline_helpers import MYSQL, PG, mysql_query, pg_query, set_conn, together_conn


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the SQLite metadata DB of the test AIRFLOW_HOME once per session."""
    from airflow.utils import db

    db.initdb()


@dataclass
class Pipeline:
    """Where one test's pipeline reads, works and writes."""

    server: Any
    source: Path
    warehouse: Path
    work_dir: Path


@pytest.fixture
def pipeline(
    airflow_db: None, vendor_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Pipeline:
    """Connections to the local server (fast polling), a source and a warehouse SQLite file.

    The connection ``together_default`` has the vendor's own type (``together`` or ``openai``): the
    DAGs do not change with the vendor. The source table is created by the test (``seed_source``)
    so each chooses its size.
    """
    source, warehouse, work = tmp_path / "source.db", tmp_path / "warehouse.db", tmp_path / "work"
    work.mkdir()
    together_conn(monkeypatch, vendor_server, poll_interval=0.05)
    set_conn(monkeypatch, "apb_pipeline_source", conn_type="sqlite", host=str(source))
    set_conn(monkeypatch, "apb_pipeline_wh", conn_type="sqlite", host=str(warehouse))
    return Pipeline(vendor_server, source, warehouse, work)


@pytest.fixture
def pg_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A unique PostgreSQL results table name (and its ``_summary`` twin), dropped afterwards;
    the DAG module must be loaded fresh to pick it up."""
    require_postgres()
    import psycopg

    table = f"apb_pipeline_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("APB_PIPELINE_PG_TABLE", table)
    set_conn(
        monkeypatch,
        "apb_pipeline_pg",
        conn_type="postgres",
        host=PG["host"],
        port=PG["port"],
        login=PG["user"],
        schema=PG["dbname"],
    )
    try:
        yield table
    finally:
        with psycopg.connect(**PG, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{table}", "{table}_summary"')


@pytest.fixture
def mysql_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A unique MySQL/MariaDB results table name (and its ``_summary`` twin) in database ``test``,
    dropped afterwards; the DAG module must be loaded fresh to pick it up."""
    require_mysql()
    table = f"apb_pipeline_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("APB_PIPELINE_MYSQL_TABLE", table)
    set_conn(
        monkeypatch,
        "apb_pipeline_mysql",
        conn_type="mysql",
        host=MYSQL["host"],
        port=MYSQL["port"],
        login=MYSQL["user"],
        schema=MYSQL["database"],
        extra={"client": "mysql-connector-python"},
    )
    try:
        yield table
    finally:
        mysql_query(f"DROP TABLE IF EXISTS `{table}`, `{table}_summary`")


@dataclass
class ServerTable:
    """A results table on one database server, and how the test reads it."""

    dag_id: str  # of the test DAG writing into it (``apb_pipeline_postgres``, ``..._mysql``)
    table: str
    query: Callable[..., list[tuple]]
    quote: str

    def quoted(self, name: str) -> str:
        return self.quote.format(name)


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def server_table(request: pytest.FixtureRequest) -> ServerTable:
    """The same test on PostgreSQL (``pg_table``) and on MariaDB (``mysql_table``)."""
    if request.param == "postgres":
        return ServerTable("apb_pipeline_postgres", request.getfixturevalue("pg_table"), pg_query, '"{}"')
    return ServerTable("apb_pipeline_mysql", request.getfixturevalue("mysql_table"), mysql_query, "`{}`")
