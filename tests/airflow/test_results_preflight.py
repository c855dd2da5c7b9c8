"""The submit task checks the results target before any upload: an unknown hook type, a user who may
not create or write the tables, on SQLite, PostgreSQL and MariaDB. Each refusal asserts the local
server saw no upload and no create; each pass asserts the probe left no row (and, where DDL is
transactional, no table)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_batch.exceptions import TogetherBatchResultsTargetError
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator
from tests.results._warehouse import PG_DSN, mysql_admin, mysql_warehouse, postgres_warehouse
from tests.services import require_installed

from apb_airflow_helpers import MODEL, context

pytestmark = [pytest.mark.usefixtures("vendor_conn"), pytest.mark.timeout(60)]


def _input(tmp_path: Path) -> str:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say 1"}], "max_tokens": 8}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"custom_id": "r1", "body": body}) + "\n", encoding="utf-8")
    return str(path)


def _nothing_sent(server: Any) -> bool:
    """No upload and no create reached the vendor (a vendor with inline requests uploads nothing)."""
    stats = server.stats()
    return stats["uploads"] == 0 and stats["batch_creates"] == 0


def _pipeline(tmp_path: Path, **results: Any) -> TogetherBatchOperator:
    """submit >> results, as the README's pipeline wires them."""
    with DAG(f"preflight_{uuid.uuid4().hex[:8]}", schedule=None):
        submit = TogetherBatchOperator(
            task_id="submit", input_path=_input(tmp_path), wait_for_completion=False
        )
        submit >> TogetherBatchResultsOperator(task_id="results", submit_task_id="submit", **results)
    return submit


def test_an_unknown_hook_type_fails_the_submit_task_before_upload(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "vertica", "password": "s3cr3t-key"}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_VT", json.dumps(conn))
    submit = _pipeline(tmp_path, warehouse_conn_id="apb_wh_vt", results_table="ds.answers")
    with pytest.raises(TogetherBatchResultsTargetError) as caught:
        submit.execute(context())
    message = str(caught.value)
    assert "connection 'apb_wh_vt', table ds.answers" in message
    assert "hook type is not installed" in message and "vertica" in message
    assert "Install the Airflow provider" in message and "nothing was submitted" in message
    assert "s3cr3t-key" not in message
    assert _nothing_sent(vendor_server)


def test_a_bigquery_target_without_its_client_fails_before_upload(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "google_cloud_platform", "extra": {"project": "p", "keyfile_dict": "s3cr3t-key"}}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_BQ", json.dumps(conn))
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)  # the driver is not installed
    submit = _pipeline(tmp_path, warehouse_conn_id="apb_wh_bq", results_table="ds.answers")
    with pytest.raises(TogetherBatchResultsTargetError) as caught:
        submit.execute(context())
    message = str(caught.value)
    assert "connection 'apb_wh_bq', table ds.answers" in message
    assert "database driver is not installed" in message
    assert "pip install 'google-cloud-bigquery" in message and "nothing was submitted" in message
    assert "s3cr3t-key" not in message
    assert _nothing_sent(vendor_server)


