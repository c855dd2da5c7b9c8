"""A run owns its batches and its rows, through whole DAG runs (``dag.test()`` against the local
server): mapped shards, two DAGs, and two runs sharing one results table never overwrite or delete
each other's rows; a re-run that pays for a new batch keeps the old one in the spend table
(marked superseded) so the money spent is one SUM; a run without a logical date is refused for
``replace_logical_date`` before anything is downloaded; tables of release 0.1.0 and tables of a
DAG that gained a metadata column keep loading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from apb_pipeline_helpers import (
    load_dags,
    mysql_query,
    pg_query,
    rows,
    run_dag,
    seed_source,
    ti_states,
    when_batch_appears,
    xcom,
)

pytestmark = pytest.mark.timeout(240)

N = 12
DAY = datetime(2026, 5, 1, tzinfo=timezone.utc)
NEXT_DAY = datetime(2026, 5, 2, tzinfo=timezone.utc)


def _states(dag_run: Any) -> list[tuple[str, int, str]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.get(DagRun, dag_run.id).get_task_instances(session=session)
        return sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in found)


def _run_with(dag_id: str, work_dir: Any, logical_date: datetime | None, **params: Any) -> Any:
    from airflow.sdk import DAG

    (dag,) = [v for v in vars(load_dags()).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    return dag.test(logical_date=logical_date, run_conf={"work_dir": str(work_dir), **params})


def _spend_equals_current_rows(db: Any) -> None:
    """The spend table's sums equal the sums over the current (not superseded) result rows."""
    ((tokens, cost),) = rows(
        db, "SELECT SUM(total_tokens), SUM(cost_usd) FROM pipeline_results WHERE NOT superseded"
    )
    ((spend_tokens, spend),) = rows(
        db, "SELECT SUM(total_tokens), SUM(cost_usd_batch) FROM pipeline_summary WHERE NOT superseded"
    )
    assert spend_tokens == tokens > 0 and spend == pytest.approx(cost, abs=1e-9)


def _cancel_first_batch(server: Any) -> Any:
    server.configure(processing_seconds=4.0)
    return when_batch_appears(server, lambda batch_id: server.force_status(batch_id, "CANCELLED"),
                              min_progress=25)  # fmt: skip


def test_mapped_shards_in_replace_mode_keep_every_shard(pipeline: Any) -> None:
    """Mapped submit + mapped results into one table for one logical date: 12 paid, 12 kept."""
    seed_source(pipeline.source, N)
    dag_run = run_dag("apb_pipeline_mapped_replace", pipeline.work_dir, logical_date=DAY)
    assert [s for s in _states(dag_run) if s[0] == "results"] == [("results", i, "success") for i in range(3)]
    assert pipeline.server.stats()["batch_creates"] == 3
    wh = pipeline.warehouse
    assert rows(wh, "SELECT COUNT(*), COUNT(DISTINCT custom_id) FROM pipeline_results") == [(N, N)]
    assert rows(wh, "SELECT map_index, COUNT(*) FROM pipeline_results GROUP BY map_index") == [
        (0, 4),
        (1, 4),
        (2, 4),
    ]
    assert rows(wh, "SELECT COUNT(*), SUM(requests) FROM pipeline_summary WHERE NOT superseded") == [(3, N)]
    _spend_equals_current_rows(wh)


def test_two_dags_sharing_a_table_in_replace_mode(pipeline: Any) -> None:
    seed_source(pipeline.source, N)
    for dag_id in ("apb_pipeline_replace", "apb_pipeline_replace_b"):
        assert ti_states(run_dag(dag_id, pipeline.work_dir, logical_date=DAY))["results"] == ("success", 1)
    wh = pipeline.warehouse
    assert rows(wh, "SELECT dag_id, COUNT(*) FROM pipeline_results GROUP BY dag_id ORDER BY dag_id") == [
        ("apb_pipeline_replace", N),
        ("apb_pipeline_replace_b", N),
    ]
    assert rows(wh, "SELECT COUNT(*) FROM pipeline_summary WHERE NOT superseded") == [(2,)]
    _spend_equals_current_rows(wh)


