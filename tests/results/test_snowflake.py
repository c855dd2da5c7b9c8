"""Snowflake's own rules, on fakesnow's server: the loader's tables and columns are unquoted names,
so Snowflake's catalogue holds them upper case and a user's plain SQL finds them; JSON is VARIANT.

The ownership, migration and reconciliation suites run on Snowflake through the ``warehouse``
fixture (tests/results/conftest.py); this file holds what only Snowflake has.
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.results import WarehouseLoader
from airflow_provider_batch.warehouse.dialects import SnowflakeDialect, dialect_for
from tests.results._kill_child import Connection
from tests.results.test_ownership import D1, D2, load, rec, ti

pytestmark = [pytest.mark.warehouses, pytest.mark.timeout(240)]


def test_tables_and_columns_are_unquoted_upper_case_and_plain_sql_reads_them(snowflake_schema: Any) -> None:
    wh = snowflake_schema
    schema = wh.prefix.rstrip(".")
    loader = WarehouseLoader(
        wh.hook,
        results_table=wh.table("wf_results"),
        summary_table=wh.table("wf_spend"),
        metadata_columns=["segment", "order"],  # ORDER is a reserved word: quoted upper case
    )
    assert isinstance(loader.dialect(), SnowflakeDialect)
    loader.ensure_tables()
    run = ti()
    load(loader, rec("b-1", ["a", "b"], run), run)

    tables = wh.query(
        "SELECT table_name FROM apb.information_schema.tables WHERE table_schema = %s ORDER BY 1",
        (schema.upper(),),
    )
    assert [t for (t,) in tables] == ["WF_RESULTS", "WF_SPEND"]
    columns = dict(
        wh.query(
            "SELECT column_name, data_type FROM apb.information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'WF_RESULTS'",
            (schema.upper(),),
        )
    )
    assert {"CUSTOM_ID", "OWNER_KEY", "BATCH_ID", "SEGMENT", "ORDER", "RESPONSE_JSON"} <= set(columns)
    assert all(name == name.upper() for name in columns), sorted(columns)
    assert columns["RESPONSE_JSON"] == "VARIANT"

    # The README's plain SQL: no quotes, any case, the schema current.
    wh.query(f"USE SCHEMA {schema}")
    got = wh.query("SELECT custom_id, response_json, segment FROM wf_results ORDER BY custom_id")
    assert [r[0] for r in got] == ["a", "b"]
    assert all(isinstance(json.loads(r[1]), dict) for r in got)  # VARIANT reads back as JSON text
    assert wh.query("SELECT COUNT(*) FROM WF_Spend WHERE NOT superseded") == [(1,)]


def test_the_snowflake_connection_type_picks_the_snowflake_dialect(snowflake_schema: Any) -> None:
    dialect = dialect_for(snowflake_schema.hook)
    assert isinstance(dialect, SnowflakeDialect)
    assert dialect.quote.format("custom_id") == "custom_id"
    assert dialect.quote.format("order") == '"ORDER"'


def test_a_load_that_fails_after_its_merge_leaves_nothing(snowflake_schema: Any, monkeypatch: Any) -> None:
    """The staging DDL comes before the load's first DML: the MERGE and what follows it are one
    transaction, rolled back as one (fakesnow commits an open transaction on DDL, as Snowflake)."""
    wh = snowflake_schema
    loader = WarehouseLoader(wh.hook, results_table=wh.table("r"), summary_table=wh.table("s"))
    loader.ensure_tables()
    run = ti()
    load(loader, rec("b-old", ["x"], run), run)

    def fail(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("spend write failed")

    monkeypatch.setattr(WarehouseLoader, "_write_summaries", fail)
    with pytest.raises(RuntimeError, match="spend write failed"):
        load(loader, rec("b-new", ["a", "b", "c"], run), run)
    assert wh.query(f"SELECT batch_id, COUNT(*) FROM {wh.table('r')} GROUP BY batch_id") == [("b-old", 1)]
    with closing(wh.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(f"SELECT COUNT(*) FROM {wh.table('s')}")
        assert cur.fetchone() == (1,)


def _catalogue(wh: Any) -> dict[str, list[str]]:
    """Tables of the test schema -> their columns, exactly as the catalogue names them."""
    rows = wh.query(
        "SELECT table_name, column_name FROM apb.information_schema.columns WHERE table_schema = %s"
        " ORDER BY table_name, ordinal_position",
        (wh.prefix.rstrip(".").upper(),),
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def test_tables_of_the_generic_path_are_renamed_in_place_and_keep_every_row(snowflake_schema: Any) -> None:
    """The previous release's quoted lower-case tables ("wf_results") become WF_RESULTS with
    every row once; a re-run of an old date replaces exactly that date's rows; spend kept."""
    wh = snowflake_schema
    tables = {"results_table": wh.table("wf_results"), "summary_table": wh.table("wf_spend")}
    old = WarehouseLoader(wh.hook, **tables, metadata_columns=["segment"], dialect="generic")
    old.ensure_tables()
    first, second = ti(run_id="scheduled__1", logical_date=D1), ti(run_id="scheduled__2", logical_date=D2)
    load(old, rec("b-1", ["a", "b"], first), first)
    load(old, rec("b-2", ["a", "b", "c"], second), second)
    before = _catalogue(wh)
    assert set(before) == {"wf_results", "wf_spend"}  # quoted: catalogued lower case
    assert "custom_id" in before["wf_results"]

    new = WarehouseLoader(wh.hook, **tables, metadata_columns=["segment"])
    assert isinstance(new.dialect(), SnowflakeDialect)
    new.ensure_tables()
    new.ensure_tables()  # a second time finds nothing to do
    after = _catalogue(wh)
    assert set(after) == {"WF_RESULTS", "WF_SPEND"}
    assert all(c == c.upper() for cols in after.values() for c in cols), after
    assert len(after["WF_RESULTS"]) == len(before["wf_results"])  # renamed, none added twice
    # The generic path's text timestamps and JSON now have the types of a fresh table; the key kept.
    assert _types(wh, "WF_RESULTS") == _types(wh, "FRESH_RESULTS", fresh=True)
    assert _types(wh, "WF_SPEND")["SUBMITTED_AT"] == "TIMESTAMP_TZ"
    assert new.dialect().primary_key(wh.session, new.results_table) == ("owner_key", "batch_id", "custom_id")

    rows = "SELECT batch_id, custom_id, run_id, superseded FROM wf_results ORDER BY 1, 2"
    wh.query(f"USE SCHEMA {wh.prefix.rstrip('.')}")
    assert [tuple(r) for r in wh.query(rows)] == [
        ("b-1", "a", "scheduled__1", False), ("b-1", "b", "scheduled__1", False),
        ("b-2", "a", "scheduled__2", False), ("b-2", "b", "scheduled__2", False),
        ("b-2", "c", "scheduled__2", False),
    ]  # fmt: skip
    assert wh.query("SELECT batch_id FROM wf_spend ORDER BY 1") == [("b-1",), ("b-2",)]

    # A re-run of the first date replaces exactly that date's old rows.
    rerun = ti(run_id="manual__1", logical_date=D1)
    load(new, rec("b-1r", ["a"], rerun), rerun, mode="replace_logical_date")
    assert [tuple(r) for r in wh.query(rows)] == [
        ("b-1r", "a", "manual__1", False),
        ("b-2", "a", "scheduled__2", False), ("b-2", "b", "scheduled__2", False),
        ("b-2", "c", "scheduled__2", False),
    ]  # fmt: skip
    spend = wh.query("SELECT batch_id, superseded FROM wf_spend ORDER BY 1")
    assert [tuple(r) for r in spend] == [("b-1", True), ("b-1r", False), ("b-2", False)]
    # And again: the rows the new dialect wrote into the old (text) columns are found by date too.
    again = ti(run_id="manual__2", logical_date=D1)
    load(new, rec("b-1s", ["b"], again), again, mode="replace_logical_date")
    assert [tuple(r) for r in wh.query(rows)] == [
        ("b-1s", "b", "manual__2", False),
        ("b-2", "a", "scheduled__2", False), ("b-2", "b", "scheduled__2", False),
        ("b-2", "c", "scheduled__2", False),
    ]  # fmt: skip
    assert set(_catalogue(wh)) == {"WF_RESULTS", "WF_SPEND"}


