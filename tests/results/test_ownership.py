"""A task instance owns the rows it loads: runs, DAGs and map indexes sharing one table never
overwrite or delete each other's rows; superseded answers stay visible; the spend table never
forgets a batch. WarehouseLoader on file SQLite and on the real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_batch.results import (
    ExpectedRequest,
    RunContext,
    WarehouseLoader,
    parse_output_line,
    reconcile,
)
from airflow_provider_batch.results.models import owner_key
from tests.results._data import MODEL, success_line

D1 = datetime(2026, 3, 1, tzinfo=timezone.utc)
D2 = datetime(2026, 3, 2, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 3, 4, 0, tzinfo=timezone.utc)
T2 = datetime(2026, 3, 3, 5, 0, tzinfo=timezone.utc)


def ti(dag_id="nightly", run_id="scheduled__1", logical_date=D1, *, task_id="load", map_index=-1, at=T1):
    return RunContext(dag_id, run_id, logical_date, at, task_id, map_index)


def rec(batch_id, ids, run, *, text="answer"):
    expected = [ExpectedRequest(cid, MODEL, {"segment": "s"}) for cid in ids]
    outputs = []
    for i, cid in enumerate(ids):
        line = success_line(cid, i + len(batch_id))
        line["response"]["body"]["choices"][0]["message"]["content"] = f"{text} {cid}"
        outputs.append(parse_output_line(line))
    return reconcile(expected, outputs, [], batch_id=batch_id, batch_status="COMPLETED", run=run)


def load(loader, reconciliation, run, mode="merge"):
    logical_date = run.logical_date if mode == "replace_logical_date" else None
    return loader.load(
        reconciliation.rows(), [reconciliation.summary], mode=mode, logical_date=logical_date, run=run
    )


@pytest.fixture
def loader(warehouse):
    loader = WarehouseLoader(
        warehouse.hook,
        results_table=warehouse.table("results"),
        summary_table=warehouse.table("summary"),
        metadata_columns=["segment"],
    )
    loader.ensure_tables()
    return loader


def rows(wh, columns="batch_id, custom_id, run_id", where="1 = 1"):
    got = wh.query(f"SELECT {columns} FROM {wh.table('results')} WHERE {where} ORDER BY {columns}")
    return [tuple(bool(v) if isinstance(v, bool) else v for v in r) for r in got]


def spend(wh, columns="batch_id, superseded, superseded_by"):
    got = wh.query(f"SELECT {columns} FROM {wh.table('summary')} ORDER BY batch_id")
    names = columns.split(", ")
    return [tuple(bool(v) if k == "superseded" else v for k, v in zip(names, r, strict=True)) for r in got]


def sums_match(wh):
    """The spend table's sums equal the sums over current (not superseded) result rows."""
    ((rt, rc),) = wh.query(
        f"SELECT SUM(total_tokens), SUM(cost_usd) FROM {wh.table('results')} WHERE NOT superseded"
    )
    ((st, sc),) = wh.query(
        f"SELECT SUM(total_tokens), SUM(cost_usd_batch) FROM {wh.table('summary')} WHERE NOT superseded"
    )
    assert st == rt and float(sc) == pytest.approx(float(rc), abs=1e-9)


def total_spend(wh):
    return float(wh.query(f"SELECT SUM(cost_usd_batch) FROM {wh.table('summary')}")[0][0])


def test_two_runs_loading_the_same_batch_keep_their_own_rows(warehouse, loader):
    """Today's key (batch_id, custom_id) let the second run take over the first run's rows."""
    first, second = ti(run_id="scheduled__1", logical_date=D1), ti(run_id="scheduled__2", logical_date=D2)
    load(loader, rec("b-shared", ["a", "b"], first), first)
    load(loader, rec("b-shared", ["a", "b"], second), second)
    assert rows(warehouse, "batch_id, custom_id, run_id") == [
        ("b-shared", "a", "scheduled__1"),
        ("b-shared", "a", "scheduled__2"),
        ("b-shared", "b", "scheduled__1"),
        ("b-shared", "b", "scheduled__2"),
    ]
    # One batch is one charge: one spend row, kept by the run that loaded it first.
    assert spend(warehouse, "batch_id, run_id, task_id") == [("b-shared", "scheduled__1", "load")]
    assert warehouse.count("summary") == 1