def test_a_writable_sqlite_target_passes_and_keeps_no_table(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "wh.db"
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    _pipeline(tmp_path, warehouse_conn_id="apb_wh_sqlite").execute(context())
    assert vendor_server.stats()["batch_creates"] == 1
    with sqlite3.connect(db) as conn:  # the probe's CREATE was rolled back
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_a_duckdb_target_without_its_driver_fails_the_submit_task_before_upload(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default environment has neither the DuckDB provider nor its driver (they live in
    .venv-warehouses): the submit task stops before any upload, naming the connection type."""
    if importlib.util.find_spec("airflow.providers.duckdb") is not None:
        pytest.skip("the DuckDB provider is installed here (its writable target is tested instead)")
    conn = {"conn_type": "duckdb", "host": str(tmp_path / "wh.duckdb")}
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_DUCKDB", json.dumps(conn))
    submit = _pipeline(tmp_path, warehouse_conn_id="apb_wh_duckdb")
    with pytest.raises(TogetherBatchResultsTargetError) as caught:
        submit.execute(context())
    message = str(caught.value)
    assert "connection 'apb_wh_duckdb'" in message and "'duckdb'" in message
    assert "hook type is not installed" in message or "driver is not installed" in message
    assert _nothing_sent(vendor_server)
    assert not (tmp_path / "wh.duckdb").exists()


@pytest.mark.warehouses
def test_a_writable_duckdb_target_passes_and_keeps_no_table(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe runs in the dialect's explicit transaction: its CREATE is rolled back."""
    require_installed("airflow.providers.duckdb", "apache-airflow-providers-duckdb", "see .venv-warehouses")
    import duckdb

    db = tmp_path / "wh.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_DUCKDB", json.dumps({"conn_type": "duckdb", "host": str(db)}))
    _pipeline(tmp_path, warehouse_conn_id="apb_wh_duckdb").execute(context())
    assert vendor_server.stats()["batch_creates"] == 1
    with duckdb.connect(str(db)) as conn:
        assert conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


def test_preflight_results_false_skips_the_check(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_APB_WH_BQ", json.dumps({"conn_type": "google_cloud_platform"}))
    submit = _pipeline(tmp_path, warehouse_conn_id="apb_wh_bq")
    submit.preflight_results = False
    submit.execute(context())
    assert vendor_server.stats()["batch_creates"] == 1


@pytest.mark.postgres
def test_a_postgres_role_without_create_fails_before_upload(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    with postgres_warehouse(monkeypatch) as wh:
        schema = wh.prefix.rstrip(".")
        role = f"apb_ro_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(**PG_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        try:
            conn = {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": role,
                "schema": "test",
            }
            monkeypatch.setenv("AIRFLOW_CONN_APB_WH_PG_RO", json.dumps(conn))
            submit = _pipeline(tmp_path, warehouse_conn_id="apb_wh_pg_ro", results_table=f"{schema}.answers")
            with pytest.raises(TogetherBatchResultsTargetError) as caught:
                submit.execute(context())
            message = str(caught.value)
            assert f"connection 'apb_wh_pg_ro', table {schema}.answers: its user lacks privileges" in message
            why = "(creating the table, which does not exist yet; "
            why += f"PostgreSQL grants it on the schema {schema})"
            assert f"CREATE on {schema}.answers {why}" in message
            assert f'GRANT CREATE ON SCHEMA "{schema}" TO "{role}"' in message
            assert _nothing_sent(vendor_server)

            # The named GRANTs (this schema's, and public's for the default spend table) are the
            # remedy: the role's check passes; PostgreSQL rolls the CREATE back.
            grants = message.split("Run as an administrator: ")[1].split("; or use a connection")[0]
            expected = [f'GRANT CREATE ON SCHEMA "{name}" TO "{role}"' for name in (schema, "public")]
            assert grants.split("; ") == expected
            with psycopg.connect(**PG_DSN, autocommit=True) as admin:
                for grant in expected:
                    admin.execute(grant)
            ok = _pipeline(tmp_path, warehouse_conn_id="apb_wh_pg_ro", results_table=f"{schema}.answers")
            ok.execute(context())
            assert vendor_server.stats()["batch_creates"] == 1
            tables = wh.query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,))
            assert tables == [(0,)]
        finally:
            with psycopg.connect(**PG_DSN, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


@pytest.mark.mysql
def test_a_read_only_mariadb_user_fails_before_upload(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mysql_warehouse(monkeypatch) as wh:
        database = wh.prefix.rstrip(".")
        results, summary = f"{database}.answers", f"{database}.spend"
        # The root user's check creates the empty tables (MariaDB's DDL commits), with no row.
        TogetherBatchOperator(
            task_id="submit_root", input_path=_input(tmp_path), wait_for_completion=False,
            results_conn_id="apb_wh_mysql", results_table=results, summary_table=summary,
        ).execute(context())  # fmt: skip
        assert vendor_server.stats()["batch_creates"] == 1
        assert (wh.count("answers"), wh.count("spend")) == (0, 0)

        user = f"apb_ro_{uuid.uuid4().hex[:8]}"
        mysql_admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'ro-pass-1'")
        try:
            mysql_admin(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
            conn = {
                "conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": user,
                "password": "ro-pass-1", "schema": database, "extra": {"client": "mysql-connector-python"},
            }  # fmt: skip
            monkeypatch.setenv("AIRFLOW_CONN_APB_WH_MYSQL_RO", json.dumps(conn))
            submit = TogetherBatchOperator(
                task_id="submit", input_path=_input(tmp_path), wait_for_completion=False,
                results_conn_id="apb_wh_mysql_ro", results_table=results, summary_table=summary,
            )  # fmt: skip
            with pytest.raises(TogetherBatchResultsTargetError) as caught:
                submit.execute(context())
            message = str(caught.value)
            assert f"connection 'apb_wh_mysql_ro', table {results}: its user lacks privileges" in message
            assert f"GRANT INSERT, UPDATE, DELETE ON `{database}`.`answers` TO '{user}'@'%'" in message
            assert "CREATE" not in message  # the tables exist: the load does not create them
            assert "ro-pass-1" not in message
            assert vendor_server.stats()["batch_creates"] == 1  # only the root user's submission
        finally:
            mysql_admin(f"DROP USER IF EXISTS '{user}'@'%'")