def test_two_runs_loading_the_same_batch_keep_their_own_rows(pipeline: Any) -> None:
    """Two runs of one DAG load the same batch (identical custom_ids): each keeps its rows, with
    its own run id and logical date; the batch is one charge in the spend table."""
    seed_source(pipeline.source, N)
    first = run_dag("apb_pipeline", pipeline.work_dir, logical_date=DAY)
    (batch_id,) = xcom(first, "results")["batch_ids"]
    runs = [_run_with("apb_pipeline_existing_batch", pipeline.work_dir, day, batch_id=batch_id)
            for day in (DAY, NEXT_DAY)]  # fmt: skip
    assert [ti_states(r)["results"][0] for r in runs] == ["success", "success"]
    wh = pipeline.warehouse
    by_run = rows(wh, "SELECT dag_id, run_id, substr(logical_date, 1, 10), COUNT(*) FROM pipeline_results "
                      "GROUP BY dag_id, run_id ORDER BY dag_id, 3")  # fmt: skip
    assert by_run == [
        ("apb_pipeline", first.run_id, "2026-05-01", N),
        ("apb_pipeline_existing_batch", runs[0].run_id, "2026-05-01", N),
        ("apb_pipeline_existing_batch", runs[1].run_id, "2026-05-02", N),
    ]
    assert rows(wh, "SELECT batch_id, dag_id, run_id FROM pipeline_summary") == [
        (batch_id, "apb_pipeline", first.run_id)
    ]


@pytest.mark.parametrize("load_mode", ["replace_logical_date", "merge"])
def test_a_rerun_that_pays_for_a_new_batch_keeps_the_old_one_in_the_ledger(
    pipeline: Any, load_mode: str
) -> None:
    """Run 1's batch is cancelled part-way (its finished requests are loaded and billed); the
    re-run of that run pays for a new batch (``force_resubmit``). The old batch's spend row stays,
    marked superseded; in merge mode its result rows stay too, marked superseded."""
    server = pipeline.server
    seed_source(pipeline.source, N)
    dag_id = {"replace_logical_date": "apb_pipeline_resubmit_replace", "merge": "apb_pipeline_resubmit_merge"}
    watcher = _cancel_first_batch(server)
    first = run_dag(dag_id[load_mode], pipeline.work_dir, logical_date=DAY)
    watcher.join(timeout=10)
    assert ti_states(first)["submit"][0] == "failed" and ti_states(first)["results"][0] == "success"
    (old,) = xcom(first, "results")["batch_ids"]
    wh = pipeline.warehouse
    ((old_cost,),) = rows(wh, "SELECT cost_usd_batch FROM pipeline_summary WHERE batch_id = ?", old)
    assert old_cost > 0  # its finished requests were billed

    server.configure(processing_seconds=0.3)
    again = run_dag(dag_id[load_mode], pipeline.work_dir, logical_date=DAY)  # the same run, re-run
    assert again.run_id == first.run_id and ti_states(again)["results"][0] == "success"
    assert server.stats()["batch_creates"] == 2
    (new,) = xcom(again, "results")["batch_ids"]
    # Both batches were paid for: the money spent is one SUM over the spend table.
    spend = rows(wh, "SELECT batch_id, final_status FROM pipeline_summary ORDER BY final_status")
    assert spend == [(old, "CANCELLED"), (new, "COMPLETED")]
    ((total,),) = rows(wh, "SELECT SUM(cost_usd_batch) FROM pipeline_summary")
    ((new_cost,),) = rows(wh, "SELECT cost_usd_batch FROM pipeline_summary WHERE batch_id = ?", new)
    assert total == pytest.approx(old_cost + new_cost, abs=1e-12)
    marks = rows(wh, "SELECT batch_id, superseded, superseded_by FROM pipeline_summary ORDER BY superseded")
    assert marks == [(new, 0, None), (old, 1, new)]
    _spend_equals_current_rows(wh)
    current = rows(wh, "SELECT batch_id, COUNT(*) FROM pipeline_results WHERE NOT superseded GROUP BY 1")
    assert current == [(new, N)]
    superseded = rows(wh, "SELECT batch_id, superseded_by, COUNT(*) FROM pipeline_results WHERE superseded "
                          "GROUP BY 1, 2")  # fmt: skip
    assert superseded == ([] if load_mode == "replace_logical_date" else [(old, new, N)])