def _types(wh: Any, table: str, fresh: bool = False) -> dict[str, str]:
    """Column -> data type (``fresh``: of a table this release creates, made here)."""
    if fresh:
        loader = WarehouseLoader(wh.hook, results_table=wh.table(table), summary_table=wh.table("fresh_s"),
                                 metadata_columns=["segment"])  # fmt: skip
        loader.ensure_tables()
    rows = wh.query(
        "SELECT column_name, data_type FROM apb.information_schema.columns WHERE table_schema = %s"
        " AND table_name = %s",
        (wh.prefix.rstrip(".").upper(), table),
    )
    if fresh:
        wh.query(f"DROP TABLE {wh.table(table)}")
        wh.query(f"DROP TABLE {wh.table('fresh_s')}")
    return dict(rows)


def test_retyping_a_value_that_does_not_convert_changes_nothing(snowflake_schema: Any) -> None:
    """All or nothing: one bad timestamp refuses the retyping, naming it, before any change."""
    wh = snowflake_schema
    tables = {"results_table": wh.table("wf_results"), "summary_table": wh.table("wf_spend")}
    WarehouseLoader(wh.hook, **tables, dialect="generic").ensure_tables()
    wh.query(f"INSERT INTO {wh.table('wf_spend')} (batch_id, submitted_at) VALUES ('b-1', 'yesterday')")
    with pytest.raises(ValueError, match=r"holds 'yesterday', which is not an ISO 8601 timestamp"):
        WarehouseLoader(wh.hook, **tables).ensure_tables()
    assert _types(wh, "WF_SPEND")["SUBMITTED_AT"] == "TEXT"
    assert wh.query(f"SELECT batch_id, submitted_at FROM {wh.table('wf_spend')}") == [("b-1", "yesterday")]
    wh.query(f"UPDATE {wh.table('wf_spend')} SET submitted_at = NULL WHERE submitted_at = 'yesterday'")
    WarehouseLoader(wh.hook, **tables).ensure_tables()  # the remedy the error names
    assert _types(wh, "WF_SPEND")["SUBMITTED_AT"] == "TIMESTAMP_TZ"
    assert wh.query(f"SELECT batch_id FROM {wh.table('wf_spend')}") == [("b-1",)]


