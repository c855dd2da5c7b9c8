"""Table tests for reconcile(): one row per expected request, whatever the files contain."""

from __future__ import annotations

import json
import math
import tracemalloc
from datetime import datetime, timezone

import pytest

from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE, ModelPrice, PriceTable
from airflow_provider_batch.results import (
    ExpectedRequest,
    ParsedFile,
    RunContext,
    parse_error_line,
    parse_output_line,
    reconcile,
)
from airflow_provider_batch.results.reconcile import BatchStream
from tests.results._data import MODEL, error_line, success_line

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
RUN = RunContext("dag", "run-1", T0, datetime(2026, 1, 2, tzinfo=timezone.utc))


def expected(*ids: str) -> list[ExpectedRequest]:
    return [ExpectedRequest(cid, MODEL, {"k": cid}) for cid in ids]


def ok(cid: str, i: int = 1, model: str = MODEL):
    return parse_output_line(success_line(cid, i, model))


def err(cid: str, i: int = 1):
    return parse_error_line(error_line(cid, i))


def run(exp, outputs=(), errors=(), status="COMPLETED", **kwargs):
    rec = reconcile(exp, list(outputs), list(errors), batch_id="b1", batch_status=status, run=RUN, **kwargs)
    return rec, {row.custom_id: row for row in rec.rows()}


@pytest.mark.parametrize(
    ("status", "unanswered"),
    [("COMPLETED", "missing"), ("FAILED", "missing"), ("EXPIRED", "expired"), ("CANCELLED", "cancelled")],
)
def test_each_expected_request_gets_exactly_one_row(status, unanswered):
    rec, rows = run(expected("a", "b", "c"), [ok("a")], [err("b")], status=status)
    assert {cid: r.status for cid, r in rows.items()} == {"a": "succeeded", "b": "failed", "c": unanswered}
    assert rec.counts == {"succeeded": 1, "failed": 1, unanswered: 1} | {
        k: 0 for k in ("missing", "expired", "cancelled") if k != unanswered
    }
    assert rec.summary.final_status == status and rec.diagnostics.clean


@pytest.mark.parametrize(
    ("vendor", "statuses"),
    [("openai", ("expired", "cancelled")), ("together", ("failed", "failed")), (None, ("failed", "failed"))],
)
def test_the_vendor_says_which_error_lines_name_a_request_that_never_ran(vendor, statuses):
    from airflow_provider_batch.vendors import vendor_named

    unrun = [
        parse_error_line({"custom_id": cid, "error": {"code": code, "message": "not run"}})
        for cid, code in (("b", "batch_expired"), ("c", "batch_cancelled"))
    ]
    given = {"vendor": vendor_named(vendor)} if vendor else {}
    _, rows = run(expected("a", "b", "c"), [ok("a")], unrun, status="EXPIRED", **given)
    assert (rows["b"].status, rows["c"].status) == statuses
    assert rows["a"].status == "succeeded" and rows["b"].error_code == "batch_expired"


def test_status_enum_from_the_client_is_accepted():
    from airflow_provider_batch.client.models import BatchStatus

    rec, rows = run(expected("a"), status=BatchStatus.CANCELLED)
    assert rows["a"].status == "cancelled" and rec.summary.final_status == "CANCELLED"


def test_completed_batch_with_error_lines_keeps_code_and_message():
    _, rows = run(expected("a", "b"), [], [err("a", 1), err("b", 2)])
    assert (rows["a"].error_code, rows["a"].error_message) == ("timeout", "Request failed 1")
    assert (rows["b"].error_code, rows["b"].error_message) == ("500", "Request failed 2")
    assert rows["a"].cost_usd == 0.0 and rows["a"].response_text is None


def test_duplicate_id_first_wins_output_before_error():
    rec, rows = run(expected("a", "b"), [ok("a", 1), ok("a", 2)], [err("a"), err("b", 3), err("b", 4)])
    assert rows["a"].status == "succeeded" and rows["a"].response_text == "answer 1"
    assert rows["b"].error_message == "Request failed 3"
    assert rec.diagnostics.duplicates == 3
    assert rec.diagnostics.duplicate_samples[0] == "a (output line 0)"
    assert len(rows) == 2


def test_duplicate_expected_request_is_reported_and_counted_once():
    rec, _rows = run(expected("a", "a"), [ok("a")])
    assert len(list(rec.rows())) == 1 and rec.summary.requests == 1
    assert rec.diagnostics.duplicate_samples == ["a (expected requests)"]


def test_unknown_ids_and_unreadable_lines_are_diagnostics_not_rows(tmp_path):
    out = tmp_path / "out.jsonl"
    good = '{"custom_id": "a", "response": {"status_code": 200, "body": {}}}'
    out.write_text(good + '\nnot json\n{"custom_id": "zz"}\n')
    outputs, errors = ParsedFile(out, "output"), ParsedFile(None, "error")
    rec = reconcile(expected("a"), outputs, errors, batch_id="b", batch_status="COMPLETED")
    rows = list(rec.rows())
    assert [r.custom_id for r in rows] == ["a"]
    assert rec.diagnostics.unknown_ids == 1 and rec.diagnostics.unknown_samples == ["zz (output line 3)"]
    assert rec.diagnostics.invalid_lines == 1
    assert rec.diagnostics.invalid_samples[0].startswith("output file out.jsonl line 2: invalid JSON")
    assert not rec.diagnostics.clean