def test_two_runs_with_identical_custom_ids_in_replace_mode(warehouse, loader):
    first, second = ti(run_id="scheduled__1", logical_date=D1), ti(run_id="scheduled__2", logical_date=D2)
    load(loader, rec("b1", ["a", "b"], first), first, "replace_logical_date")
    load(loader, rec("b2", ["a", "b"], second), second, "replace_logical_date")
    assert rows(warehouse, "batch_id, custom_id") == [("b1", "a"), ("b1", "b"), ("b2", "a"), ("b2", "b")]
    assert spend(warehouse) == [("b1", False, None), ("b2", False, None)]


def test_replace_mode_keeps_every_mapped_shard(warehouse, loader):
    """Mapped submit + mapped results, one logical date: 12 requests paid, 12 rows kept."""
    shards = [ti(map_index=i) for i in range(3)]
    for i, shard in enumerate(shards):
        stats = load(
            loader,
            rec(f"b-shard-{i}", [f"r{4 * i + k}" for k in range(4)], shard),
            shard,
            "replace_logical_date",
        )
        assert stats.deleted_rows == 0
    assert warehouse.count("results") == 12 and warehouse.count("summary") == 3
    assert rows(warehouse, "map_index, COUNT(*)", "1 = 1 GROUP BY map_index") == [(0, 4), (1, 4), (2, 4)]
    # Re-running shard 1 with a new batch replaces shard 1 only; its old batch stays in the ledger.
    again = ti(map_index=1, at=T2)
    stats = load(
        loader, rec("b-shard-1-again", [f"r{4 + k}" for k in range(4)], again), again, "replace_logical_date"
    )
    assert stats.deleted_rows == 4
    assert rows(warehouse, "batch_id, COUNT(*)", "1 = 1 GROUP BY batch_id") == [
        ("b-shard-0", 4),
        ("b-shard-1-again", 4),
        ("b-shard-2", 4),
    ]
    assert spend(warehouse) == [
        ("b-shard-0", False, None),
        ("b-shard-1", True, "b-shard-1-again"),
        ("b-shard-1-again", False, None),
        ("b-shard-2", False, None),
    ]
    sums_match(warehouse)


def test_two_dags_sharing_a_table_in_replace_mode(warehouse, loader):
    tickets, invoices = ti(dag_id="tickets"), ti(dag_id="invoices")
    load(loader, rec("b-tickets", ["1", "2", "3"], tickets), tickets, "replace_logical_date")
    load(loader, rec("b-invoices", ["1", "2"], invoices), invoices, "replace_logical_date")
    assert rows(warehouse, "dag_id, COUNT(*)", "1 = 1 GROUP BY dag_id") == [("invoices", 2), ("tickets", 3)]
    assert spend(warehouse) == [("b-invoices", False, None), ("b-tickets", False, None)]
    # And the same task id of another DAG, or another task of this DAG, is another owner too.
    other_task = ti(dag_id="tickets", task_id="load_again")
    load(loader, rec("b-tickets-2", ["1"], other_task), other_task, "replace_logical_date")
    assert warehouse.count("results") == 6


def test_a_manual_rerun_of_the_same_date_replaces_the_scheduled_run(warehouse, loader):
    scheduled, manual = ti(run_id="scheduled__1"), ti(run_id="manual__1", at=T2)
    load(loader, rec("b-scheduled", ["a", "b", "c"], scheduled), scheduled, "replace_logical_date")
    stats = load(loader, rec("b-manual", ["a", "b", "c"], manual), manual, "replace_logical_date")
    assert (stats.deleted_rows, stats.deleted_summaries, stats.superseded_summaries) == (3, 0, 1)
    assert rows(warehouse, "batch_id, custom_id, run_id") == [
        ("b-manual", "a", "manual__1"),
        ("b-manual", "b", "manual__1"),
        ("b-manual", "c", "manual__1"),
    ]
    assert spend(warehouse, "batch_id, superseded, superseded_by, run_id") == [
        ("b-manual", False, None, "manual__1"),
        ("b-scheduled", True, "b-manual", "scheduled__1"),
    ]
    sums_match(warehouse)
    assert total_spend(warehouse) > float(
        warehouse.query(f"SELECT SUM(cost_usd) FROM {warehouse.table('results')}")[0][0]
    )