def test_an_earlier_batch_never_loaded_is_measured_into_the_ledger(pipeline: Any) -> None:
    """Run 1's batch is cancelled and its results task never runs; the re-run pays for a new
    batch. The first batch was billed for what it finished: the submission ledger names it, and
    the load measures it from its output file into the spend table, marked superseded."""
    server = pipeline.server
    seed_source(pipeline.source, N)
    watcher = _cancel_first_batch(server)
    first = run_dag("apb_pipeline_resubmit_unloaded", pipeline.work_dir, logical_date=DAY)
    watcher.join(timeout=10)
    assert ti_states(first)["results"][0] == "upstream_failed"
    server.configure(processing_seconds=0.3)
    again = run_dag("apb_pipeline_resubmit_unloaded", pipeline.work_dir, logical_date=DAY)
    assert ti_states(again)["results"][0] == "success"
    (old,) = [b["id"] for b in server.batches() if b["status"] == "CANCELLED"]
    wh = pipeline.warehouse
    assert rows(wh, "SELECT COUNT(*) FROM pipeline_summary WHERE batch_id = ?", old) == [(1,)]
    result = xcom(again, "results")
    assert result["superseded_batch_ids"] == [old]
    (new,) = result["batch_ids"]
    (measured,) = rows(wh, "SELECT final_status, requests, succeeded, cancelled, total_tokens, "
                           "cost_usd_batch, superseded, superseded_by FROM pipeline_summary "
                           "WHERE batch_id = ?", old)  # fmt: skip
    status, requests, succeeded, cancelled, tokens, cost, flag, by = measured
    assert (status, requests, succeeded + cancelled, flag, by) == ("CANCELLED", N, N, 1, new)
    assert succeeded > 0 and tokens > 0 and cost > 0
    assert rows(wh, "SELECT COUNT(*) FROM pipeline_results WHERE batch_id = ?", old) == [(0,)]
    _spend_equals_current_rows(wh)
    # The next load finds the row measured and leaves it as it is.
    again = run_dag("apb_pipeline_resubmit_unloaded", pipeline.work_dir, logical_date=DAY)
    assert ti_states(again)["results"][0] == "success" and server.stats()["batch_creates"] == 2
    assert rows(
        wh,
        "SELECT final_status, succeeded, total_tokens, cost_usd_batch, superseded, superseded_by "
        "FROM pipeline_summary WHERE batch_id = ?",
        old,
    ) == [(status, succeeded, tokens, cost, flag, by)]


