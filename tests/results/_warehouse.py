"""Warehouse helpers shared by the results tests and the warehouse benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@dataclass
class Warehouse:
    """A hook plus the table names to use in it; ``prefix`` is ``schema.`` on PostgreSQL."""

    name: str
    hook: Any
    prefix: str

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return [tuple(r) for r in self.hook.get_records(sql, parameters=params or None)]

    def count(self, table: str) -> int:
        return self.query(f"SELECT COUNT(*) FROM {self.table(table)}")[0][0]


def sqlite_warehouse(tmp_path, monkeypatch) -> Warehouse:
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    conn = {"conn_type": "sqlite", "host": str(tmp_path / "wh.db")}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_SQLITE", json.dumps(conn))
    return Warehouse("sqlite", SqliteHook(sqlite_conn_id="apb_wh_sqlite"), "")


def duckdb_warehouse(tmp_path, monkeypatch) -> Warehouse:
    """A DuckDB file through ``DuckDBHook``; skips without the duckdb provider (fails if
    REQUIRE_SERVICES=1): it is installed in .venv-warehouses (scripts/warehouse_emulators.sh)."""
    from tests.services import require_installed

    require_installed("airflow.providers.duckdb", "apache-airflow-providers-duckdb",
                      "run `bash scripts/warehouse_emulators.sh test`")  # fmt: skip
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    conn = {"conn_type": "duckdb", "host": str(tmp_path / "wh.duckdb")}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_DUCKDB", json.dumps(conn))
    return Warehouse("duckdb", DuckDBHook(duckdb_conn_id="apb_wh_duckdb"), "")


def postgres_reachable() -> str | None:
    """``None`` if PostgreSQL answers, else the reason it does not."""
    import psycopg

    try:
        psycopg.connect(**PG_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN['host']}:{PG_DSN['port']} unreachable: {exc}"
    return None


@contextmanager
def postgres_warehouse(monkeypatch) -> Iterator[Warehouse]:
    """A fresh schema in database ``test``, dropped afterwards; fails if REQUIRE_SERVICES=1."""
    reason = postgres_reachable()
    if reason:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    schema = f"apb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**PG_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_POSTGRES", json.dumps(conn))
    try:
        yield Warehouse("postgres", PostgresHook(postgres_conn_id="apb_wh_postgres"), f"{schema}.")
    finally:
        with psycopg.connect(**PG_DSN, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


#: The test MySQL/MariaDB (root, empty password), through the MySQL provider and
#: mysql-connector-python (the driver the ``mysql`` extra installs).
MYSQL_CONN = {
    "conn_type": "mysql",
    "host": "127.0.0.1",
    "port": 3306,
    "login": "root",
    "schema": "test",
    "extra": {"client": "mysql-connector-python"},
}


def mysql_admin(sql: str) -> None:
    """Run one statement as root on the test server, outside any test database."""
    import mysql.connector

    conn = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        cur.close()
    finally:
        conn.close()


@contextmanager
def mysql_warehouse(monkeypatch) -> Iterator[Warehouse]:
    """A fresh database on the MySQL/MariaDB server, dropped afterwards; fails if REQUIRE_SERVICES=1."""
    from tests.services import require_mysql

    require_mysql()
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    database = f"apb_test_{uuid.uuid4().hex[:12]}"
    mysql_admin(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_MYSQL", json.dumps(MYSQL_CONN))
    try:
        yield Warehouse("mysql", MySqlHook(mysql_conn_id="apb_wh_mysql"), f"{database}.")
    finally:
        mysql_admin(f"DROP DATABASE IF EXISTS `{database}`")


@contextmanager
def bigquery_warehouse(monkeypatch, emulator) -> Iterator[Warehouse]:
    """A fresh dataset on bqemulator (``emulator``: tests.warehouses.conftest.Emulator), through
    the provider's own BigQuery hook on a ``google_cloud_platform`` connection."""
    from airflow_provider_batch.warehouse.dialects.bigquery import BigQueryHook

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"{emulator.host}:{emulator.port}")
    conn = {"conn_type": "google_cloud_platform", "extra": {"project": "apb-test"}}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_BIGQUERY", json.dumps(conn))
    hook = BigQueryHook("apb_wh_bigquery")
    dataset = f"apb_test_{uuid.uuid4().hex[:12]}"
    admin = hook.get_conn()
    try:
        admin.client.create_dataset(dataset)
        yield Warehouse("bigquery", hook, f"{dataset}.")
    finally:
        admin.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        admin.close()


#: The Snowflake connection of the tests: a plain ``snowflake`` connection whose extra points at
#: fakesnow's server (``host``/``port``, as for any Snowflake host); database ``apb``.
SNOWFLAKE_CONN_ID = "apb_wh_snowflake"


def fakesnow_over_http() -> None:
    """fakesnow's server speaks plain HTTP, for which the Snowflake hook has no field: add the
    connector's ``protocol`` to the parameters the hook builds (in this process and its forks;
    a spawned child calls it again)."""
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    if getattr(SnowflakeHook._get_conn_params, "apb_http", False):
        return
    built = SnowflakeHook._get_conn_params

    def over_http(self: Any) -> dict[str, Any]:
        return {**built(self), "protocol": "http", "network_timeout": 30}

    over_http.apb_http = True  # type: ignore[attr-defined]
    SnowflakeHook._get_conn_params = over_http  # type: ignore[method-assign]


@dataclass
class SnowflakeWarehouse(Warehouse):
    """Reads through one session of its own: a Snowflake login costs more than a query."""

    session: Any = None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.session is None:
            self.session = self.hook.get_conn()
        with contextlib.closing(self.session.cursor()) as cur:
            cur.execute(sql, params or None)
            return [tuple(r) for r in cur.fetchall()]


@contextmanager
def snowflake_warehouse(monkeypatch, host: str, port: int) -> Iterator[Warehouse]:
    """A fresh schema in database ``apb`` on fakesnow's server, dropped afterwards."""
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    from airflow_provider_batch.warehouse.dialects import SnowflakeDialect

    fakesnow_over_http()
    monkeypatch.setattr(SnowflakeDialect, "_copy_grants", "")  # fakesnow refuses COPY GRANTS
    conn = {
        "conn_type": "snowflake", "login": "fake", "password": "snow",
        "extra": {"account": "fakesnow", "database": "apb", "schema": "public", "host": host, "port": port},
    }  # fmt: skip
    monkeypatch.setenv(f"AIRFLOW_CONN_{SNOWFLAKE_CONN_ID.upper()}", json.dumps(conn))
    hook = SnowflakeHook(snowflake_conn_id=SNOWFLAKE_CONN_ID)
    schema = f"apb_test_{uuid.uuid4().hex[:12]}"
    with contextlib.closing(hook.get_conn()) as admin, contextlib.closing(admin.cursor()) as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS apb")
        cur.execute(f"CREATE SCHEMA apb.{schema}")
    wh = SnowflakeWarehouse("snowflake", hook, f"{schema}.")
    try:
        yield wh
    finally:
        if wh.session is not None:
            wh.session.close()
        with contextlib.closing(hook.get_conn()) as admin, contextlib.closing(admin.cursor()) as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS apb.{schema} CASCADE")
