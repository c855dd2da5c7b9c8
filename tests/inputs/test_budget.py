"""Cost estimate and budget guard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_batch.inputs.budget import (
    MESSAGE_OVERHEAD_TOKENS,
    BudgetExceededError,
    check_budget,
    estimate_batch_cost,
    estimate_tokens,
)
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
    lines.append({"custom_id": "p", "body": {"model": "cheap/model", "max_completion_tokens": 10,
                                             "messages": [{"role": "user", "content": parts}]}})
    prices = PriceTable.from_mapping({"models": {"cheap/model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}})
    with caplog.at_level(logging.INFO, logger="airflow_provider_batch.inputs"):
        est = estimate_batch_cost(write_jsonl(lines), prices, default_max_tokens=200)
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
    assert est.batch_usd == pytest.approx(main.batch_usd + cheap.batch_usd)
    assert "5 requests" in caplog.text and "batch price" in caplog.text


def test_budget_guard(write_jsonl: Callable[..., Path]) -> None:
    est = estimate_batch_cost(write_jsonl([chat_request(f"r{i}", max_tokens=1000) for i in range(1000)]),
                              DEFAULT_PRICE_TABLE)
    assert est.batch_usd == pytest.approx(1000 * (1000 + 2 + MESSAGE_OVERHEAD_TOKENS) * 0.44 / 1e6)
    check_budget(est, None)
    check_budget(est, 1.0)
    expected = r"estimated batch cost \$0\.44.* max_cost_usd=\$0\.1000"
    with pytest.raises(BudgetExceededError, match=expected) as caught:
        check_budget(est, 0.10)
    assert isinstance(caught.value, ValueError) and caught.value.estimate is est


def test_unpriced_models_fail_a_budget_unless_allowed(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl([{"custom_id": "u", "body": {"model": "mystery/model", "messages": [
        {"role": "user", "content": "hi"}]}}])
    est = estimate_batch_cost(path, DEFAULT_PRICE_TABLE)
    assert est.models_without_price == ["mystery/model"] and est.batch_usd == 0
    with pytest.raises(BudgetExceededError, match="no price for mystery/model"):
        check_budget(est, 5.0)
    check_budget(est, 5.0, allow_unpriced=True)
    priced = PriceTable(models={}, default=ModelPrice(input_per_1m=1, output_per_1m=1))
    assert estimate_batch_cost(path, priced).models_without_price == []