def test_replace_mode_without_a_logical_date_is_refused_before_any_download(
    pipeline: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    seed_source(pipeline.source, N)
    made = run_dag("apb_pipeline", pipeline.work_dir, logical_date=DAY)
    (batch_id,) = xcom(made, "results")["batch_ids"]
    before = pipeline.server.stats()

    # The results operator refuses first thing: no batch is read, no file is downloaded.
    manual = _run_with("apb_pipeline_existing_batch_replace", pipeline.work_dir, None, batch_id=batch_id)
    assert manual.logical_date is None and ti_states(manual)["results"][0] == "failed"
    assert pipeline.server.stats()["requests"] == before["requests"]
    log = capfd.readouterr()
    assert "has no logical date" in log.out + log.err and "refused before any download" in log.out + log.err

    # The submit side refuses for its downstream results task: nothing is uploaded or paid for.
    manual = _run_with("apb_pipeline_replace", pipeline.work_dir, None)
    assert ti_states(manual)["submit"][0] == "failed" and ti_states(manual)["results"][0] == "upstream_failed"
    stats = pipeline.server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (before["uploads"], before["batch_creates"])
    log = capfd.readouterr()
    assert "refused before any upload" in log.out + log.err
    assert rows(pipeline.warehouse, "SELECT COUNT(*) FROM pipeline_results") == [(N,)]


def test_a_metadata_column_added_to_the_dag_keeps_loading(pipeline: Any) -> None:
    """Today: ``table pipeline_results has no column named tier``, after the batch was paid for."""
    seed_source(pipeline.source, N)
    assert ti_states(run_dag("apb_pipeline", pipeline.work_dir, logical_date=DAY))["results"][0] == "success"
    grown = run_dag("apb_pipeline_tier", pipeline.work_dir, logical_date=NEXT_DAY)
    assert ti_states(grown)["results"][0] == "success"
    assert rows(pipeline.warehouse, "SELECT dag_id, tier, COUNT(*) FROM pipeline_results GROUP BY 1, 2") == [
        ("apb_pipeline", None, N),
        ("apb_pipeline_tier", "gold", N),
    ]


def test_tables_of_release_0_1_0_are_migrated_by_the_first_load(pipeline: Any) -> None:
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    from tests.results._release_tables import create_release_tables
    from tests.results._warehouse import Warehouse

    wh = Warehouse("sqlite", SqliteHook(sqlite_conn_id="apb_pipeline_wh"), "")
    old = create_release_tables(wh, results="pipeline_results", summary="pipeline_summary")
    seed_source(pipeline.source, N)
    dag_run = run_dag("apb_pipeline", pipeline.work_dir, logical_date=DAY)
    assert ti_states(dag_run)["results"][0] == "success"
    db = pipeline.warehouse
    assert rows(db, "SELECT batch_id, custom_id, run_id FROM pipeline_results WHERE task_id IS NULL "
                    "ORDER BY 1, 2") == old["rows"]  # fmt: skip
    assert rows(db, "SELECT COUNT(*) FROM pipeline_results WHERE task_id = 'results'") == [(N,)]
    assert rows(db, "SELECT COUNT(*) FROM pipeline_summary") == [(3,)]
    pk = rows(db, "SELECT name FROM pragma_table_info('pipeline_results') WHERE pk > 0 ORDER BY pk")
    assert pk == [("owner_key",), ("batch_id",), ("custom_id",)]


def test_tables_of_release_0_1_0_are_migrated_on_a_database_server(pipeline: Any, server_table: Any) -> None:
    from tests.results._release_tables import create_release_tables
    from tests.results._warehouse import Warehouse

    db = server_table
    if db.dag_id.endswith("postgres"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        wh = Warehouse("postgres", PostgresHook(postgres_conn_id="apb_pipeline_pg"), "")
    else:
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        wh = Warehouse("mysql", MySqlHook(mysql_conn_id="apb_pipeline_mysql"), "")
    old = create_release_tables(wh, results=db.table, summary=f"{db.table}_summary")
    seed_source(pipeline.source, N)
    dag_run = run_dag(db.dag_id, pipeline.work_dir, logical_date=DAY, fresh=True)
    assert ti_states(dag_run)["results"][0] == "success"
    table, summary = db.quoted(db.table), db.quoted(f"{db.table}_summary")
    legacy = db.query(f"SELECT batch_id, custom_id, run_id FROM {table} WHERE task_id IS NULL ORDER BY 1, 2")
    assert legacy == old["rows"]
    assert db.query(f"SELECT COUNT(*) FROM {table} WHERE task_id = 'results'") == [(N,)]
    assert db.query(f"SELECT COUNT(*) FROM {summary}") == [(3,)]


#: The results tables' databases: file SQLite, the real PostgreSQL and the real MariaDB.
DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
            pytest.param("mysql", marks=pytest.mark.mysql)]  # fmt: skip


@dataclass
class _Target:
    dag_id: str
    results: str
    summary: str
    query: Callable[[str], list[tuple]]


def _target(request: pytest.FixtureRequest, pipeline: Any, db: str, dag_id: str) -> _Target:
    """Where ``dag_id`` loads on ``db`` (its ``_postgres`` / ``_mysql`` twin on a server)."""
    if db == "sqlite":
        return _Target(dag_id, "pipeline_results", "pipeline_summary",
                       lambda sql: rows(pipeline.warehouse, sql))  # fmt: skip
    table = request.getfixturevalue("pg_table" if db == "postgres" else "mysql_table")
    quote = '"{}"' if db == "postgres" else "`{}`"
    query = pg_query if db == "postgres" else mysql_query
    return _Target(f"{dag_id}_{db}", quote.format(table), quote.format(f"{table}_summary"), query)


def _current_sums_agree(t: _Target) -> None:
    """The spend table's current sums equal the current result rows' (tokens and cost)."""
    ((tokens, cost),) = t.query(
        f"SELECT SUM(total_tokens), SUM(cost_usd) FROM {t.results} WHERE NOT superseded"
    )
    ((spend_tokens, spend),) = t.query(
        f"SELECT SUM(total_tokens), SUM(cost_usd_batch) FROM {t.summary} WHERE NOT superseded"
    )
    assert int(spend_tokens) == int(tokens) > 0 and float(spend) == pytest.approx(float(cost), abs=1e-9)


def _run_shards(dag_id: str, work_dir: Any, shards: int, *, fresh: bool = False) -> Any:
    from airflow.sdk import DAG

    (dag,) = [v for v in vars(load_dags(fresh)).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    return dag.test(logical_date=DAY, run_after=DAY, run_conf={"work_dir": str(work_dir), "shards": shards})


@pytest.mark.parametrize("db", DIALECTS)
def test_a_rerun_of_a_date_with_fewer_shards_replaces_what_every_shard_wrote(
    pipeline: Any, request: pytest.FixtureRequest, db: str
) -> None:
    """The README's large-job pattern in replace mode: 3 shards, then the date re-run as 2 shards
    over the same 12 custom_ids. Map index 2's old rows and spend no longer count: every request
    has one current answer, and the current spend is the 12 requests' (it counted 16)."""
    seed_source(pipeline.source, N)
    t = _target(request, pipeline, db, "apb_pipeline_mapped_replace")
    first = _run_shards(t.dag_id, pipeline.work_dir, 3, fresh=True)
    assert [s for s in _states(first) if s[0] == "results"] == [("results", i, "success") for i in range(3)]
    again = _run_shards(t.dag_id, pipeline.work_dir, 2)
    assert again.run_id == first.run_id
    assert [s for s in _states(again) if s[0] == "results"] == [("results", i, "success") for i in range(2)]
    assert pipeline.server.stats()["batch_creates"] == 5  # 3, then 2 (new inputs)

    current = f"FROM {t.results} WHERE NOT superseded"
    assert t.query(f"SELECT COUNT(*), COUNT(DISTINCT custom_id) {current}") == [(N, N)]
    by_shard = t.query(f"SELECT map_index, COUNT(*) {current} GROUP BY map_index ORDER BY map_index")
    assert [tuple(int(v) for v in r) for r in by_shard] == [(0, N // 2), (1, N // 2)]
    ((batches, requests),) = t.query(f"SELECT COUNT(*), SUM(requests) FROM {t.summary} WHERE NOT superseded")
    assert (int(batches), int(requests)) == (2, N)
    assert t.query(f"SELECT COUNT(*) FROM {t.summary}") == [(5,)]  # no billed batch is forgotten
    _current_sums_agree(t)


@pytest.mark.parametrize("db", DIALECTS)
def test_a_cleared_merge_run_whose_input_changed_keeps_spend_equal_to_current_rows(
    pipeline: Any, request: pytest.FixtureRequest, db: str
) -> None:
    """Day 1 loads r0..r11 from batch B1; the input then drops one request and gains another,
    and the run is cleared: B2 is paid for. B1 is replaced as a whole, its spend row as its rows
    (the dropped request's answer stays in the table, superseded), so the current spend equals
    the current rows' cost, and B1's billed total stays in the ledger."""
    import sqlite3

    seed_source(pipeline.source, N)
    t = _target(request, pipeline, db, "apb_pipeline")
    dag_id, results, summary, query = t.dag_id, t.results, t.summary, t.query
    first = run_dag(dag_id, pipeline.work_dir, logical_date=DAY, fresh=db != "sqlite")
    (old,) = xcom(first, "results")["batch_ids"]
    ((billed,),) = query(f"SELECT cost_usd_batch FROM {summary}")
    with sqlite3.connect(pipeline.source) as conn:  # the input drops row-2 and gains row-12
        conn.execute("DELETE FROM source_rows WHERE id = 2")
        conn.execute("INSERT INTO source_rows VALUES (12, 'What is 12 times 12?', 'retail')")
    conn.close()

    again = run_dag(dag_id, pipeline.work_dir, logical_date=DAY)  # the run, cleared
    assert again.run_id == first.run_id and ti_states(again)["results"][0] == "success"
    (new,) = xcom(again, "results")["batch_ids"]
    assert new != old and pipeline.server.stats()["batch_creates"] == 2
    _current_sums_agree(t)
    current = query(f"SELECT batch_id, custom_id FROM {results} WHERE NOT superseded ORDER BY custom_id")
    assert current == sorted((new, f"row-{n}") for n in (*range(2), *range(3, N + 1)))
    kept = query(f"SELECT superseded_by, COUNT(*) FROM {results} WHERE batch_id = '{old}' GROUP BY 1")
    assert kept == [(new, N)]  # every old answer stays, row-2's included, superseded by the new batch
    spend = query(
        f"SELECT batch_id, superseded, superseded_by, cost_usd_batch FROM {summary} ORDER BY superseded"
    )
    assert [(b, bool(s), by) for b, s, by, _ in spend] == [(new, False, None), (old, True, new)]
    assert float(spend[1][3]) == pytest.approx(float(billed))  # the billed total is never forgotten
