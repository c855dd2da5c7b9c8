"""Every privilege a load needs, checked by the submit task's preflight on real restricted
accounts (PostgreSQL, MariaDB): one error names each missing privilege, its table and the GRANT
that gives it, and running exactly those statements makes the check pass."""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from typing import Any

import pytest

from airflow_provider_batch.exceptions import TogetherBatchResultsTargetError
from tests.results._warehouse import PG_DSN, mysql_admin, mysql_warehouse, postgres_warehouse

pytestmark = pytest.mark.timeout(120)

SERVERS = pytest.mark.parametrize(
    "database",
    [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)


def _restricted_postgres(monkeypatch: pytest.MonkeyPatch, wh: Any) -> tuple[str, Any, Any]:
    """A login role with USAGE and CREATE on the schema, SELECT and INSERT on both tables."""
    import psycopg

    schema, role = wh.prefix.rstrip("."), f"apb_rw_{uuid.uuid4().hex[:8]}"

    def admin(sql: str) -> None:
        with psycopg.connect(**PG_DSN, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"CREATE ROLE {role} LOGIN")
    admin(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO {role}')
    admin(f'GRANT SELECT, INSERT ON "{schema}"."answers", "{schema}"."spend" TO {role}')
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": role, "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_RESTRICTED", json.dumps(conn))
    return role, admin, lambda: admin(f"DROP OWNED BY {role}; DROP ROLE {role}")


def _restricted_mysql(monkeypatch: pytest.MonkeyPatch, wh: Any) -> tuple[str, Any, Any]:
    """A user with CREATE, SELECT and INSERT on both tables."""
    database, user = wh.prefix.rstrip("."), f"apb_rw_{uuid.uuid4().hex[:8]}"
    mysql_admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'rw-pass-1'")
    for table in ("answers", "spend"):
        mysql_admin(f"GRANT CREATE, SELECT, INSERT ON `{database}`.`{table}` TO '{user}'@'%'")
    conn = {
        "conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": user, "password": "rw-pass-1",
        "schema": database, "extra": {"client": "mysql-connector-python"},
    }  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_RESTRICTED", json.dumps(conn))
    return user, mysql_admin, lambda: mysql_admin(f"DROP USER IF EXISTS '{user}'@'%'")


@SERVERS
def test_each_missing_privilege_is_named_with_the_grant_that_gives_it(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Existing tables a user may read and insert into, not update, delete from or alter (the
    target gained a metadata column: the load would add it). One error names every missing
    privilege and its GRANT; an administrator runs exactly those and the check passes, changing
    neither table."""
    from airflow_provider_batch.results import WarehouseLoader
    from airflow_provider_batch.warehouse.preflight import ResultsTarget, check_results_target

    warehouse, restricted = {
        "postgres": (postgres_warehouse, _restricted_postgres),
        "mysql": (mysql_warehouse, _restricted_mysql),
    }[database]
    with warehouse(monkeypatch) as wh:
        results, spend = wh.table("answers"), wh.table("spend")
        WarehouseLoader(wh.hook, results_table=results, summary_table=spend).ensure_tables()
        user, admin, drop = restricted(monkeypatch, wh)
        try:
            target = ResultsTarget("apb_wh_restricted", results, spend, metadata_columns=("segment",))
            with pytest.raises(TogetherBatchResultsTargetError) as caught:
                check_results_target(target)
            message = str(caught.value)
            assert f"connection 'apb_wh_restricted', table {results}: its user lacks privileges" in message
            for needed in (f"UPDATE on {results}", f"DELETE on {results}", f"ALTER on {results}",
                           f"UPDATE on {spend} "):  # fmt: skip
                assert needed in message
            assert f"DELETE on {spend}" not in message and f"ALTER on {spend}" not in message
            assert "rw-pass-1" not in message
            grants = message.split("Run as an administrator: ")[1].split("; or use a connection")[0]
            statements = grants.split("; ")
            assert all(user in sql for sql in statements), statements
            for sql in statements:
                admin(sql)
            check_results_target(target)
            columns = wh.query(f"SELECT * FROM {results} WHERE 1 = 0")  # no row, and no new column:
            assert columns == []
            with closing(wh.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
                cur.execute(f"SELECT * FROM {results} WHERE 1 = 0")
                cur.fetchall()
                assert "segment" not in [d[0].lower() for d in cur.description]
        finally:
            drop()


@SERVERS
def test_tables_an_administrator_created_load_without_create(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who may read and write the existing tables but create nothing (no CREATE on the
    schema or the tables) passes the check and loads: the loader does not create them again."""
    from airflow_provider_batch.results import WarehouseLoader
    from airflow_provider_batch.warehouse.dialects import warehouse_hook
    from airflow_provider_batch.warehouse.preflight import ResultsTarget, check_results_target
    from tests.results.test_ownership import rec, ti

    warehouse = {"postgres": postgres_warehouse, "mysql": mysql_warehouse}[database]
    with warehouse(monkeypatch) as wh:
        results, spend = wh.table("answers"), wh.table("spend")
        WarehouseLoader(wh.hook, results_table=results, summary_table=spend).ensure_tables()
        _user, _admin, drop = _writer_without_create(database, monkeypatch, wh)
        try:
            check_results_target(ResultsTarget("apb_wh_restricted", results, spend))
            from airflow.sdk import BaseHook

            hook = warehouse_hook(BaseHook.get_connection("apb_wh_restricted"))
            loader = WarehouseLoader(hook, results_table=results, summary_table=spend)
            run = ti()
            loaded = rec("b1", [f"c{i}" for i in range(5)], run)
            loader.ensure_tables()
            loader.load(loaded.rows(), [loaded.summary], run=run)
            assert wh.query(f"SELECT COUNT(*) FROM {results}") == [(5,)]
        finally:
            drop()


def _writer_without_create(database: str, monkeypatch: pytest.MonkeyPatch, wh: Any) -> tuple[str, Any, Any]:
    user, admin, drop = {"postgres": _restricted_postgres, "mysql": _restricted_mysql}[database](
        monkeypatch, wh
    )
    schema = wh.prefix.rstrip(".")
    if database == "postgres":
        admin(f'REVOKE CREATE ON SCHEMA "{schema}" FROM {user}')
        admin(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{schema}"."answers", "{schema}"."spend" TO {user}')
        admin(f"GRANT TEMP ON DATABASE test TO {user}")
    else:
        for table in ("answers", "spend"):
            admin(f"REVOKE CREATE ON `{schema}`.`{table}` FROM '{user}'@'%'")
            admin(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{schema}`.`{table}` TO '{user}'@'%'")
    return user, admin, drop