def test_rows_carry_metadata_run_and_batch_price():
    _, rows = run(expected("a"), [ok("a", 1)])
    row = rows["a"]
    assert row.metadata == {"k": "a"} and (row.dag_id, row.run_id, row.logical_date) == ("dag", "run-1", T0)
    full = DEFAULT_PRICE_TABLE.cost(MODEL, 11, 4)
    assert row.cost_usd == full.batch_usd and math.isclose(full.list_usd, 2 * full.batch_usd)


def test_pricing_falls_back_to_the_expected_model_when_the_response_model_is_unpriced():
    prices = PriceTable(models={MODEL: ModelPrice(input_per_1m=1.0, output_per_1m=2.0)})
    _, rows = run(expected("a"), [ok("a", 1, model="served-name")], prices=prices)
    assert rows["a"].model == "served-name"
    assert rows["a"].cost_usd == prices.cost(MODEL, 11, 4).batch_usd > 0


def test_summary_sums_equal_row_sums_and_model_mixing():
    outputs = [ok(f"r{i}", i, MODEL if i % 2 else "openai/gpt-oss-20b") for i in range(40)]
    done = datetime(2026, 1, 1, 11, 30, tzinfo=timezone.utc)
    ids = [f"r{i}" for i in range(42)]
    endpoint = "/v1/chat/completions"
    rec, rows = run(expected(*ids), outputs, submitted_at=T0, completed_at=done, endpoint=endpoint)
    s = rec.summary
    assert s.requests == 42 and s.succeeded == 40 and s.missing == 2
    assert s.prompt_tokens == sum(r.prompt_tokens for r in rows.values())
    assert s.completion_tokens == sum(r.completion_tokens for r in rows.values())
    assert s.total_tokens == sum(r.total_tokens for r in rows.values())
    assert s.cost_usd_batch == pytest.approx(math.fsum(r.cost_usd for r in rows.values()), abs=1e-12)
    assert s.savings_usd == pytest.approx(s.cost_usd_list - s.cost_usd_batch, abs=1e-12)
    assert s.model == "mixed" and s.duration_seconds == 5400.0 and s.endpoint == "/v1/chat/completions"


def test_one_shot_iterators_are_accepted():
    outputs = (x for x in [ok("a")])
    rec = reconcile(iter(expected("a", "b")), outputs, iter([]), batch_id="b", batch_status="EXPIRED")
    assert [(r.custom_id, r.status) for r in rec.rows()] == [("a", "succeeded"), ("b", "expired")]
    assert [r.custom_id for r in rec.rows()] == ["a", "b"]  # rows() can be replayed


def test_a_stream_reads_its_lines_once_and_knows_its_summary_at_the_end():
    stream = BatchStream(expected("a", "b"), [ok("a")], [], batch_id="b", batch_status="COMPLETED")
    rows = stream.rows()
    with pytest.raises(RuntimeError, match="summary is known once every row was read"):
        stream.summary  # noqa: B018
    assert next(rows).custom_id == "a"  # emitted as met, before the unanswered ones
    assert [r.status for r in rows] == ["missing"]
    assert (stream.summary.succeeded, stream.summary.missing) == (1, 1)
    with pytest.raises(RuntimeError, match="already read once"):
        list(stream.rows())


def test_fifty_thousand_lines_from_files(batch_50k):
    batch = batch_50k
    outputs, errors = ParsedFile(batch.output_path, "output"), ParsedFile(batch.error_path, "error")
    rec = reconcile(batch.expected, outputs, errors, batch_id="b", batch_status="COMPLETED")
    assert rec.counts["succeeded"] == batch.n_output == 48_000
    assert rec.counts["failed"] == batch.n_error == 1_500 and rec.counts["missing"] == 500
    total = sum(1 for _ in rec.rows())
    assert total == 50_000 and rec.diagnostics.clean


def test_memory_is_bounded_by_requests_not_responses(tmp_path):
    """The stream keeps no response: peak memory stays far below the size of the output file."""
    n, big = 5_000, "y" * 8_000
    out = tmp_path / "out.jsonl"
    with out.open("w") as fh:
        for i in range(n):
            line = success_line(f"r{i}", i)
            line["response"]["body"]["choices"][0]["message"]["content"] = big
            fh.write(json.dumps(line) + "\n")
    exp = expected(*(f"r{i}" for i in range(n)))
    file_size = out.stat().st_size
    tracemalloc.start()
    try:
        outputs, errors = ParsedFile(out, "output"), ParsedFile(None, "error")
        stream = BatchStream(exp, outputs, errors, batch_id="b", batch_status="COMPLETED")
        seen = sum(len(row.response_text) for row in stream.rows())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == n * len(big) and file_size > 40_000_000
    assert peak < file_size / 8, (peak, file_size)
