"""The table that ends the results task's log, and the wrapping of long provider messages."""

from __future__ import annotations

import re

from airflow_provider_batch._wrap import WRAP, wrap
from airflow_provider_batch.collect.report import report_table
from airflow_provider_batch.collect.state import ResultManifest
from airflow_provider_batch.exceptions import TogetherBatchPartialFailureError
from airflow_provider_batch.ledger import FailureBucket

RESULT = ResultManifest(
    batch_ids=["b1", "b2"],
    requests=1000,
    counts={"succeeded": 990, "failed": 7, "missing": 3, "expired": 0, "cancelled": 0},
    prompt_tokens=12_000,
    completion_tokens=3_000,
    total_tokens=15_000,
    cost_usd_batch=0.0066,
    cost_usd_list=0.0132,
    savings_usd=0.0066,
    results_table="llm_results",
    summary_table="llm_results_summary",
    warehouse_conn_id="warehouse",
    failures=[
        FailureBucket(code="server_error", count=6, examples=[f"r-{i}" for i in range(5)]),
        FailureBucket(code="context_length_exceeded", count=1, examples=["r-99"]),
    ],
)


def test_the_table_has_counts_failures_tokens_spend_and_where() -> None:
    lines = report_table(RESULT).splitlines()
    assert lines[0] == lines[-1] and set(lines[0]) == {"-"}
    rows = {re.split(r"\s{2,}", line.strip())[0]: line for line in lines[1:-1]}
    assert "990" in rows["succeeded"] and "99.0%" in rows["succeeded"]
    assert "7" in rows["failed"] and "3" in rows["missing"]
    assert rows["failed: server_error"].endswith("e.g. r-0, r-1, r-2, r-3, r-4")
    assert rows["failed: context_length_exceeded"].endswith("e.g. r-99")
    assert "12,000 prompt + 3,000 completion = 15,000" in rows["tokens"]
    assert "$0.006600 at batch price" in rows["spend"] and "saved $0.006600" in rows["spend"]
    assert rows["warehouse"].endswith("warehouse") and rows["results table"].endswith("llm_results")
    assert rows["summary table"].endswith("llm_results_summary")
    assert rows["batches"].endswith("2 + 0 follow-up")


def test_the_partial_failure_error_carries_the_breakdown() -> None:
    error = TogetherBatchPartialFailureError("10 of 1000 requests did not succeed", result=RESULT.dump(),
                                             failures=RESULT.failures)  # fmt: skip
    assert error.counts == RESULT.counts and error.failures == RESULT.failures
    text = str(error)
    assert "succeeded 990, failed 7, missing 3" in text
    assert "failed server_error: 6 (e.g. r-0, r-1, r-2, r-3, r-4)" in text
    assert "failed context_length_exceeded: 1 (e.g. r-99)" in text
    assert error.result["failures"][0] == {
        "code": "server_error",
        "count": 6,
        "examples": [f"r-{i}" for i in range(5)],
        "answered": 0,  # none of them answered by a follow-up batch yet
        "answered_by": [],
    }


def test_long_messages_are_wrapped_without_splitting_words() -> None:
    text = "Batch cost estimate for /a/very/long/path/requests.jsonl: " + "1,234 requests, " * 20
    lines = wrap(text).splitlines()
    assert len(lines) > 1 and all(len(line) <= WRAP for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == " ".join(text.split())


def test_prompt_cache_tokens_are_in_the_xcom_and_in_the_table_only_when_used() -> None:
    assert "prompt cache" not in report_table(RESULT)
    cached = RESULT.model_copy(update={"cache_creation_tokens": 4_096, "cache_read_tokens": 40_960})
    assert "4,096 tokens written + 40,960 read" in report_table(cached)
    data = cached.dump()
    assert (data["cache_creation_tokens"], data["cache_read_tokens"]) == (4_096, 40_960)
    assert ResultManifest.model_validate(data) == cached
