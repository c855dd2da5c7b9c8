"""What only DuckDB's dialect does (the shared suites run on DuckDB through the ``warehouse``
fixture): native column types, text that is not JSON in the ``JSON`` column, the staging path
without ``pyarrow``, and one connection whose cursors share its transaction."""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

import pytest

from airflow_provider_batch.results import WarehouseLoader
from tests.results._warehouse import duckdb_warehouse
from tests.results.test_warehouse import Boom, failing, loader_for, small_rec

pytestmark = pytest.mark.warehouses


@pytest.fixture
def duck(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return duckdb_warehouse(tmp_path, monkeypatch)


def test_tables_have_native_json_timestamp_and_vector_columns(duck: Any) -> None:
    loader = loader_for(duck)
    loader.ensure_tables()
    sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
    types = dict(duck.query(sql, ("results",)))
    assert types["response_json"] == "JSON"
    assert types["logical_date"] == "TIMESTAMP WITH TIME ZONE"
    assert types["response_embedding"] == "UNION(vector DOUBLE[], vectors DOUBLE[][])"
    assert (types["cost_usd"], types["superseded"], types["map_index"]) == ("DOUBLE", "BOOLEAN", "BIGINT")
    loader.load_reconciliation(small_rec("b1", ["a"]))
    (body,) = duck.query("SELECT response_json->>'$.object' FROM results")[0]
    assert body is not None  # queried as JSON, not as text


def test_text_that_is_not_json_is_kept_as_a_json_string(duck: Any) -> None:
    loader = loader_for(duck)
    loader.ensure_tables()
    rec = small_rec("b1", ["a", "b"])
    rows = [r._replace(response_json="not json {") if r.custom_id == "a" else r for r in rec.rows()]
    loader.load(rows, [rec.summary])
    found = dict(duck.query("SELECT custom_id, CAST(response_json AS VARCHAR) FROM results"))
    assert json.loads(found["a"]) == "not json {"
    assert isinstance(json.loads(found["b"]), dict)


def test_without_pyarrow_rows_are_staged_in_a_temporary_table(
    duck: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_batch.warehouse.dialects import duckdb as dialect_module

    monkeypatch.setattr(dialect_module, "_arrow_types", lambda columns, types: None)
    loader = loader_for(duck, chunk_size=7)
    loader.ensure_tables()
    ids = [f"r{i}" for i in range(30)]
    loader.load_reconciliation(small_rec("b1", ids))
    loader.load_reconciliation(small_rec("b1", ids, texts=[f"again {i}" for i in range(30)]))  # re-run
    assert duck.query("SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM results") == [(30, 30)]
    assert duck.query("SELECT response_text FROM results WHERE custom_id = 'r3'") == [("again 3",)]


def test_a_load_is_one_transaction_on_one_connection(duck: Any) -> None:
    """Cursors of the loader's connection see its open transaction; nothing is visible outside
    until COMMIT, and a rollback leaves nothing (DuckDB's own cursor() would autocommit)."""
    loader: WarehouseLoader = loader_for(duck)
    loader.ensure_tables()
    dialect = loader.dialect()
    with closing(dialect.connect(duck.hook)) as conn:
        dialect.begin(conn)
        dialect.execute(conn, "INSERT INTO summary (batch_id) VALUES (?)", ("open",))
        assert dialect.query(conn, "SELECT batch_id FROM summary") == [("open",)]
        assert duck.count("summary") == 0  # another connection: not visible before COMMIT
        conn.rollback()
        conn.rollback()  # nothing open: no "cannot rollback - no transaction is active"
    assert duck.count("summary") == 0


def test_a_load_waits_for_another_process_that_holds_the_file(
    duck: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB lets one process open a file for writing: a results task of another process waits
    for it instead of failing with ``Could not set lock on file``."""
    import subprocess
    import sys

    refused: list[str] = []
    real_get_conn = duck.hook.get_conn

    def get_conn() -> Any:
        try:
            return real_get_conn()
        except Exception as exc:
            refused.append(str(exc))
            raise

    monkeypatch.setattr(duck.hook, "get_conn", get_conn)
    path = duck.hook.get_database()
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "time.sleep(1.5)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        loader = loader_for(duck)
        loader.ensure_tables()
        loader.load_reconciliation(small_rec("b1", ["a", "b"]))
    finally:
        holder.wait(30)
    assert duck.count("results") == 2
    assert refused and all("Could not set lock" in message for message in refused)


def test_rows_are_streamed_to_the_stage_one_bounded_arrow_batch_at_a_time(
    duck: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk becomes one Arrow batch, read by the streaming insert of a new batch or
    appended to the stage, and no Arrow memory outlives it (a registered view would keep every
    batch until COMMIT); a key repeated in a later chunk keeps its last row, and a user table
    named like the stage is not touched."""
    pa = pytest.importorskip("pyarrow")
    from airflow_provider_batch.warehouse.dialects.duckdb import DuckDBDialect

    monkeypatch.setattr(DuckDBDialect, "ARROW_CHUNK_ROWS", 7)
    duck.hook.run('CREATE TABLE "_apb_stage" (x INTEGER)')
    duck.hook.run('INSERT INTO "_apb_stage" VALUES (7)')
    sizes: list[int] = []
    held: list[int] = []  # Arrow bytes allocated when each chunk is read
    streams: list[int] = []  # the chunk each streaming insert started at
    real_connect = DuckDBDialect.connect

    def connect(self: DuckDBDialect, hook: Any) -> Any:
        conn = real_connect(self, hook)

        class Spy:  # duckdb's connection cannot take attributes: wrap it
            def __getattr__(self, name: str) -> Any:
                return getattr(real_raw, name)

            def from_arrow(self, data: Any) -> Any:
                if isinstance(data, pa.RecordBatchReader):  # a new batch: one streaming insert
                    streams.append(len(sizes))
                    return real_raw.from_arrow(pa.RecordBatchReader.from_batches(data.schema, tap(data)))
                tap_one(data)
                return real_raw.from_arrow(data)

        def tap(reader: Any) -> Any:
            for batch in reader:  # as DuckDB reads them
                tap_one(batch)
                yield batch

        def tap_one(batch: Any) -> None:
            held.append(pa.total_allocated_bytes())
            sizes.append(batch.num_rows)

        real_raw, conn.raw = conn.raw, Spy()
        return conn

    monkeypatch.setattr(DuckDBDialect, "connect", connect)
    loader = loader_for(duck, chunk_size=1_000)
    loader.ensure_tables()
    ids = [f"r{i}" for i in range(70)]
    loader.load_reconciliation(small_rec("b1", ids))
    rows = list(small_rec("b1", ids, texts=[f"again {i}" for i in range(70)]).rows())
    last = rows[2]._replace(response_text="last of r2")
    loader.load([*rows, last], [])  # a re-run, with r2 again in the last chunk
    assert sizes == [7] * 20 + [1], sizes
    assert streams == [0], streams  # the new batch: one INSERT read all its chunks
    # the stream: the chunk being read and the few DuckDB's scan still holds (up to 4 seen),
    # not all ten
    one_chunk = held[1] - held[0]
    assert one_chunk > 0 and max(held[:10]) - held[0] <= 5 * one_chunk, held
    assert max(held[11:]) <= held[11], held  # staged: only the chunk being appended is held
    assert duck.query("SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM results") == [(70, 70)]
    assert duck.query("SELECT response_text FROM results WHERE custom_id = 'r2'") == [("last of r2",)]
    assert duck.query("SELECT response_text FROM results WHERE custom_id = 'r3'") == [("again 3",)]
    assert duck.query('SELECT x FROM "_apb_stage"') == [(7,)]


def test_new_batches_go_straight_into_the_table_and_only_what_replaces_rows_is_staged(
    duck: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new batch is inserted chunk by chunk into the table (no stage); a chunk with rows of a
    batch the table already has, or with a key loaded earlier in the same load (in an earlier
    chunk or its own), starts the stage: that chunk and the rest are merged, last row wins."""
    pytest.importorskip("pyarrow")
    import itertools

    from airflow_provider_batch.warehouse.dialects.duckdb import DuckDBDialect

    monkeypatch.setattr(DuckDBDialect, "ARROW_CHUNK_ROWS", 4)
    staged: list[int] = []
    real_merge = DuckDBDialect._merge

    def merge(self: DuckDBDialect, raw: Any, table: Any, columns: Any, key: Any, count: int) -> int:
        staged.append(count)
        return real_merge(self, raw, table, columns, key, count)

    monkeypatch.setattr(DuckDBDialect, "_merge", merge)
    loader = loader_for(duck)
    loader.ensure_tables()
    ids = [f"r{i}" for i in range(10)]
    recs = [small_rec(f"b{i}", ids) for i in range(2)]
    loader.load(itertools.chain.from_iterable(r.rows() for r in recs), [r.summary for r in recs])
    assert staged == [] and duck.count("results") == 20

    again = small_rec("b1", ids, texts=[f"again {i}" for i in range(10)])
    loader.load(itertools.chain(small_rec("b2", ids).rows(), again.rows()), [again.summary])
    # chunks of 4: b2's first 8 rows straight in; the 3rd chunk (b2 r8 r9, b1 r0 r1) on: staged
    assert staged == [12] and duck.count("results") == 30

    rows = list(small_rec("b3", ids, texts=[f"first {i}" for i in range(10)]).rows())
    later = rows[1]._replace(response_text="last of r1")
    within = rows[9]._replace(response_text="last of r9")
    loader.load([*rows[:9], later, rows[9], within], [])  # r1 again in chunk 3, r9 twice in it
    assert staged == [12, 4]  # chunks 1-2 straight in; chunk 3 (r8, r1, r9, r9) staged
    got = dict(duck.query("SELECT custom_id, response_text FROM results WHERE batch_id = 'b3'"))
    assert len(got) == 10 and got["r1"] == "last of r1" and got["r9"] == "last of r9"
    assert got["r0"] == "first 0" and duck.count("results") == 40
    assert duck.query("SELECT response_text FROM results WHERE batch_id = 'b1' AND custom_id = 'r3'") == [
        ("again 3",)
    ]


def test_rows_that_fail_in_the_middle_of_the_streaming_insert_raise_their_own_error(
    duck: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the stream DuckDB reads would abort the transaction with DuckDB's
    own error: the stream ends the statement instead, and the rows' error is raised after it;
    nothing of the load stays, and the next load on the table works."""
    pytest.importorskip("pyarrow")
    from airflow_provider_batch.warehouse.dialects.duckdb import DuckDBDialect

    monkeypatch.setattr(DuckDBDialect, "ARROW_CHUNK_ROWS", 4)
    loader = loader_for(duck)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a"]))
    new = small_rec("b2", [f"r{i}" for i in range(20)])
    with pytest.raises(Boom, match="injected failure"):
        loader.load(failing(new.rows(), after=10), [new.summary])
    assert duck.query("SELECT batch_id, custom_id FROM results") == [("b1", "a")]
    loader.load_reconciliation(new)
    assert duck.count("results") == 21
