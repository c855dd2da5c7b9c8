"""The shipped example DAGs import cleanly and run end to end offline with ``dag.test()``."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.operators.batch import BatchOperator, TogetherBatchOperator
from airflow_provider_batch.operators.results import BatchResultsOperator, TogetherBatchResultsOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor
from tests import airflow_compat

pytestmark = pytest.mark.timeout(240)

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"

EXPECTED_DAGS = {
    "together_nightly_backfill",
    "together_ticket_classification",
    "together_synthetic_data",
    "together_audio_transcription",
    "together_monitor_existing_batch",
    "openai_nightly_backfill",
    "anthropic_nightly_backfill",
}


def _rows(warehouse: Any, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(warehouse) as conn:
        return conn.execute(sql, args).fetchall()


def test_examples_import_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS


def _pollers(dag: Any) -> list[Any]:
    kinds = (TogetherBatchOperator, TogetherBatchResultsOperator, TogetherBatchSensor)
    return [task for task in dag.tasks if isinstance(task, kinds)]


def test_examples_poll_at_the_connection_interval(dagbag: Any, examples_env: dict[str, Any]) -> None:
    """Without ``APB_POLL_INTERVAL`` no example sets an interval: each polls at the connection's."""
    hook = TogetherBatchHook()
    assert hook.poll_interval() == examples_env["poll_interval"]
    pollers = [task for dag_id in sorted(EXPECTED_DAGS) for task in _pollers(dagbag.get_dag(dag_id))]
    assert {type(task) for task in pollers} == {
        TogetherBatchOperator,
        TogetherBatchResultsOperator,
        TogetherBatchSensor,
        BatchOperator,
        BatchResultsOperator,
    }
    for task in pollers:
        if isinstance(task, TogetherBatchSensor):
            assert not task._poke_interval_given, task.task_id
        else:
            assert task.poll_interval is None, f"{task.dag_id}.{task.task_id}"
        if isinstance(task, TogetherBatchOperator):
            assert task._poll_interval(hook) == examples_env["poll_interval"]


