"""The ledger's monitoring reads (the "Together batches" page): filters, paging, daily spend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_batch.ledger import BatchQuery, SubmissionLedger, SubmissionRecord, TaskIdentity
from tests.airflow.test_ledger_outcomes import WHEN, _outcome
from tests.airflow.test_ledger_outcomes import ledger as ledger


def _batch(
    ledger: SubmissionLedger, dag_id: str, run_id: str, batch_id: str, *, task_id: str = "submit",
    map_index: int = -1, part: int = 0, status: str = "IN_PROGRESS", model: str = "m/a",
) -> SubmissionRecord:  # fmt: skip
    record = ledger.open(
        TaskIdentity(dag_id, task_id, run_id, map_index), part_index=part, part_sha256=f"{part:064d}",
        generation=0, request_count=10, endpoint="/v1/chat/completions", together_conn_id="together",
        model=model, estimated_cost_usd=0.01,
    )  # fmt: skip
    return ledger.record_batch(record, batch_id, WHEN, status)


@pytest.fixture
def filled(ledger: SubmissionLedger) -> SubmissionLedger:
    _batch(ledger, "nightly", "run-1", "b1", status="COMPLETED")
    _batch(ledger, "nightly", "run-2", "b2", map_index=0)
    _batch(ledger, "nightly", "run-2", "b3", map_index=1, part=1)
    _batch(ledger, "secret", "run-1", "b4")
    # A part that never got a batch is not shown.
    ledger.open(TaskIdentity("nightly", "submit", "run-3"), part_index=0, part_sha256="f" * 64,
                generation=0, request_count=1, endpoint="/v1/chat/completions",
                together_conn_id="together")  # fmt: skip
    return ledger


def _ids(ledger: SubmissionLedger, **query: object) -> list[str | None]:
    return [r.batch_id for r in ledger.find_batches(BatchQuery.model_validate(query))]


def test_every_batch_newest_first(filled: SubmissionLedger) -> None:
    assert _ids(filled) == ["b4", "b3", "b2", "b1"]
    assert filled.dag_ids() == {"nightly", "secret"}


def test_filters_by_dag_run_task_map_index_and_status(filled: SubmissionLedger) -> None:
    assert _ids(filled, dag_id="nightly", run_id="run-2") == ["b3", "b2"]
    assert _ids(filled, dag_id="nightly", run_id="run-2", task_id="submit", map_index=1) == ["b3"]
    assert _ids(filled, status="COMPLETED") == ["b1"]
    assert _ids(filled, task_id="other") == []


def test_only_the_dags_a_reader_may_see(filled: SubmissionLedger) -> None:
    assert _ids(filled, dag_ids=frozenset({"secret"})) == ["b4"]
    assert _ids(filled, dag_ids=frozenset()) == []
    assert _ids(filled, dag_ids=frozenset({"nightly"}), dag_id="secret") == []


def test_paging_and_dates(filled: SubmissionLedger) -> None:
    assert _ids(filled, limit=2) == ["b4", "b3"]
    assert _ids(filled, limit=2, offset=2) == ["b2", "b1"]
    now = datetime.now(tz=timezone.utc)
    assert len(_ids(filled, since=now - timedelta(hours=1))) == 4
    assert _ids(filled, until=now - timedelta(hours=1)) == []


def test_daily_spend_per_model_counts_a_batch_once(ledger: SubmissionLedger) -> None:
    _batch(ledger, "nightly", "run-1", "b1", model="m/a")
    _batch(ledger, "nightly", "run-2", "b2", model="m/b")
    _batch(ledger, "secret", "run-1", "b3", model="m/a")
    ledger.record_outcome(_outcome("b1"))
    # The same batch loaded into a second table: spent once.
    ledger.record_outcome(_outcome("b1", task_id="copy", results_table="copy", loaded_at=WHEN))
    ledger.record_outcome(_outcome("b2", failed=1))
    ledger.record_outcome(_outcome("b3", loaded_at=WHEN + timedelta(days=1)))
    days = ledger.daily_spend(since=WHEN - timedelta(days=1))
    got = [(d.day, d.model, d.batches, d.requests, d.failed) for d in days]
    assert got == [
        ("2026-11-30", "m/a", 1, 10, 2),
        ("2026-11-30", "m/b", 1, 10, 1),
        ("2026-12-01", "m/a", 1, 10, 2),
    ]
    assert days[0].cost_usd_batch == pytest.approx(0.0015)
    assert days[0].savings_usd == pytest.approx(0.0015)
    visible = ledger.daily_spend(since=WHEN - timedelta(days=1), dag_ids=frozenset({"nightly"}))
    assert [d.day for d in visible] == ["2026-11-30", "2026-11-30"]
    assert ledger.daily_spend(since=WHEN, until=WHEN + timedelta(hours=1))[0].day == "2026-11-30"
    assert ledger.daily_spend(since=WHEN + timedelta(days=2)) == []


def _as_created_before(ledger: SubmissionLedger) -> SubmissionLedger:
    """The same tables as an earlier release left them: on MySQL/MariaDB with the database's
    default collation (case-, accent- and trailing-space-insensitive); a new ledger on them."""
    ledger.ensure()
    if ledger.dialect == "mysql":
        conn = ledger._connect()
        try:
            cur = conn.cursor()
            for table in (ledger.table, ledger.outcome_table):
                cur.execute(
                    f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
            conn.commit()
        finally:
            conn.close()
    return SubmissionLedger(
        ledger._connect, dialect=ledger.dialect, table=ledger.table, outcome_table=ledger.outcome_table
    )


@pytest.mark.parametrize("tables", ["fresh", "created_before"])
def test_a_reader_sees_exactly_the_dags_allowed_whatever_their_case(
    ledger: SubmissionLedger, tables: str
) -> None:
    """MySQL/MariaDB compared dag_id case-insensitively: a user allowed only ``alice_nightly``
    was shown ``Alice_Nightly``'s batches, or nothing when DISTINCT picked the other spelling."""
    if tables == "created_before":
        ledger = _as_created_before(ledger)
    dags = {"alice_nightly": "b-alice", "Alice_Nightly": "b-other", "Müller": "b-umlaut", "Muller": "b-plain",
            "x": "b-x", "x ": "b-x-space"}  # fmt: skip
    for dag_id, batch_id in dags.items():
        _batch(ledger, dag_id, "run-1", batch_id)
    assert ledger.dag_ids() == set(dags)
    for dag_id, batch_id in dags.items():
        assert _ids(ledger, dag_ids=frozenset({dag_id})) == [batch_id]
        assert _ids(ledger, dag_id=dag_id) == [batch_id]
    # Outcomes are keyed by batch id and read back by it: another spelling is another batch.
    ledger.record_outcome(_outcome("b-alice", dag_id="alice_nightly"))
    ledger.record_outcome(_outcome("B-ALICE", dag_id="Alice_Nightly"))
    assert [o.dag_id for o in ledger.outcomes_for(["b-alice"])] == ["alice_nightly"]
    spend = ledger.daily_spend(since=WHEN - timedelta(days=1), dag_ids=frozenset({"alice_nightly"}))
    assert [(d.batches, d.requests) for d in spend] == [(1, 10)]


