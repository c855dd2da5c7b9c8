"""Cost estimate and budget guard."""

from __future__ import annotations

import json
import logging
import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_batch.inputs.budget import (
    MESSAGE_OVERHEAD_TOKENS,
    UNBOUNDED_ESTIMATE_TOKENS,
    BudgetExceededError,
    UnboundedCostError,
    check_budget,
    check_budget_args,
    estimate_batch_cost,
    estimate_tokens,
    guard_budget,
)
from airflow_provider_batch.inputs.limits import AUDIO_ENDPOINTS, CHAT_ENDPOINT
from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE, ModelPrice, PriceTable

from .factories import MODEL, chat_request


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_per_model_and_total(
    write_jsonl: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    lines = [chat_request(f"a{i}", "x" * 40, max_tokens=100) for i in range(3)]
    lines.append(chat_request("d", "y" * 8))  # no max_tokens: the default applies
    parts = [{"type": "text", "text": "z" * 16}, {"type": "image_url", "image_url": {"url": "https://x/i"}}]
    lines.append(
        {
            "custom_id": "p",
            "body": {
                "model": "cheap/model",
                "max_completion_tokens": 10,
                "messages": [{"role": "user", "content": parts}],
            },
        }
    )
    prices = PriceTable.from_mapping({"models": {"cheap/model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}})
    with caplog.at_level(logging.INFO, logger="airflow_provider_batch.inputs"):
        est = estimate_batch_cost(write_jsonl(lines), prices, assumed_max_tokens=200)
    per_msg = MESSAGE_OVERHEAD_TOKENS
    main = est.by_model[MODEL]
    expected_prompt = 3 * (10 + per_msg) + 2 + per_msg
    assert (main.requests, main.prompt_tokens, main.max_completion_tokens) == (4, expected_prompt, 500)
    assert main.list_usd == pytest.approx((main.prompt_tokens + 500) * 0.88 / 1e6)
    assert main.batch_usd == pytest.approx(main.list_usd / 2)
    cheap = est.by_model["cheap/model"]
    assert (cheap.prompt_tokens, cheap.max_completion_tokens) == (4 + per_msg, 10)
    assert cheap.list_usd == pytest.approx(((4 + per_msg) * 1.0 + 10 * 2.0) / 1e6)
    assert est.requests == 5 and est.models_without_price == []
    assert (est.unbounded_requests, est.unbounded_examples, est.assumed_max_tokens) == (
        1,
        ["line 4 (custom_id='d')"],
        200,
    )
    assert est.batch_usd == pytest.approx(main.batch_usd + cheap.batch_usd)
    assert "5 requests" in caplog.text and "batch price" in caplog.text


def test_budget_guard(write_jsonl: Callable[..., Path]) -> None:
    est = estimate_batch_cost(
        write_jsonl([chat_request(f"r{i}", max_tokens=1000) for i in range(1000)]), DEFAULT_PRICE_TABLE
    )
    assert est.batch_usd == pytest.approx(1000 * (1000 + 2 + MESSAGE_OVERHEAD_TOKENS) * 0.44 / 1e6)
    check_budget(est, None)
    check_budget(est, 1.0)
    expected = r"estimated batch cost \$0\.44.* max_cost_usd=\$0\.1000"
    with pytest.raises(BudgetExceededError, match=expected) as caught:
        check_budget(est, 0.10)
    assert isinstance(caught.value, ValueError) and caught.value.estimate is est


def test_unpriced_models_fail_a_budget_unless_allowed(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        [
            {
                "custom_id": "u",
                "body": {
                    "model": "mystery/model",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            }
        ]
    )
    est = estimate_batch_cost(path, DEFAULT_PRICE_TABLE)
    assert est.models_without_price == ["mystery/model"] and est.batch_usd == 0
    with pytest.raises(BudgetExceededError, match="no price for mystery/model"):
        check_budget(est, 5.0)
    check_budget(est, 5.0, allow_unpriced=True)
    priced = PriceTable(models={}, default=ModelPrice(input_per_1m=1, output_per_1m=1))
    assert estimate_batch_cost(path, priced).models_without_price == []


# ---- the guard is a guard: every way a worst case could escape it ----------------------------------


def _batch_usd(tokens: int) -> float:
    return tokens * 0.88 / 2 / 1e6  # MODEL's list price, at the 50 % batch discount


def test_n_completions_multiply_the_worst_case(write_jsonl: Callable[..., Path]) -> None:
    # 1,000 requests x 4,000 tokens x n=12: $21.18 worst case; counting one completion gave $1.82.
    prompt = "q" * 528  # 132 tokens + 4 per message = 136 prompt tokens per request
    path = write_jsonl([chat_request(f"r{i}", prompt, max_tokens=4000, n=12) for i in range(1000)])
    est = estimate_batch_cost(path, DEFAULT_PRICE_TABLE)
    assert (est.prompt_tokens, est.max_completion_tokens) == (136_000, 48_000_000)
    assert est.batch_usd == pytest.approx(21.18, abs=0.005)
    with pytest.raises(BudgetExceededError, match=r"\$21\.1798 .*max_cost_usd=\$2\.0000"):
        check_budget(est, 2)


def test_the_larger_of_max_tokens_and_max_completion_tokens_counts(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl([chat_request("a", "", max_tokens=10, max_completion_tokens=300, n=2)])
    assert estimate_batch_cost(path, DEFAULT_PRICE_TABLE).max_completion_tokens == 600


def test_a_request_without_max_tokens_is_refused_under_a_limit(write_jsonl: Callable[..., Path]) -> None:
    lines = [
        chat_request("ok", max_tokens=8),
        chat_request("open-1"),
        chat_request("ok-2", max_tokens=8),
        chat_request("open-2", n=3),
    ]
    est = estimate_batch_cost(write_jsonl(lines), DEFAULT_PRICE_TABLE)
    assert est.batch_usd < 0.01 and est.unbounded_requests == 2 and est.assumed_max_tokens is None
    check_budget(est, None)  # no limit: estimated (and logged), never refused
    with pytest.raises(UnboundedCostError) as caught:
        check_budget(est, 1000.0)
    message = str(caught.value)
    assert message.startswith("line 2 (custom_id='open-1'): max_tokens_required: ")  # where and which rule
    assert "no bound" in message and "max_cost_usd=$1000.0000" in message  # the rule
    assert "1 more request(s) lack it too" in message and "line 4 (custom_id='open-2')" in message
    assert "body={'max_tokens': ...}" in message and "assumed_max_tokens=<tokens>" in message  # remedies
    assert "Nothing was uploaded" in message
    assert isinstance(caught.value, BudgetExceededError) and caught.value.estimate is est


def test_assumed_max_tokens_bounds_those_requests(
    write_jsonl: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_jsonl([chat_request("open", "", n=3), chat_request("capped", "", max_tokens=10)])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.inputs"):
        est = estimate_batch_cost(path, DEFAULT_PRICE_TABLE, assumed_max_tokens=100)
    assert est.max_completion_tokens == 100 * 3 + 10
    assert "assumed_max_tokens=100" in caplog.text and "line 1 (custom_id='open')" in caplog.text
    check_budget(est, 1.0)
    with pytest.raises(BudgetExceededError, match="exceeds the limit"):
        check_budget(est, _batch_usd(est.prompt_tokens + 309))


def test_without_a_limit_unbounded_requests_are_estimated_and_logged(
    write_jsonl: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_jsonl([chat_request("open", "")])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.inputs"):
        est = guard_budget(path, endpoint=CHAT_ENDPOINT, prices=DEFAULT_PRICE_TABLE, max_cost_usd=None)
    assert est is not None and est.max_completion_tokens == UNBOUNDED_ESTIMATE_TOKENS
    assert "1 request(s) have no max_tokens (first: line 1 (custom_id='open'))" in caplog.text
    assert "which is not a bound" in caplog.text


SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "ticket",
        "schema": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["bug", "billing", "other"]},
                "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["label", "urgency"],
        },
    },
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by id " * 20,
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    }
]


def _compact_tokens(value: object) -> int:
    return estimate_tokens(json.dumps(value, separators=(",", ":")))


def test_response_format_schema_and_tools_are_prompt_tokens(write_jsonl: Callable[..., Path]) -> None:
    plain = chat_request("plain", "x" * 40, max_tokens=1)
    lines = [
        plain,
        chat_request("schema", "x" * 40, max_tokens=1, response_format=SCHEMA),
        chat_request("tools", "x" * 40, max_tokens=1, tools=TOOLS),
    ]
    per_line = [estimate_batch_cost(write_jsonl([line]), DEFAULT_PRICE_TABLE).prompt_tokens for line in lines]
    base = 10 + MESSAGE_OVERHEAD_TOKENS
    assert per_line == [base, base + _compact_tokens(SCHEMA), base + _compact_tokens(TOOLS)]
    assert _compact_tokens(TOOLS) > 100  # a long tool description is a real share of the prompt


def test_each_line_counts_its_own_schema(write_jsonl: Callable[..., Path]) -> None:
    other = {"type": "json_object", "schema": {"type": "object", "properties": {"x": {"type": "string"}}}}
    formats = [SCHEMA, SCHEMA, other, SCHEMA, None]
    lines = [
        chat_request(f"r{i}", "", max_tokens=1, **({"response_format": f} if f else {}))
        for i, f in enumerate(formats)
    ]
    est = estimate_batch_cost(write_jsonl(lines), DEFAULT_PRICE_TABLE)
    schemas = 3 * _compact_tokens(SCHEMA) + _compact_tokens(other)
    assert est.prompt_tokens == 5 * MESSAGE_OVERHEAD_TOKENS + schemas


@pytest.mark.parametrize("endpoint", AUDIO_ENDPOINTS)
def test_audio_batches_are_not_budget_checked(
    endpoint: str, write_jsonl: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_jsonl(
        [
            {
                "custom_id": "c",
                "method": "FILE",
                "body": {"model": "openai/whisper-large-v3", "file": "https://a.test/x.wav"},
            }
        ]
    )
    with pytest.raises(
        UnboundedCostError, match=f"cannot be checked for {endpoint}: Together bills audio by its duration"
    ) as caught:
        guard_budget(path, endpoint=endpoint, prices=DEFAULT_PRICE_TABLE, max_cost_usd=5)
    assert "Remove max_cost_usd" in str(caught.value) and caught.value.estimate is None
    with caplog.at_level(logging.INFO, logger="airflow_provider_batch.inputs"):
        assert guard_budget(path, endpoint=endpoint, prices=DEFAULT_PRICE_TABLE, max_cost_usd=None) is None
    assert "no cost estimate and no budget check" in caplog.text
    with pytest.raises(ValueError, match="audio batches are not budget-checked"):
        check_budget_args(5, None, endpoint)


@pytest.mark.parametrize(
    ("max_cost_usd", "assumed", "match"),
    [
        (math.nan, None, "max_cost_usd must be a finite number"),
        (-1, None, "max_cost_usd"),
        ("25", None, "max_cost_usd"),
        (math.inf, None, "max_cost_usd"),
        (True, None, "max_cost_usd"),
        (5, 0, "assumed_max_tokens must be a positive integer"),
        (5, 64.0, "assumed_max_tokens"),
    ],
)
def test_budget_settings_that_could_never_hold_are_refused(
    max_cost_usd: object, assumed: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        check_budget_args(max_cost_usd, assumed)


def test_budget_settings_that_hold() -> None:
    check_budget_args(None, None)
    check_budget_args(0, 1)
    check_budget_args(2.5, None, "{{ params.endpoint }}")  # a template is checked once rendered


def test_the_estimate_streams_the_file(write_jsonl: Callable[..., Path]) -> None:
    """One pass, one line at a time: memory does not grow with the file (4 MB here)."""
    line = chat_request("r", "p" * 400, max_tokens=16, n=2, tools=TOOLS, response_format=SCHEMA)
    path = write_jsonl([{**line, "custom_id": f"r{i}"} for i in range(3000)])
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        est = estimate_batch_cost(path, DEFAULT_PRICE_TABLE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert est.requests == 3000 and est.max_completion_tokens == 3000 * 32
    assert peak < 500_000, peak


def test_the_estimate_is_logged_as_short_lines(caplog: pytest.LogCaptureFixture) -> None:
    """The estimate used to be one line that ran off the log view; now each figure has its line
    and a long list of unpriced models wraps."""
    from airflow_provider_batch.inputs.budget import CostEstimate, log_estimate

    unpriced = [f"org/model-{i:02d}-{'x' * 20}" for i in range(6)]
    estimate = CostEstimate(requests=1234, prompt_tokens=56789, max_completion_tokens=1000, batch_usd=0.123,
                            list_usd=0.246, models_without_price=unpriced)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="airflow_provider_batch.inputs.budget"):
        log_estimate("/work/nightly/requests.jsonl", estimate)
    (record,) = [r for r in caplog.records if "cost estimate" in r.getMessage()]
    lines = record.getMessage().splitlines()
    assert lines[0] == "Batch cost estimate for /work/nightly/requests.jsonl:"
    assert "1234 requests, ~56789 prompt tokens, <= 1000 completion tokens" in lines[1]
    assert "<= $0.1230 at batch price ($0.2460 at list price)" in lines[2]
    assert all(len(line) <= 100 for line in lines)
    assert all(model in record.getMessage() for model in unpriced)