def test_apb_poll_interval_overrides_the_connection(
    examples_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APB_POLL_INTERVAL", "45")
    monkeypatch.delitem(sys.modules, "_example_config")  # re-read at import; restored afterwards
    for name in ("together_synthetic_data", "together_monitor_existing_batch"):
        bag = airflow_compat.dagbag(str(EXAMPLES / f"{name}.py"))
        assert bag.import_errors == {}
        pollers = _pollers(bag.get_dag(name))
        assert pollers
        for task in pollers:
            if isinstance(task, TogetherBatchSensor):
                assert task._poke_interval_given and task.poke_interval == 45
            elif isinstance(task, TogetherBatchOperator):
                assert task.poll_interval == 45


def test_nightly_backfill_three_days_exactly_once(dagbag: Any, examples_env: dict[str, Any]) -> None:
    server, warehouse = examples_env["server"], examples_env["warehouse"]
    server.reset()
    dag = dagbag.get_dag("together_nightly_backfill")
    days = examples_env["days"]
    logical = [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in days]
    for when in logical:
        # Pinning run_after pins the run id, so running it again is a re-run of the same run.
        assert dag.test(logical_date=when, run_after=when).state == "success"
    assert server.stats()["batch_creates"] == len(days)

    # Re-running the same DAG run re-attaches to its finished batch: no new batch, no new rows.
    assert dag.test(logical_date=logical[0], run_after=logical[0]).state == "success"
    assert server.stats()["batch_creates"] == len(days)
    # A new run for the same logical date pays for a new batch, and replaces that day's rows.
    assert dag.test(logical_date=logical[1]).state == "success"
    assert server.stats()["batch_creates"] == len(days) + 1

    per_day = examples_env["per_day"]
    rows = _rows(
        warehouse, "SELECT custom_id, status, customer_tier, total_tokens, cost_usd FROM ticket_summaries"
    )
    assert len(rows) == per_day * len(days)
    assert len({r[0] for r in rows}) == len(rows)
    assert {r[1] for r in rows} == {"succeeded"}
    assert all(r[2] in ("free", "pro", "enterprise") and r[3] > 0 and r[4] > 0 for r in rows)
    # The replaced run's batch stays in the spend table (it was paid for), marked superseded.
    replaced = _rows(warehouse, "SELECT COUNT(*), SUM(requests) FROM ticket_batch_spend WHERE superseded")
    assert replaced == [(1, per_day)]
    spend = _rows(
        warehouse,
        "SELECT SUM(requests), SUM(total_tokens), SUM(cost_usd_batch) "
        "FROM ticket_batch_spend WHERE NOT superseded",
    )
    assert spend[0][0] == len(rows)
    assert spend[0][1] == sum(r[3] for r in rows)
    assert spend[0][2] == pytest.approx(sum(r[4] for r in rows))
    stats = _rows(warehouse, "SELECT day, tickets, succeeded FROM daily_ticket_stats ORDER BY day")
    assert stats == [(d.isoformat(), per_day, per_day) for d in days]


#: vendor -> the model of its nightly example (``_example_config``); its tables are prefixed
#: with the vendor's name.
OTHER_NIGHTLY = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


@pytest.mark.other_vendor
@pytest.mark.parametrize("vendor", list(OTHER_NIGHTLY))
def test_other_vendor_nightly_backfill_three_days_exactly_once(
    dagbag: Any,
    examples_env: dict[str, Any],
    vendor: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The OpenAI and Anthropic examples, each with a connection of its vendor's type as that
    vendor's Airflow provider defines it (password = key, host = base URL), run each day once:
    re-runs re-attach, a new run replaces its date."""
    server = request.getfixturevalue(f"{vendor}_server")
    connection = {"conn_type": vendor, "password": server.api_key, "host": server.base_url,
                  "extra": {"poll_interval": examples_env["poll_interval"]}}  # fmt: skip
    monkeypatch.setenv(f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT", json.dumps(connection))
    warehouse, days = examples_env["warehouse"], examples_env["days"]
    dag = dagbag.get_dag(f"{vendor}_nightly_backfill")
    logical = [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in days]
    for when in logical:
        assert dag.test(logical_date=when, run_after=when).state == "success"
    assert server.stats()["batch_creates"] == len(days)
    assert dag.test(logical_date=logical[0], run_after=logical[0]).state == "success"
    assert dag.test(logical_date=logical[1]).state == "success"
    assert server.stats()["batch_creates"] == len(days) + 1

    per_day = examples_env["per_day"]
    rows = _rows(
        warehouse,
        "SELECT custom_id, status, customer_tier, total_tokens, cost_usd, model "
        f"FROM {vendor}_ticket_summaries",
    )
    assert len(rows) == len({r[0] for r in rows}) == per_day * len(days)
    assert {r[1] for r in rows} == {"succeeded"} and {r[5] for r in rows} == {OTHER_NIGHTLY[vendor]}
    assert all(r[2] in ("free", "pro", "enterprise") and r[3] > 0 and r[4] > 0 for r in rows)
    replaced = _rows(
        warehouse, f"SELECT COUNT(*), SUM(requests) FROM {vendor}_ticket_batch_spend WHERE superseded"
    )
    assert replaced == [(1, per_day)]
    stats = _rows(warehouse, f"SELECT day, tickets, succeeded FROM {vendor}_daily_ticket_stats ORDER BY day")
    assert stats == [(d.isoformat(), per_day, per_day) for d in days]


def test_classification_parses_structured_output(dagbag: Any, examples_env: dict[str, Any]) -> None:
    run = dagbag.get_dag("together_ticket_classification").test()
    assert run.state == "success"
    rows = _rows(
        examples_env["warehouse"], "SELECT category, priority, sentiment, needs_human FROM ticket_classes"
    )
    assert len(rows) == examples_env["per_day"] * len(examples_env["days"])
    assert all(r[0] in ("bug", "billing", "access", "feature_request", "other") for r in rows)
    assert all(-1 <= r[2] <= 1 for r in rows)


def test_synthetic_data_carries_metadata(dagbag: Any, examples_env: dict[str, Any]) -> None:
    assert dagbag.get_dag("together_synthetic_data").test().state == "success"
    rows = _rows(examples_env["warehouse"], "SELECT topic, persona, style, status FROM synthetic_questions")
    assert len(rows) == 4 * 3 * 3
    assert {r[3] for r in rows} == {"succeeded"} and all(r[0] and r[1] and r[2] for r in rows)


def test_audio_transcription(dagbag: Any, examples_env: dict[str, Any]) -> None:
    assert dagbag.get_dag("together_audio_transcription").test().state == "success"
    rows = _rows(examples_env["warehouse"], "SELECT queue, status, response_text FROM call_transcripts")
    assert len(rows) == 6 and {r[1] for r in rows} == {"succeeded"}
    assert all(r[2] for r in rows)


def test_monitor_existing_batch(dagbag: Any, examples_env: dict[str, Any]) -> None:
    assert dagbag.get_dag("together_monitor_existing_batch").test().state == "success"
    rows = _rows(examples_env["warehouse"], "SELECT COUNT(*) FROM monitored_batch_results")
    assert rows[0][0] > 0
