"""``doctor --warehouse-conn-id`` for real against SQLite (a subprocess, as a user runs it),
PostgreSQL and MariaDB (in process, ``--json``): scratch tables made, checked and dropped, and a
connection's password never printed, not even when the driver raises with it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.__main__ import main
from tests.results._warehouse import PG_DSN, mysql_warehouse, postgres_warehouse

#: A password no output may contain (the test PostgreSQL trusts any password).
PASSWORD = "wh-SECRET/pw@7f3a9c"

TITLES = (
    "dialect and load path", "create the tables with the ownership key", "a first owned load, read back",
    "a second run loads the same batch", "replace_logical_date replaces only its own date's rows",
    "a later load adds a metadata column", "names readable by plain unquoted SQL",
    "migrate a table of an earlier shape", "drop the scratch tables, timings",
)  # fmt: skip


def _never_printed(text: str) -> None:
    for form in (PASSWORD, urllib.parse.quote(PASSWORD, safe=""), repr(PASSWORD)[1:-1]):
        assert form not in text, "the connection's password was printed"


def test_sqlite_warehouse_check_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "wh.db"
    connection = {"conn_type": "sqlite", "host": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_batch", "doctor", "--warehouse-conn-id", "doctor_wh"],
        env={**os.environ, "AIRFLOW_CONN_DOCTOR_WH": json.dumps(connection)},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for title in TITLES:
        assert f"Warehouse: {title}" in done.stdout
    assert "primary key (owner_key, batch_id, custom_id): the ownership key, read back" in done.stdout
    assert (
        "money reads back equal" in done.stdout and "a later run's load of the same batch sits" in done.stdout
    )
    assert " FAIL " not in done.stdout and " WARN " not in done.stdout
    assert "Result: 0 FAIL, 0 WARN" in done.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def _doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["doctor", "--json", *args])
    captured = capsys.readouterr()
    _never_printed(captured.out + captured.err)
    return code, json.loads(captured.out), captured.err


@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_server_warehouse_check(
    server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = postgres_warehouse if server == "postgres" else mysql_warehouse
    with helper(monkeypatch) as warehouse:
        schema = warehouse.prefix.rstrip(".")
        code, report, _ = _doctor_json(
            capsys, "--warehouse-conn-id", f"apb_wh_{server}", "--warehouse-schema", schema
        )
        assert (code, report["fail"], report["warn"]) == (0, 0, 0), report
        steps = {s["name"]: s for s in report["steps"]}
        assert steps["warehouse.create"]["data"]["primary_key"] == ["owner_key", "batch_id", "custom_id"]
        assert steps["warehouse.first_load"]["data"]["seen_before_commit"] == "0"
        assert len(steps["warehouse.cleanup"]["data"]["dropped"]) == 4
        listed = "information_schema.tables WHERE table_schema = %s"
        assert warehouse.query(f"SELECT COUNT(*) FROM {listed}", (schema,)) == [(0,)]


def test_password_never_printed_even_when_the_driver_raises_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The load fails with an error carrying the password (as a DSN would): the step FAILs
    (exit 1), the scratch tables are still dropped, and neither output holds the password."""
    import psycopg

    from airflow_provider_batch.warehouse.dialects.postgres import PostgresDialect

    with postgres_warehouse(monkeypatch) as warehouse:
        conn = {"conn_type": "postgres", "host": PG_DSN["host"], "port": PG_DSN["port"],
                "login": PG_DSN["user"], "password": PASSWORD, "schema": PG_DSN["dbname"]}  # fmt: skip
        monkeypatch.setenv("AIRFLOW_CONN_DOCTOR_PG", json.dumps(conn))
        dsn = f"postgresql://postgres:{urllib.parse.quote(PASSWORD, safe='')}@127.0.0.1/test"

        def refuse(*args: Any, **kwargs: Any) -> int:
            raise psycopg.OperationalError(f"COPY failed on {dsn} (password {PASSWORD!r})")

        monkeypatch.setattr(PostgresDialect, "write", refuse)
        schema = warehouse.prefix.rstrip(".")
        code = main(["doctor", "--warehouse-conn-id", "doctor_pg", "--warehouse-schema", schema])
        captured = capsys.readouterr()
        _never_printed(captured.out + captured.err)
        assert code == 1
        assert (
            "FAIL  warehouse.first_load failed: OperationalError: COPY failed on postgresql://postgres:***@"
            in (captured.out)
        )
        assert "dropped 4 table(s)" in captured.out
        listed = "information_schema.tables WHERE table_schema = %s"
        assert warehouse.query(f"SELECT COUNT(*) FROM {listed}", (schema,)) == [(0,)]
