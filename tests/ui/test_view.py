"""The figures of one batch on the page: progress, window, ETA, costs (pure)."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_batch.ledger import BatchOutcome, FailureBucket, SubmissionRecord
from airflow_provider_batch.ui.html import AirflowLinks
from airflow_provider_batch.ui.view import LiveStatus, build_view

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _record(**kw: object) -> SubmissionRecord:
    values: dict[str, object] = {
        "submission_id": "s1", "dag_id": "d", "task_id": "submit", "run_id": "r", "map_index": -1,
        "part_index": 0, "part_sha256": "0" * 64, "generation": 0, "request_count": 100,
        "endpoint": "/v1/chat/completions", "together_conn_id": "together_default", "state": "created",
        "batch_id": "b1", "batch_created_at": NOW - timedelta(hours=1), "last_status": "IN_PROGRESS",
        "created_at": NOW - timedelta(hours=1), "updated_at": NOW - timedelta(hours=1),
        "estimated_cost_usd": 0.5,
    }  # fmt: skip
    values.update(kw)
    return SubmissionRecord.model_validate(values)


def test_a_running_batch_has_an_eta_from_its_progress_rate() -> None:
    view = build_view(_record(), [], LiveStatus(status="IN_PROGRESS", progress=25.0), NOW)
    assert view.running and view.live and view.progress == 25.0
    assert view.elapsed == timedelta(hours=1)
    assert view.window_used == 1 / 24
    assert view.eta == timedelta(hours=3)  # 25 % an hour: 75 % left takes three more
    assert view.estimated_cost_usd == 0.5 and view.cost_usd_batch is None


def test_no_eta_before_any_progress_and_none_once_done() -> None:
    assert build_view(_record(), [], LiveStatus(status="VALIDATING", progress=0.0), NOW).eta is None
    outcome = BatchOutcome(
        batch_id="b1", dag_id="d", task_id="results", run_id="r", results_table="t", summary_table="s",
        warehouse_conn_id="w", final_status="COMPLETED", requests=100, succeeded=97, failed=3,
        cost_usd_batch=0.4, cost_usd_list=0.8, savings_usd=0.4, loaded_at=NOW - timedelta(minutes=10),
        failures=[FailureBucket(code="server_error", count=3, examples=["a", "b", "c"])],
    )  # fmt: skip
    view = build_view(_record(last_status="COMPLETED"), [outcome], None, NOW)
    assert not view.running and view.eta is None and view.progress == 100.0
    assert view.elapsed == timedelta(minutes=50)
    assert (view.cost_usd_batch, view.savings_usd, view.failed) == (0.4, 0.4, 3)
    assert view.tables == ["t, s (connection w)"]


def test_links_to_airflow_pages_are_quoted() -> None:
    links = AirflowLinks("/af/")
    assert links.task("d", "manual__2026-11-30T00:00:00+00:00", "submit", 2) == (
        "/af/dags/d/runs/manual__2026-11-30T00%3A00%3A00%2B00%3A00/tasks/submit/mapped/2"
    )


def test_the_chart_legend_names_the_model_without_its_organisation() -> None:
    from airflow_provider_batch.ui.html import _short_model

    assert _short_model("meta-llama/Llama-3.3-70B-Instruct-Turbo") == "Llama-3.3-70B-Instruct-Turbo"
    assert _short_model("org/" + "m" * 40) == "m" * 27 + "\u2026"
    assert _short_model("(unknown model)") == "(unknown model)"


def _loaded(succeeded: int, failed: int) -> BatchOutcome:
    return BatchOutcome(
        batch_id="b1", dag_id="d", task_id="results", run_id="r", results_table="t", summary_table="s",
        warehouse_conn_id="w", final_status="COMPLETED", requests=succeeded + failed, succeeded=succeeded,
        failed=failed, loaded_at=NOW, failures=[FailureBucket(code="server_error", count=failed)],
    )  # fmt: skip


def test_a_batch_whose_every_request_failed_is_red_not_a_green_full_bar() -> None:
    from airflow_provider_batch.ui.html import _card

    links = AirflowLinks("")
    none_ok = _card(build_view(_record(request_count=3), [_loaded(0, 3)], None, NOW), links, None, NOW)
    assert 'class="badge st-ALLFAILED">COMPLETED' in none_ok
    assert '<span class="failed" style="width:100.0%"' in none_ok and 'class="ok"' not in none_ok
    some = _card(build_view(_record(), [_loaded(97, 3)], None, NOW), links, None, NOW)
    assert 'class="badge st-SOMEFAILED">COMPLETED' in some
    assert '<span class="ok" style="width:97.0%"' in some
    assert '<span class="failed" style="width:3.0%"' in some
    clean = _card(build_view(_record(), [_loaded(100, 0)], None, NOW), links, None, NOW)
    assert 'class="badge st-COMPLETED">COMPLETED' in clean


def test_a_running_batch_shows_what_a_task_last_saw_and_when() -> None:
    from airflow_provider_batch.ui.html import _card

    record = _record(last_progress=40.0, updated_at=NOW - timedelta(seconds=40))
    view = build_view(record, [], None, NOW)
    assert view.running and not view.live and view.progress == 40.0
    html = _card(view, AirflowLinks(""), None, NOW)
    assert "as of 40 s ago" in html and "(live)" not in html
    unknown = _card(build_view(_record(estimated_cost_usd=None), [], None, NOW), AirflowLinks(""), None, NOW)
    assert "<b>Estimated cost</b>unknown" in unknown


def test_the_summary_of_last_night_from_the_make_ui_demo_ledger(tmp_path: Path) -> None:
    """``make ui``'s demo data, written through the ledger's API, added up by the page's summary."""
    from airflow_provider_batch.ledger import BatchQuery, sqlite_ledger
    from airflow_provider_batch.ui.summary import summarize

    spec = importlib.util.spec_from_file_location("apb_make_ui", REPO / "scripts" / "ui.py")
    assert spec is not None and spec.loader is not None
    make_ui = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_ui)
    ids = make_ui.seed(tmp_path / "ledger.db")
    ledger = sqlite_ledger(str(tmp_path / "ledger.db"))
    assert summarize(*ledger.summary_rows(BatchQuery())).requests_failed == 6
    # A batch loaded again into a second table counts once, with its newest load.
    (first,) = ledger.outcomes_for([ids["with_failures"]])
    again = first.model_copy(
        update={"results_table": "copy", "loaded_at": first.loaded_at + timedelta(hours=1)}
    )
    ledger.record_outcome(again)
    s = summarize(*ledger.summary_rows(BatchQuery()))
    # 4 nightly (one a follow-up), 1 OpenAI batch at 64 % of 40 requests, 3 mapped (one all
    # failed), 2 Anthropic parts
    assert (s.batches, s.running, s.finished, s.failed, s.not_loaded) == (10, 1, 9, 1, 0)
    # 2 + 5 failed requests, 1 of them answered by the follow-up; 40 * 36 % still waiting
    assert (s.requests_answered, s.requests_failed, s.requests_waiting) == (85, 6, 14)
    # Anthropic's: 20 x (310 input at $1 + 90 output at $5) per million, half price, twice; one
    # part also wrote 4,096 cached tokens (x1.25) and read 19 x 4,096 (x0.1).
    cached_cost = 0.0076 + (4_096 * 1.25 + 77_824 * 0.1) / 2e6
    assert s.cost_usd_batch == pytest.approx(0.0094 + 0.0076 + cached_cost, abs=1e-6)  # to the micro-dollar
    assert (s.cache_creation_tokens, s.cache_read_tokens) == (4_096, 77_824)
    (cached,) = ledger.outcomes_for([ids["cached"]])
    assert (cached.cache_creation_tokens, cached.cache_read_tokens) == (4_096, 77_824)
    assert not ledger.outcomes_for([ids["uncached"]])[0].cached
    # The filters narrow it as they narrow the rows; a DAG the reader may not see is not counted.
    nightly = summarize(*ledger.summary_rows(BatchQuery(dag_id="together_nightly_backfill")))
    assert (nightly.batches, nightly.requests_failed, nightly.cache_read_tokens) == (4, 1, 0)
    assert summarize(*ledger.summary_rows(BatchQuery(dag_ids=frozenset()))).batches == 0
    running = summarize(*ledger.summary_rows(BatchQuery(status="IN_PROGRESS")))
    assert (running.batches, running.running, running.requests_waiting) == (1, 1, 14)
    assert ledger.by_batch(ids["follow_up"]).parent_batch_id == ids["with_failures"]  # type: ignore[union-attr]