def test_a_rerun_with_a_new_batch_supersedes_in_merge_mode(warehouse, loader):
    run = ti()
    load(loader, rec("b1", ["a", "b", "c"], run, text="first"), run)
    again = ti(at=T2)
    stats = load(loader, rec("b2", ["a", "b", "c"], again, text="second"), again)
    assert (stats.superseded_rows, stats.superseded_summaries) == (3, 1)
    assert rows(warehouse, "batch_id, custom_id, superseded, superseded_by") == [
        ("b1", "a", True, "b2"),
        ("b1", "b", True, "b2"),
        ("b1", "c", True, "b2"),
        ("b2", "a", False, None),
        ("b2", "b", False, None),
        ("b2", "c", False, None),
    ]
    current = rows(warehouse, "custom_id, response_text", "NOT superseded")
    assert current == [("a", "second a"), ("b", "second b"), ("c", "second c")]
    marked_at = warehouse.query(
        f"SELECT DISTINCT superseded_at FROM {warehouse.table('results')} WHERE superseded"
    )
    assert [str(v[0])[:16] for v in marked_at] in (["2026-03-03T05:00"], ["2026-03-03 05:00"])
    assert spend(warehouse) == [("b1", True, "b2"), ("b2", False, None)]
    sums_match(warehouse)
    # Both batches were paid for: the ledger's total is both.
    both = sum(rec(b, ["a", "b", "c"], run).summary.cost_usd_batch for b in ("b1", "b2"))
    assert total_spend(warehouse) == pytest.approx(both, abs=1e-9)
    # Loading b1 again makes it current again, and b2 the superseded one.
    third = ti(at=T2)
    load(loader, rec("b1", ["a", "b", "c"], third, text="first"), third)
    assert rows(warehouse, "batch_id, superseded", "custom_id = 'a'") == [("b1", False), ("b2", True)]
    assert spend(warehouse) == [("b1", False, None), ("b2", True, "b1")]
    sums_match(warehouse)


def test_superseding_never_reaches_another_owner(warehouse, loader):
    mine, other = ti(run_id="scheduled__1"), ti(run_id="scheduled__2", logical_date=D2)
    load(loader, rec("b1", ["a", "b"], mine), mine)
    load(loader, rec("b-other", ["a", "b"], other), other)
    load(loader, rec("b2", ["a", "b"], mine), mine)
    assert rows(warehouse, "run_id, batch_id, superseded") == [
        ("scheduled__1", "b1", True),
        ("scheduled__1", "b1", True),
        ("scheduled__1", "b2", False),
        ("scheduled__1", "b2", False),
        ("scheduled__2", "b-other", False),
        ("scheduled__2", "b-other", False),
    ]
    assert spend(warehouse) == [("b-other", False, None), ("b1", True, "b2"), ("b2", False, None)]


def test_a_follow_up_batch_of_a_superseded_batch_is_superseded_too(warehouse, loader):
    run = ti()
    first = list(rec("b1", ["a", "b"], run).rows())
    follow_up = rec("f1", ["b"], run)
    answered = [first[0], first[1]._replace(answered_by_batch_id="f1", attempts=2)]
    loader.load(answered, [rec("b1", ["a", "b"], run).summary, follow_up.summary], run=run)
    load(loader, rec("b2", ["a", "b"], ti(at=T2)), ti(at=T2))
    assert spend(warehouse) == [("b1", True, "b2"), ("b2", False, None), ("f1", True, "b2")]


def test_earlier_batches_of_the_submission_are_marked_in_the_ledger(warehouse, loader):
    """The results operator passes the submission ledger's earlier batches as ``superseded``."""
    run = ti()
    never_loaded = rec("b0", ["a", "b"], run).summary
    measured = type(never_loaded)(
        **{
            **{f: getattr(never_loaded, f) for f in never_loaded.__slots__},
            "superseded": True,
            "superseded_by": "b2",
            "superseded_at": T1,
        }
    )
    current = rec("b2", ["a", "b"], run)
    stats = loader.load(current.rows(), [current.summary, measured], run=run, superseded={"b0": "b2"})
    assert spend(warehouse) == [("b0", True, "b2"), ("b2", False, None)]
    assert stats.summaries == 2
    sums_match(warehouse)


def test_spend_rows_are_never_deleted_in_either_mode(warehouse, loader):
    for i in range(3):
        run = ti(run_id=f"manual__{i}", at=T2)
        load(loader, rec(f"b{i}", ["a"], run), run, "replace_logical_date" if i % 2 else "merge")
    assert warehouse.count("summary") == 3


def test_owner_key_is_the_documented_hash():
    assert owner_key("nightly", "load", "scheduled__1", -1) == ti().owner_key
    assert len(ti().owner_key) == 32 and ti().owner_key != ti(map_index=0).owner_key
    assert ti().legacy_key == owner_key("nightly", None, "scheduled__1", None)


