"""The dialect contract: every registered dialect fulfils it, the registry picks one for any hook,
and the ledger and the warehouse loader write through the same one."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import pytest

from airflow_provider_batch.results.models import OWNER_KEY_LENGTH, RESULT_COLUMNS, owner_key
from airflow_provider_batch.results.warehouse import WarehouseLoader
from airflow_provider_batch.warehouse import dialects as registry
from airflow_provider_batch.warehouse.dialects import (
    DuckDBDialect,
    GenericDialect,
    MySqlDialect,
    PostgresDialect,
    SqliteDialect,
    dialect_for,
    register_dialect,
    registered_dialects,
)
from airflow_provider_batch.warehouse.dialects._sql import Table
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect

#: Every column kind a table of the loader or the ledger uses.
KINDS = {"key", "text", "int", "float", "money", "timestamp", "bool", "vector"}


def test_every_registered_dialect_fulfils_the_contract() -> None:
    names = registered_dialects()
    assert {"sqlite", "postgres", "postgresql", "mysql", "mariadb", "generic"} <= set(names)
    for name, factory in names.items():
        dialect = factory(None)
        assert isinstance(dialect, SqlDialect), name
        assert not inspect.isabstract(type(dialect)), name
        assert set(dialect.types) >= KINDS, name
        assert dialect.placeholder in ("?", "%s"), name
        assert "{}" in dialect.quote, name
        # The loader's table is expressible in every dialect.
        sql = dialect.create_table_sql(Table("t"), RESULT_COLUMNS, ("batch_id", "custom_id"))
        assert sql.startswith("CREATE TABLE IF NOT EXISTS"), name
        # Re-keying is offered exactly where the key can be read (the base refuses).
        reads_key = type(dialect).primary_key is not SqlDialect.primary_key
        replaces_key = type(dialect).replace_key is not SqlDialect.replace_key
        assert reads_key == replaces_key, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sqlite", SqliteDialect), ("postgres", PostgresDialect), ("postgresql", PostgresDialect),
     ("MySQL", MySqlDialect), ("mariadb", MySqlDialect), ("mssql", GenericDialect)],
)  # fmt: skip
def test_names_and_hooks_map_to_their_dialect(name: str, expected: type) -> None:
    assert type(dialect_for(name=name)) is expected

    class Hook:
        dialect_name = name.lower()
        placeholder = "?"
        escape_word_format = "[{}]"

    picked = dialect_for(Hook())
    assert type(picked) is expected
    if expected is GenericDialect:  # an unknown database: the hook's own quoting and marker
        assert (picked.quote, picked.placeholder) == ("[{}]", "?")


class FakeDialect(GenericDialect):
    """A database the provider does not know, brought by one registration."""

    name = "fakedb"
    types: ClassVar[dict[str, str]] = {**GenericDialect.types, "vector": "FLOAT[]"}
    writes: ClassVar[list[int]] = []

    def write(
        self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str], rows: Iterable[Row],
        *, chunk_size: int, bulk: bool = True,
    ) -> int:  # fmt: skip
        written = super().write(conn, table, columns, key, rows, chunk_size=chunk_size, bulk=bulk)
        self.writes.append(written)
        return written


class FakeHook:
    """A common.sql-like hook of a type nothing is registered for (it says it is SQLite)."""

    dialect_name = "sqlite"
    placeholder = "?"

    def __init__(self, path: str) -> None:
        self.path = path

    def get_conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)


def test_a_dialect_registered_for_a_hook_type_serves_the_loader(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_BY_HOOK_TYPE", dict(registry._BY_HOOK_TYPE))
    hook = FakeHook(str(tmp_path / "fake.db"))
    assert type(dialect_for(hook)) is SqliteDialect  # before: its dialect_name decides
    register_dialect(lambda h: FakeDialect(placeholder=h.placeholder), hook_types=[FakeHook])
    assert type(dialect_for(hook)) is FakeDialect
    assert type(dialect_for(type("SubHook", (FakeHook,), {})(hook.path))) is FakeDialect

    loader = WarehouseLoader(hook, results_table="r", summary_table="s")
    assert type(loader.dialect()) is FakeDialect
    assert "FLOAT[]" in loader.create_table_statements()[0]
    FakeDialect.writes.clear()
    loader.ensure_tables()
    stats = loader.load([], [])
    assert (stats.dialect, FakeDialect.writes) == ("fakedb", [0])


def test_sqlite_digest_in_sql_is_the_owner_key() -> None:
    """The migration fills owner keys in SQL; the SQL must give what Python gives."""
    conn = sqlite3.connect(":memory:")
    expr = SqliteDialect().digest_sql(conn, ["a", "b", "c", "d"], OWNER_KEY_LENGTH)
    conn.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT, d INTEGER)")
    rows = [("dag", "task", "run", 3), ("dag", None, "run", None), ("dåg", "", "r", 0)]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    found = [r[0] for r in conn.execute(f"SELECT {expr} FROM t ORDER BY rowid")]
    assert found == [owner_key(*row) for row in rows]


def test_the_ledger_and_the_loader_write_through_the_same_dialect(warehouse, monkeypatch) -> None:
    """``ledger_conn_id`` naming the warehouse's connection: both ask the one registry and get
    the same dialect; the ledger's tables are made and used through it."""
    import uuid

    from airflow_provider_batch.ledger import TaskIdentity
    from airflow_provider_batch.ledger.location import get_ledger

    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__LEDGER_TABLE", warehouse.table(f"sub_{suffix}"))
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__OUTCOME_TABLE", warehouse.table(f"out_{suffix}"))
    conn_id = {"sqlite": "apb_wh_sqlite", "postgres": "apb_wh_postgres", "mysql": "apb_wh_mysql",
               "duckdb": "apb_wh_duckdb"}  # fmt: skip
    ledger = get_ledger(conn_id[warehouse.name])
    loader = WarehouseLoader(warehouse.hook)
    assert type(ledger.sql_dialect) is type(loader.dialect())
    assert type(ledger.sql_dialect) is {"sqlite": SqliteDialect, "postgres": PostgresDialect,
                                        "mysql": MySqlDialect,
                                        "duckdb": DuckDBDialect}[warehouse.name]  # fmt: skip
    identity = TaskIdentity("nightly", "submit", "run-1")
    record = ledger.open(identity, part_index=0, part_sha256="0" * 64, generation=0, request_count=1,
                         endpoint="/v1/chat/completions", together_conn_id="together")  # fmt: skip
    assert [r.submission_id for r in ledger.records_for(identity)] == [record.submission_id]


def test_the_ledger_and_the_dialects_import_no_airflow() -> None:
    """Both work on a connection factory; only ``get_ledger`` reads Airflow, when called (the old
    ``hooks.ledger`` path imported first used to pull Airflow in, and with it a circular import)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, airflow_provider_batch.hooks.ledger, airflow_provider_batch.ledger, "
        "airflow_provider_batch.warehouse.dialects; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