def test_the_status_filter_finds_what_the_page_shows(ledger: SubmissionLedger) -> None:
    """The page shows a batch's newest load's final status, else the last status a task saw;
    the filter matched only the status written at create, so finished batches stayed VALIDATING."""
    _batch(ledger, "nightly", "run-1", "loaded", status="VALIDATING")
    ledger.record_outcome(_outcome("loaded"))  # loaded COMPLETED; last_status never updated
    _batch(ledger, "nightly", "run-2", "seen", status="VALIDATING")
    ledger.record_status("seen", "in_progress", 42.5)  # a vendor's own spelling
    _batch(ledger, "nightly", "run-3", "waiting", status="VALIDATING")
    assert _ids(ledger, status="COMPLETED") == ["loaded"]
    assert _ids(ledger, status="IN_PROGRESS") == ["seen"]
    assert _ids(ledger, status="in_progress") == ["seen"]
    assert _ids(ledger, status="VALIDATING") == ["waiting"]
    seen = ledger.by_batch("seen")
    assert seen is not None and (seen.last_status, seen.last_progress) == ("IN_PROGRESS", 42.5)


def test_follow_ups_are_listed_under_their_parent_and_by_vendor(ledger: SubmissionLedger) -> None:
    _batch(ledger, "nightly", "run-1", "parent")
    for n, task in enumerate(("results.follow_up_1", "results.follow_up_2")):
        record = ledger.open(
            TaskIdentity("nightly", task, "run-1"), part_index=0, part_sha256=f"{n:064d}", generation=0,
            request_count=2, endpoint="/v1/chat/completions", together_conn_id="openai_conn",
            model="m/a", estimated_cost_usd=0.002, vendor="openai", parent_batch_id="parent",
        )  # fmt: skip
        ledger.record_batch(record, f"child-{n}", WHEN, "VALIDATING")
    assert _ids(ledger, top_level=True) == ["parent"]
    children = ledger.follow_ups_of(["parent"], dag_ids=frozenset({"nightly"}))
    assert [r.batch_id for r in children["parent"]] == ["child-0", "child-1"]
    assert children["parent"][0].model == "m/a" and children["parent"][0].estimated_cost_usd == 0.002
    assert ledger.follow_ups_of(["parent"], dag_ids=frozenset({"other"})) == {}
    # Rows older than the vendor column are Together's.
    assert _ids(ledger, vendor="together") == ["parent"]
    assert sorted(_ids(ledger, vendor="openai")) == ["child-0", "child-1"]