def test_preflight_renames_the_generic_path_s_tables_and_refuses_both(
    snowflake_schema: Any, monkeypatch
) -> None:
    """The submit task's check renames the old tables in place before its CREATE (which commits
    on Snowflake and would otherwise leave a second, empty table), and reports both names existing
    as a results-target error before any upload."""
    from airflow_provider_batch.exceptions import TogetherBatchResultsTargetError
    from airflow_provider_batch.warehouse.dialects.base import TableNameConflict
    from airflow_provider_batch.warehouse.preflight import ResultsTarget, check_results_target
    from tests.results._warehouse import SNOWFLAKE_CONN_ID

    wh = snowflake_schema
    tables = {"results_table": wh.table("wf_results"), "summary_table": wh.table("wf_spend")}
    old = WarehouseLoader(wh.hook, **tables, dialect="generic")
    old.ensure_tables()
    run = ti()
    load(old, rec("b-1", ["a", "b"], run), run)

    target = ResultsTarget(SNOWFLAKE_CONN_ID, tables["results_table"], tables["summary_table"])
    check_results_target(target)
    assert set(_catalogue(wh)) == {"WF_RESULTS", "WF_SPEND"}
    assert all(c == c.upper() for cols in _catalogue(wh).values() for c in cols)
    assert wh.query(f"SELECT COUNT(*) FROM {wh.table('wf_results')}") == [(2,)]
    assert wh.query(f"SELECT COUNT(*) FROM {wh.table('wf_spend')}") == [(1,)]

    def both(self: Any, conn: Any, tables: Any) -> list[str]:
        raise TableNameConflict('"x" and X', "both exist", "Keep one: DROP TABLE X.")

    monkeypatch.setattr(SnowflakeDialect, "adopt_earlier_tables", both)
    with pytest.raises(TogetherBatchResultsTargetError) as caught:
        check_results_target(target)
    message = str(caught.value)
    assert 'table "x" and X: both exist. Keep one: DROP TABLE X.' in message
    assert "nothing was submitted or paid for" in message


class _Statements:
    """Every statement the loader's connection runs (the kill test's connection wrapper calls
    ``wrote`` after each); at each ``PUT``, the Parquet files then on local disk."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.local_files_at_put: list[list[str]] = []

    def wrote(self, cur: Any, sql: str) -> None:
        self.sql.append(sql)
        if sql.startswith("PUT "):
            path = Path(sql.split("'")[1].removeprefix("file://"))
            self.local_files_at_put.append(sorted(p.name for p in path.parent.glob("*.parquet")))

    def count(self, prefix: str) -> int:
        return sum(s.startswith(prefix) for s in self.sql)


def test_a_load_bigger_than_one_part_puts_several_files_and_copies_every_row_once(
    snowflake_schema: Any, monkeypatch: Any
) -> None:
    """Parts of ``part_bytes`` (here every row group is one): each is PUT when complete and
    deleted locally before the next exists; one COPY takes them all, on the direct path and on
    the MERGE path, where a key repeated in a later part keeps its last row."""
    wh = snowflake_schema
    monkeypatch.setattr(SnowflakeDialect, "part_bytes", 1)
    seen = _Statements()
    real_get_conn = wh.hook.get_conn
    monkeypatch.setattr(wh.hook, "get_conn", lambda: Connection(real_get_conn(), seen))
    loader = WarehouseLoader(wh.hook, results_table=wh.table("r"), summary_table=wh.table("s"), chunk_size=2)
    loader.ensure_tables()
    dialect = loader.dialect()
    texts = f"SELECT custom_id, response_text FROM {wh.table('r')} ORDER BY 1"
    keys = ["a", "b", "c", "d", "e"]
    run = ti()

    load(loader, rec("b-1", keys, run), run)  # new to the table: COPY INTO it
    assert dialect.direct_loads == 1
    assert seen.local_files_at_put == [["part-00000.parquet"], ["part-00001.parquet"], ["part-00002.parquet"]]
    assert seen.count("COPY INTO") == 1 and seen.count("MERGE INTO") == 1  # the spend's only
    assert wh.query(texts) == [(k, f"answer {k}") for k in keys]

    seen.sql.clear()
    seen.local_files_at_put.clear()
    batch = rec("b-1", keys, run, text="again")  # a re-run: staging table and MERGE
    rows = list(batch.rows())
    loader.load([*rows, rows[0]._replace(response_text="last a")], [batch.summary], run=run)
    assert dialect.direct_loads == 1
    assert len(seen.local_files_at_put) == 3 and seen.count("COPY INTO") == 1
    assert seen.count("MERGE INTO") == 2  # the rows' and the spend's
    assert wh.query(texts) == [("a", "last a"), *((k, f"again {k}") for k in keys[1:])]
