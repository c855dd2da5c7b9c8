"""Snowflake and BigQuery load a batch that is new to the table without a ``MERGE``: Snowflake
copies the file straight into the table, BigQuery inserts from its staging table, both inside the
load's transaction. Everything else (a re-run, another owner's rows present, a key repeated in the
stream, on Snowflake) still merges. The ownership, visibility and re-run suites run on both through the
``warehouse`` fixture; this file checks which path a load took and that both give the same rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batch.results import WarehouseLoader
from tests.results.test_ownership import load, rec, ti

pytestmark = [pytest.mark.warehouses, pytest.mark.timeout(240)]

FIXTURES = {"snowflake": "snowflake_schema", "bigquery": "bigquery_dataset"}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_new_batch_skips_the_merge_and_everything_else_merges(name: str, request: Any) -> None:
    wh = request.getfixturevalue(FIXTURES[name])
    loader = WarehouseLoader(wh.hook, results_table=wh.table("r"), summary_table=wh.table("s"),
                             metadata_columns=["segment"])  # fmt: skip
    loader.ensure_tables()
    dialect = loader.dialect()
    texts = f"SELECT owner_key, batch_id, custom_id, response_text FROM {wh.table('r')} ORDER BY 1, 2, 3"

    run = ti()
    load(loader, rec("b-1", ["a", "b", "c"], run), run)
    assert dialect.direct_loads == 1
    first = wh.query(texts)
    assert [(r[2], r[3]) for r in first] == [("a", "answer a"), ("b", "answer b"), ("c", "answer c")]

    # The same task instance again: its keys exist, so the rows are merged, never duplicated.
    load(loader, rec("b-1", ["a", "b", "c"], run, text="again"), run)
    assert dialect.direct_loads == 1
    assert [(r[2], r[3]) for r in wh.query(texts)] == [("a", "again a"), ("b", "again b"), ("c", "again c")]

    # Another run's first load of the same batch id: keys of its own owner, new to the table.
    other = ti(run_id="manual__1")
    load(loader, rec("b-1", ["a"], other), other)
    assert dialect.direct_loads == 2
    assert len(wh.query(texts)) == 4

    # A key repeated in the stream of a new batch: its last row wins either way (Snowflake
    # merges it; BigQuery's INSERT takes the last staged row of each key).
    batch = rec("b-2", ["x", "y"], run)
    rows = list(batch.rows())
    stats = loader.load([*rows, rows[0]._replace(response_text="last x")], [batch.summary], run=run)
    assert stats.rows == 3 and dialect.direct_loads == {"snowflake": 2, "bigquery": 3}[name]
    got = {(r[1], r[2]): r[3] for r in wh.query(texts) if r[1] == "b-2"}
    assert got == {("b-2", "x"): "last x", ("b-2", "y"): "answer y"}
    assert wh.query(f"SELECT COUNT(*) FROM {wh.table('s')}") == [(2,)]