def test_spend_by_logical_date_vendor_and_model_follows_the_filters(ledger: SubmissionLedger) -> None:
    """A three-date backfill loaded on one day is three days by logical date, one by load date;
    the page's filters narrow the spend as they narrow the batches."""
    for n, vendor in enumerate(("together", "openai", "openai")):
        record = ledger.open(
            TaskIdentity("backfill", "submit", f"backfill__{n}"), part_index=0, part_sha256="0" * 64,
            generation=0, request_count=10, endpoint="/v1/chat/completions", together_conn_id="c",
            model="m/a", vendor=vendor, logical_date=WHEN - timedelta(days=3 - n),
        )  # fmt: skip
        ledger.record_batch(record, f"b{n}", WHEN, "COMPLETED")
        ledger.record_outcome(_outcome(f"b{n}", dag_id="backfill"))
    since = WHEN - timedelta(days=10)
    loaded = ledger.daily_spend(since=since)
    assert [(d.day, d.vendor, d.model, d.batches) for d in loaded] == [
        ("2026-11-30", "openai", "m/a", 2),
        ("2026-11-30", "together", "m/a", 1),
    ]
    logical = ledger.daily_spend(since=since, by="logical")
    assert [(d.day, d.vendor) for d in logical] == [
        ("2026-11-27", "together"), ("2026-11-28", "openai"), ("2026-11-29", "openai"),
    ]  # fmt: skip
    openai = ledger.daily_spend(since=since, by="logical", query=BatchQuery(vendor="openai"))
    assert [d.day for d in openai] == ["2026-11-28", "2026-11-29"]
    one_run = ledger.daily_spend(since=since, query=BatchQuery(run_id="backfill__0"))
    assert [(d.vendor, d.batches) for d in one_run] == [("together", 1)]
    assert ledger.daily_spend(since=WHEN - timedelta(days=2, hours=1), by="logical")[0].day == "2026-11-28"
    assert ledger.daily_spend(since=since, dag_ids=frozenset()) == []


def test_sorted_by_run_date_spend_or_failures(ledger: SubmissionLedger) -> None:
    """By date: a backfill's runs in logical-date order (newest first), whenever submitted; by
    spend or failures: the loaded figure, largest first, unloaded batches last."""
    for n, (day, failed) in enumerate(((2, 1), (3, 4), (1, 0))):
        record = ledger.open(
            TaskIdentity("backfill", "submit", f"run-{n}"), part_index=0, part_sha256="0" * 64,
            generation=0, request_count=10, endpoint="/v1/chat/completions", together_conn_id="c",
            logical_date=WHEN - timedelta(days=day),
        )  # fmt: skip
        ledger.record_batch(record, f"b{n}", WHEN, "COMPLETED")
        if n < 2:
            ledger.record_outcome(
                _outcome(f"b{n}", failed=failed).model_copy(update={"cost_usd_batch": n + 1.0})
            )
    assert _ids(ledger) == ["b2", "b0", "b1"] == _ids(ledger, sort="date")
    assert _ids(ledger, sort="spend") == ["b1", "b0", "b2"]
    assert _ids(ledger, sort="failures") == ["b1", "b0", "b2"]