def test_a_rerun_with_fewer_shards_replaces_the_shard_it_no_longer_has(warehouse, loader):
    """3 shards, then the same run re-run as 2 over the same ids: map index 2's old rows go and
    its spend row is marked; the two new shards never delete each other's fresh rows."""
    ids = [f"r{n}" for n in range(12)]
    for i in range(3):
        shard = ti(map_index=i)
        load(loader, rec(f"old-{i}", ids[i::3], shard), shard, "replace_logical_date")
    for i in range(2):
        shard = ti(map_index=i, at=T2)._replace(map_indexes=(0, 1))
        load(loader, rec(f"new-{i}", ids[i::2], shard), shard, "replace_logical_date")
    assert rows(warehouse, "map_index, batch_id, COUNT(*)", "1 = 1 GROUP BY map_index, batch_id") == [
        (0, "new-0", 6),
        (1, "new-1", 6),
    ]
    assert [s for s in spend(warehouse) if not s[1]] == [("new-0", False, None), ("new-1", False, None)]
    assert warehouse.count("summary") == 5
    sums_match(warehouse)


def test_another_run_of_the_date_replaces_every_shard_but_its_own_run_keeps_siblings(warehouse, loader):
    for i in range(2):
        shard = ti(map_index=i)
        load(loader, rec(f"scheduled-{i}", [f"r{i}"], shard), shard, "replace_logical_date")
    # A manual run of the date with one shard: the scheduled run's shards are all replaced.
    manual = ti(run_id="manual__1", map_index=0, at=T2)  # expansion unknown (None)
    load(loader, rec("manual-0", ["r0", "r1"], manual), manual, "replace_logical_date")
    assert rows(warehouse, "batch_id, map_index, run_id") == [("manual-0", 0, "manual__1")] * 2
    # Its sibling shard of the same run (expansion unknown) keeps the fresh rows of map index 0.
    sibling = ti(run_id="manual__1", map_index=1, at=T2)
    load(loader, rec("manual-1", ["r2"], sibling), sibling, "replace_logical_date")
    assert rows(warehouse, "batch_id, COUNT(*)", "1 = 1 GROUP BY batch_id") == [
        ("manual-0", 2),
        ("manual-1", 1),
    ]
    sums_match(warehouse)


def test_the_current_expansion_leaves_out_removed_map_indexes():
    from airflow_provider_batch.collect.plan import current_map_indexes

    class FakeTI:
        @staticmethod
        def get_task_states(dag_id, task_ids, run_ids):
            assert (dag_id, task_ids, run_ids) == ("nightly", ["load"], ["scheduled__1"])
            states = {"load_0": "success", "load_1": "running", "load_2": "removed", "load_x_3": "success"}
            return {"scheduled__1": {**states, "load": "success", "other_4": "success"}}

    assert current_map_indexes(FakeTI(), ti(map_index=1)) == (0, 1)
    assert current_map_indexes(FakeTI(), ti(map_index=-1)) == (-1,)
    assert current_map_indexes(object(), ti(map_index=1)) is None  # Airflow cannot say: owner only


def test_a_batch_answered_again_in_part_is_superseded_as_a_whole(warehouse, loader):
    """Merge mode: b1 answered a, b, c; the re-run's b2 answers a, b, d (the input dropped c).
    b1's spend row is marked, and so is its row c, so both tables' current sums agree; c's
    answer stays visible, and loading b1 again makes it current again, as a whole."""
    run, again = ti(at=T1), ti(at=T2)
    load(loader, rec("b1", ["a", "b", "c"], run), run)
    stats = load(loader, rec("b2", ["a", "b", "d"], again), again)
    assert stats.superseded_rows == 3
    assert rows(warehouse, "batch_id, custom_id, superseded, superseded_by", "1 = 1") == [
        ("b1", "a", True, "b2"), ("b1", "b", True, "b2"), ("b1", "c", True, "b2"),
        ("b2", "a", False, None), ("b2", "b", False, None), ("b2", "d", False, None),
    ]  # fmt: skip
    assert spend(warehouse) == [("b1", True, "b2"), ("b2", False, None)]
    sums_match(warehouse)
    load(loader, rec("b1", ["a", "b", "c"], run), ti(at=T2))
    assert rows(warehouse, "batch_id, custom_id", "NOT superseded") == [("b1", "a"), ("b1", "b"), ("b1", "c")]
    assert spend(warehouse) == [("b1", False, None), ("b2", True, "b1")]
    sums_match(warehouse)