def test_an_unpriced_model_s_spend_is_unknown_not_zero() -> None:
    from airflow_provider_batch.ui.html import _card

    links = AirflowLinks("")
    tokens = _loaded(5, 0).model_copy(
        update={"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
    )
    unpriced = build_view(_record(estimated_cost_usd=None, last_status="COMPLETED"), [tokens], None, NOW)
    assert unpriced.cost_usd_batch is None and unpriced.savings_usd is None
    html = _card(unpriced, links, None, NOW)
    assert "<b>Actual cost</b>unknown" in html and "$0.00" not in html
    priced = tokens.model_copy(update={"cost_usd_batch": 0.25, "cost_usd_list": 0.5, "savings_usd": 0.25})
    assert build_view(_record(estimated_cost_usd=None), [priced], None, NOW).cost_usd_batch == 0.25
    # A batch that answered nothing spent nothing: $0, known.
    assert build_view(_record(estimated_cost_usd=None), [_loaded(0, 3)], None, NOW).cost_usd_batch == 0.0
    # Not loaded yet: no figure, shown as "-".
    assert "<b>Actual cost</b>-" in _card(build_view(_record(), [], None, NOW), links, None, NOW)


def test_prompt_cache_tokens_show_on_the_card_and_in_the_spend_table_only_when_used() -> None:
    from airflow_provider_batch.ledger import DailySpend
    from airflow_provider_batch.ui.html import _card, _spend_table

    links = AirflowLinks("")
    cached = _loaded(5, 0).model_copy(update={"cache_creation_tokens": 4_096, "cache_read_tokens": 16_384})
    view = build_view(_record(last_status="COMPLETED", vendor="anthropic"), [cached], None, NOW)
    assert (view.cache_creation_tokens, view.cache_read_tokens) == (4_096, 16_384)
    assert "<b>Prompt cache</b>4,096 written / 16,384 read tokens" in _card(view, links, None, NOW)
    plain = build_view(_record(last_status="COMPLETED"), [_loaded(5, 0)], None, NOW)
    assert "Prompt cache" not in _card(plain, links, None, NOW)
    assert build_view(_record(), [], None, NOW).cache_read_tokens is None  # not loaded yet

    day = {"day": "2026-11-30", "model": "m", "batches": 1, "requests": 5}
    without = [DailySpend(**day, vendor="together")]
    assert "Prompt-cache tokens" not in _spend_table(without, {})
    both = [*without, DailySpend(**day, vendor="anthropic", cache_creation_tokens=10, cache_read_tokens=90)]
    table = _spend_table(both, {})
    assert "<th>Prompt-cache tokens</th>" in table
    assert (
        "<td>-</td></tr>" in table
        and "<td>0 written" not in table
        and "<th>10 written / 90 read</th>" in table
    )  # the total
