"""Snowflake's own rules, on fakesnow's server: the loader's tables and columns are unquoted names,
so Snowflake's catalogue holds them upper case and a user's plain SQL finds them; JSON is VARIANT.

The ownership, migration and reconciliation suites run on Snowflake through the ``warehouse``
fixture (tests/results/conftest.py); this file holds what only Snowflake has.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

import pytest

from airflow_provider_batch.results import WarehouseLoader
from airflow_provider_batch.warehouse.dialects import SnowflakeDialect, dialect_for
from tests.results.test_ownership import load, rec, ti

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
