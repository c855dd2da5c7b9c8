"""Batch outcomes for monitoring: failures tallied by error code with a few example ids, and a
ledger that cannot be written costs a warning, never the load."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_batch.collect.outcomes import FailureTally, OutcomeTarget, record_outcomes
from airflow_provider_batch.results import BatchSummary, ParsedFile, RunContext, reconcile
from tests.results._data import make_batch

RUN = RunContext("nightly", "scheduled__1", None, datetime(2026, 3, 2, tzinfo=timezone.utc), "load", -1)


def _reconciled(tmp_path: Path, n: int = 200) -> tuple[BatchSummary, FailureTally]:
    batch = make_batch(tmp_path, n)
    rec = reconcile(
        batch.expected, ParsedFile(batch.output_path, "output"), ParsedFile(batch.error_path, "error"),
        batch_id="batch-1", batch_status="COMPLETED", run=RUN,
    )  # fmt: skip
    tally = FailureTally()
    for _ in tally.watch(rec.rows()):
        pass
    return rec.summary, tally


def test_failures_are_tallied_by_code_with_five_examples(tmp_path: Path) -> None:
    summary, tally = _reconciled(tmp_path)
    buckets = tally.buckets("batch-1")
    assert sum(b.count for b in buckets) == summary.failed > 0
    assert {b.code for b in buckets} == {"timeout", "500"}
    assert all(0 < len(b.examples) <= 5 and len(b.examples) == min(b.count, 5) for b in buckets)
    assert [b.count for b in buckets] == sorted((b.count for b in buckets), reverse=True)
    assert tally.buckets("another-batch") == []


def test_outcomes_are_recorded_and_a_reload_replaces_them(tmp_path: Path, together_ledger) -> None:
    summary, tally = _reconciled(tmp_path)
    target = OutcomeTarget(None, "warehouse", "results", "summary", tally)
    assert record_outcomes(target, [summary], RUN) == 1
    assert record_outcomes(target, [summary], RUN._replace(loaded_at=datetime.now(timezone.utc))) == 1
    (outcome,) = together_ledger.outcomes_for(["batch-1"])
    assert (outcome.requests, outcome.failed, outcome.task_id) == (summary.requests, summary.failed, "load")
    assert outcome.failures == tally.buckets("batch-1")
    assert outcome.loaded_at > RUN.loaded_at


def test_an_unmeasured_batch_gets_no_outcome(tmp_path: Path, together_ledger) -> None:
    summary, tally = _reconciled(tmp_path)
    running = dataclasses.replace(summary, succeeded=None)
    assert record_outcomes(OutcomeTarget(None, "w", "r", "s", tally), [running], RUN) == 0
    assert together_ledger.outcomes_for(["batch-1"]) == []


def test_an_unwritable_ledger_costs_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    summary, tally = _reconciled(tmp_path)
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__LEDGER_PATH", str(tmp_path / "no-such-dir" / "x" / "l.db"))
    (tmp_path / "no-such-dir").write_text("a file where a folder should be")
    with caplog.at_level(logging.WARNING):
        assert record_outcomes(OutcomeTarget(None, "w", "r", "s", tally), [summary], RUN) == 0
    assert "could not be recorded in the submission ledger" in caplog.text
    assert "the results are loaded" in caplog.text
