"""Tables written by release 0.1.0 are migrated in place on the first load, with no row lost, and
tables follow the DAG when it gains a metadata column. File SQLite and the real PostgreSQL."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_batch.results import (
    ExpectedRequest,
    RunContext,
    WarehouseLoader,
    parse_output_line,
    reconcile,
)
from airflow_provider_batch.results.models import owner_key
from airflow_provider_batch.warehouse.dialects import dialect_for
from airflow_provider_batch.warehouse.dialects._sql import parse_table
from tests.results._data import MODEL, success_line
from tests.results._release_tables import OLD_DATES, create_release_tables

NOW = datetime(2026, 3, 3, 4, 0, tzinfo=timezone.utc)


def loader_for(wh, metadata=("segment",)):
    return WarehouseLoader(
        wh.hook,
        results_table=wh.table("results"),
        summary_table=wh.table("summary"),
        metadata_columns=metadata,
    )


def rec(batch_id, ids, run, meta=None):
    expected = [ExpectedRequest(cid, MODEL, meta or {"segment": "new"}) for cid in ids]
    outputs = [parse_output_line(success_line(cid, i)) for i, cid in enumerate(ids)]
    return reconcile(expected, outputs, [], batch_id=batch_id, batch_status="COMPLETED", run=run)


def key_of(wh, table):
    with closing(wh.hook.get_conn()) as conn:
        return dialect_for(name=wh.name).primary_key(conn, parse_table(wh.table(table)))


def norm(rows):
    return [tuple(bool(v) if isinstance(v, bool) else v for v in r) for r in rows]


def test_release_tables_are_migrated_in_place_and_keep_every_row(warehouse):
    old = create_release_tables(warehouse)
    assert key_of(warehouse, "results") == (
        () if warehouse.name == "snowflake" else ("batch_id", "custom_id")
    )
    loader = loader_for(warehouse)
    loader.ensure_tables()
    loader.ensure_tables()  # a second time finds nothing to do
    assert key_of(warehouse, "results") == ("owner_key", "batch_id", "custom_id")
    assert key_of(warehouse, "summary") == ("batch_id",)

    results, summary = warehouse.table("results"), warehouse.table("summary")
    got = warehouse.query(
        f"SELECT batch_id, custom_id, run_id, owner_key, task_id, map_index, superseded, "
        f"response_text, segment FROM {results} ORDER BY batch_id, custom_id"
    )
    assert [(b, c, r) for b, c, r, *_ in got] == old["rows"]
    for _batch_id, _custom_id, run_id, key, task_id, map_index, superseded, text, segment in got:
        # The owner is what is known: dag_id and run_id; the task and map index were never recorded.
        assert key == owner_key("nightly", None, run_id, None)
        assert (task_id, map_index, bool(superseded)) == (None, None, False)
        assert text.startswith("old answer") and segment.startswith("seg-")
    spend = norm(
        warehouse.query(
            f"SELECT batch_id, owner_key, superseded, cost_usd_batch FROM {summary} ORDER BY batch_id"
        )
    )
    assert [(b, k, s) for b, k, s, _ in spend] == [
        (b, owner_key("nightly", None, r, None), False) for b, r in old["batches"]
    ]

    # New rows land, next to the old ones, even for the same batch and custom_ids (another owner).
    new_run = RunContext("nightly", "manual__x", OLD_DATES[1], NOW, "load", -1)
    loader.load(rec("old-batch-1", ["t-0", "t-1", "t-2"], new_run).rows(), [], run=new_run)
    new = rec("new-batch", ["t-0", "t-9"], new_run)
    loader.load(new.rows(), [new.summary], run=new_run)
    assert warehouse.count("results") == len(old["rows"]) + 5
    assert warehouse.count("summary") == 3
    survivors = warehouse.query(f"SELECT COUNT(*) FROM {results} WHERE response_text LIKE 'old answer%'")
    assert survivors == [(len(old["rows"]),)]
    # The prompt-cache token columns were added in place: NULL on old rows, counted on new ones.
    cache = "cache_creation_tokens, cache_read_tokens"
    old_cache = f"SELECT DISTINCT {cache} FROM {results} WHERE response_text LIKE 'old answer%'"
    assert warehouse.query(old_cache) == [(None, None)]
    assert warehouse.query(f"SELECT DISTINCT {cache} FROM {results} WHERE batch_id = 'new-batch'") == [(0, 0)]
    spend_cache = f"SELECT batch_id, {cache} FROM {summary} ORDER BY batch_id"
    old_spend = [(b, None, None) for b, _ in old["batches"]]
    assert warehouse.query(spend_cache) == [("new-batch", 0, 0), *sorted(old_spend)]


def test_a_rerun_of_a_migrated_run_takes_over_its_rows(warehouse):
    """On MySQL 0.1.0 stored timestamps as TEXT: they become DATETIME(6), so replace mode matches them."""
    old = create_release_tables(warehouse)
    loader = loader_for(warehouse)
    loader.ensure_tables()
    results, summary = warehouse.table("results"), warehouse.table("summary")
    # Run 1 of 0.1.0 is cleared after the upgrade and re-attaches to its batch: no second copy.
    (batch_1, run_1), (batch_2, _run_2) = old["batches"]
    rerun = RunContext("nightly", run_1, OLD_DATES[1], NOW, "load", -1)
    again = rec(batch_1, ["t-0", "t-1", "t-2"], rerun)
    loader.load(again.rows(), [again.summary], run=rerun)
    ph = "?" if warehouse.name in ("sqlite", "bigquery", "duckdb") else "%s"
    found = warehouse.query(
        f"SELECT COUNT(*), COUNT(DISTINCT owner_key) FROM {results} WHERE batch_id = {ph}", (batch_1,)
    )
    assert found == [(3, 1)]
    assert warehouse.query(f"SELECT task_id, run_id FROM {summary} WHERE batch_id = '{batch_1}'") == [
        ("load", run_1)
    ]
    # Run 2's date is re-run by hand in replace mode with a new batch: run 2's old rows are
    # replaced (their requests were answered again), its spend row stays, marked.
    manual = RunContext("nightly", "manual__2", OLD_DATES[2], NOW, "load", -1)
    replacement = rec("batch-2-again", ["t-0", "t-1", "t-2"], manual)
    stats = loader.load(
        replacement.rows(),
        [replacement.summary],
        mode="replace_logical_date",
        logical_date=OLD_DATES[2],
        run=manual,
    )
    assert stats.deleted_rows == 3
    assert warehouse.query(f"SELECT DISTINCT batch_id FROM {results} WHERE run_id <> '{run_1}'") == [
        ("batch-2-again",)
    ]
    spend = norm(warehouse.query(f"SELECT batch_id, superseded, superseded_by FROM {summary} ORDER BY 1"))
    assert spend == [("batch-2-again", False, None), (batch_1, False, None), (batch_2, True, "batch-2-again")]


def test_a_metadata_column_added_to_the_dag_is_added_to_the_table(warehouse):
    """Today: ``table … has no column named tier`` on the first load after the DAG changed."""
    before = RunContext("nightly", "scheduled__1", OLD_DATES[1], NOW, "load", -1)
    loader = loader_for(warehouse, ("segment",))
    loader.ensure_tables()
    loader.load(rec("b1", ["a", "b"], before).rows(), [], run=before)

    after = RunContext("nightly", "scheduled__2", OLD_DATES[2], NOW, "load", -1)
    grown = loader_for(warehouse, ("segment", "tier"))
    grown.ensure_tables()
    grown.load(rec("b2", ["a", "b"], after, {"segment": "x", "tier": "gold"}).rows(), [], run=after)
    got = warehouse.query(
        f"SELECT batch_id, custom_id, segment, tier FROM {warehouse.table('results')} "
        "ORDER BY batch_id, custom_id"
    )
    assert got == [
        ("b1", "a", "new", None),
        ("b1", "b", "new", None),
        ("b2", "a", "x", "gold"),
        ("b2", "b", "x", "gold"),
    ]
    # A DAG that still has the old column list keeps loading into the wider table.
    loader.ensure_tables()
    loader.load(rec("b3", ["c"], after).rows(), [], run=after)
    assert warehouse.count("results") == 5


def test_a_release_table_with_another_dags_metadata_keeps_it(warehouse):
    """Columns the new loader does not know (another DAG's metadata) survive the migration."""
    create_release_tables(warehouse)
    loader = loader_for(warehouse, ("tier",))
    loader.ensure_tables()
    results = warehouse.table("results")
    assert warehouse.query(f"SELECT COUNT(*) FROM {results} WHERE segment IS NOT NULL") == [(6,)]


def test_a_failed_migration_changes_nothing(warehouse, monkeypatch):
    """The migration is one transaction: a failure at its last step leaves 0.1.0's table. (MySQL
    and Snowflake commit every DDL statement: there the next load finishes the migration.)"""
    from airflow_provider_batch.warehouse.dialects.base import SqlDialect

    create_release_tables(warehouse)
    last_step = "RENAME TO" if warehouse.name in ("sqlite", "duckdb") else "ADD PRIMARY KEY"
    real_execute = SqlDialect.execute

    def failing(self, conn, sql, params=()):
        if last_step in sql:
            raise RuntimeError("injected")
        return real_execute(self, conn, sql, params)

    monkeypatch.setattr(SqlDialect, "execute", failing)
    with pytest.raises(RuntimeError, match="injected"):
        loader_for(warehouse).ensure_tables()
    # Snowflake commits each DDL statement and drops the old key in a statement of its own.
    assert key_of(warehouse, "results") == (
        () if warehouse.name == "snowflake" else ("batch_id", "custom_id")
    )
    assert warehouse.count("results") == 6
    if warehouse.name in ("mysql", "snowflake"):
        monkeypatch.undo()
        loader_for(warehouse).ensure_tables()
        assert key_of(warehouse, "results") == ("owner_key", "batch_id", "custom_id")
        results = warehouse.table("results")
        found = warehouse.query(
            f"SELECT COUNT(*) FROM {results} WHERE owner_key IS NOT NULL AND NOT superseded"
        )
        assert found == [(6,)]
        return
    assert len(warehouse.query(f"SELECT * FROM {warehouse.table('results')} LIMIT 1")[0]) == 20


# ---- a run submitted by 0.1.0, cleared after the upgrade -------------------------------------

CHAT = "/v1/chat/completions"


def _submit_as_release_0_1_0(server, path, dag_id, task_id, run_id):
    """What 0.1.0's submit did for a one-part input: upload under its identity-bearing file name
    (content de-duplicated), then create the batch. It kept no ledger."""
    import hashlib

    from airflow_provider_batch.client import ClientSettings, TogetherClient

    identity = hashlib.sha256("\x1f".join((dag_id, task_id, run_id, "-1")).encode()).hexdigest()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"apb-{identity[:12]}-{sha[:16]}-p0001.jsonl"
    with TogetherClient(ClientSettings(api_key=server.api_key, base_url=server.base_url)) as client:
        uploaded = client.files.upload(path, purpose="batch-api", filename=name, dedupe=True)
        return client.batches.create(uploaded.id, CHAT).job


def _ledger_in(warehouse, monkeypatch):
    """The submission ledger in the warehouse database (a fresh table), as ``ledger_conn_id``."""
    import uuid

    suffix = uuid.uuid4().hex[:10]
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__LEDGER_TABLE", warehouse.table(f"apb_sub_{suffix}"))
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__OUTCOME_TABLE", warehouse.table(f"apb_out_{suffix}"))
    return getattr(warehouse.hook, warehouse.hook.conn_name_attr)


@pytest.mark.timeout(120)
def test_a_run_submitted_by_0_1_0_is_found_again_after_the_upgrade(
    warehouse, together_server, together_connection, tmp_path, monkeypatch
):
    """Today: the ledger is empty for that run, so a clear after the upgrade pays for a second batch."""
    from airflow_provider_batch.ledger import TaskIdentity
    from airflow_provider_batch.ledger.location import get_ledger
    from airflow_provider_batch.operators.batch import TogetherBatchOperator
    from tests.airflow.apb_airflow_helpers import FakeTI, context, write_input

    ledger_conn_id = _ledger_in(warehouse, monkeypatch)
    path = write_input(tmp_path / "in.jsonl", 3)
    run = "scheduled__2026-11-30T00:00:00+00:00"
    old = _submit_as_release_0_1_0(together_server, path, "nightly", "submit", run)
    submit = TogetherBatchOperator(
        task_id="submit", input_path=str(path), wait_for_completion=False, ledger_conn_id=ledger_conn_id
    )

    def run_try(ti):
        submit.execute(context(ti))
        return ti.xcom["batch_ids"]

    # The upgrade, then a clear: Airflow's next try of the same task instance.
    assert run_try(FakeTI("nightly", "submit", run, try_number=2)) == [old.id]
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    (record,) = get_ledger(ledger_conn_id).records_for(TaskIdentity("nightly", "submit", run))
    assert (record.batch_id, record.input_file_id, record.state) == (old.id, old.input_file_id, "created")

    # Adopted: a later clear finds it in the ledger and lists nothing.
    listed = stats["requests"].get("GET /v1/files", 0)
    assert run_try(FakeTI("nightly", "submit", run, try_number=3)) == [old.id]
    assert together_server.stats()["requests"].get("GET /v1/files", 0) == listed

    # Byte-identical input in another run, or another map index of the same run, is not adopted.
    others = [FakeTI("nightly", "submit", "scheduled__2026-12-01T00:00:00+00:00", try_number=2),
              FakeTI("nightly", "submit", run, map_index=0, try_number=2)]  # fmt: skip
    for n, other in enumerate(others, start=2):
        (theirs,) = run_try(other)
        assert theirs != old.id
        assert together_server.stats()["batch_creates"] == n


DISTINCT_IDS = ["Item-A", "item-a", "Müller", "Muller", "x", "x "]


@pytest.mark.parametrize("tables", ["migrated", "fresh"])
def test_ids_that_differ_only_in_case_accents_or_trailing_spaces_keep_their_own_rows(warehouse, tables):
    """MySQL/MariaDB: a 0.1.0 table kept the database's default collation, which merged these
    pairs into one row each (one answer overwrote the other, and the task was green)."""
    if tables == "migrated":
        create_release_tables(warehouse)
    loader = loader_for(warehouse)
    loader.ensure_tables()
    run = RunContext("nightly", "manual__ids", OLD_DATES[1], NOW, "load", -1)
    for batch_id in ("Batch-X", "batch-x"):  # spend rows are keyed by batch_id alone
        loaded = rec(batch_id, DISTINCT_IDS, run)
        loader.load(loaded.rows(), [loaded.summary], run=run)
    ph = "?" if warehouse.name in ("sqlite", "bigquery", "duckdb") else "%s"
    results, summary = warehouse.table("results"), warehouse.table("summary")
    for batch_id in ("Batch-X", "batch-x"):
        got = warehouse.query(f"SELECT custom_id FROM {results} WHERE batch_id = {ph}", (batch_id,))
        assert sorted(c for (c,) in got) == sorted(DISTINCT_IDS)
        found = warehouse.query(f"SELECT batch_id FROM {summary} WHERE batch_id = {ph}", (batch_id,))
        assert found == [(batch_id,)]
    # Each id reads back its own answer: none overwrote another.
    got = dict(warehouse.query(f"SELECT custom_id, response_text FROM {results} WHERE batch_id = 'batch-x'"))
    assert sorted(got) == sorted(DISTINCT_IDS) and len(set(got.values())) == len(DISTINCT_IDS)


def test_a_release_table_with_a_view_and_a_trigger_is_migrated_around_them(warehouse):
    """SQLite rebuilds the table to change its key: a view on it failed the rename (``error in
    view …: no such table``, every later load too), and its triggers and indexes were dropped."""
    old = create_release_tables(warehouse)
    results = warehouse.table("results")
    view, audit = warehouse.table("answers"), warehouse.table("audit")
    with closing(warehouse.hook.get_conn()) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE VIEW {view} AS SELECT batch_id, custom_id, response_text FROM {results}")
        if warehouse.name == "sqlite":
            cur.execute(f"CREATE TABLE {audit} (custom_id TEXT)")
            cur.execute(
                f"CREATE TRIGGER results_audit AFTER INSERT ON {results} "
                f"BEGIN INSERT INTO {audit} VALUES (new.custom_id); END"
            )
            cur.execute(f"CREATE INDEX results_by_text ON {results} (response_text)")
        conn.commit()
        cur.close()

    loader = loader_for(warehouse)
    run = RunContext("nightly", "manual__view", OLD_DATES[1], NOW, "load", -1)
    loader.ensure_tables()
    loaded = rec("new-batch", ["n-0", "n-1"], run)
    loader.load(loaded.rows(), [loaded.summary], run=run)

    assert key_of(warehouse, "results") == ("owner_key", "batch_id", "custom_id")
    seen = warehouse.query(f"SELECT batch_id, custom_id FROM {view} ORDER BY batch_id, custom_id")
    assert seen == sorted([(b, c) for b, c, _ in old["rows"]] + [("new-batch", "n-0"), ("new-batch", "n-1")])
    if warehouse.name == "sqlite":
        kept = warehouse.query(
            "SELECT type, name FROM sqlite_master WHERE tbl_name = 'results' AND sql IS NOT NULL"
        )
        assert sorted(kept) == [
            ("index", "results_by_text"),
            ("table", "results"),
            ("trigger", "results_audit"),
        ]
        assert warehouse.query(f"SELECT custom_id FROM {audit} ORDER BY 1") == [("n-0",), ("n-1",)]


def _nightly_daily_stats(monkeypatch) -> Any:
    """The ``daily_stats`` step of the shipped nightly backfill example DAGs (on a hook)."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "dags_examples"))
    return importlib.import_module("_daily_stats").rebuild_daily_stats_on


def test_the_nightly_examples_daily_stats_run_on_the_warehouse_twice(warehouse, monkeypatch):
    """The nightly backfill on a MySQL/MariaDB warehouse: its ``daily_stats`` step failed on every
    run (``1170 BLOB/TEXT column 'day' used in key specification without a key length``), after
    the batch was paid for and its results loaded."""
    results = warehouse.table("ticket_summaries")
    loader = WarehouseLoader(
        warehouse.hook,
        results_table=results,
        summary_table=warehouse.table("ticket_batch_spend"),
        metadata_columns=["customer_tier"],
    )
    loader.ensure_tables()
    run = RunContext("together_nightly_backfill", "scheduled__2026-11-03", OLD_DATES[1], NOW, "load", -1)
    loaded = rec("b-1", ["T-1", "T-2", "T-3"], run, meta={"customer_tier": "enterprise"})
    loader.load(loaded.rows(), [loaded.summary], run=run)

    stats = warehouse.table("daily_ticket_stats")
    rebuild = _nightly_daily_stats(monkeypatch)
    for _ in range(2):  # the day's run, then a re-run of it
        rebuild(warehouse.hook, stats, results, "2026-11-03", run.run_id)
    got = warehouse.query(f"SELECT day, tickets, succeeded, failed, enterprise_tickets FROM {stats}")
    assert [tuple(int(v) if i else v for i, v in enumerate(row)) for row in got] == [
        ("2026-11-03", 3, 3, 0, 3)
    ]
