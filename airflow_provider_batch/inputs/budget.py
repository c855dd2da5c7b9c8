"""Worst-case cost estimate of a batch input file, and the budget guard.

Token counts are estimated, not tokenised: :func:`estimate_tokens` assumes about four characters
per token, which is the usual rule of thumb for English text with BPE tokenisers (code and
non-Latin scripts use more tokens per character, so treat the guard as approximate and keep a
margin). Completion tokens are the worst case: each request's ``max_tokens`` (or
``max_completion_tokens``), else ``default_max_tokens``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batch.pricing import PriceTable

__all__ = [
    "BudgetExceededError",
    "CostEstimate",
    "ModelEstimate",
    "check_budget",
    "estimate_batch_cost",
    "estimate_tokens",
]

log = logging.getLogger("airflow_provider_batch.inputs")

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens added per chat message for the role and the chat template's separators."""


def estimate_tokens(text: str) -> int:
    """Estimate the token count of ``text`` as ``ceil(len(text) / 4)`` (0 for empty text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


class ModelEstimate(BaseModel):
    """Totals for one model."""

    requests: int = 0
    prompt_tokens: int = 0
    max_completion_tokens: int = 0
    batch_usd: float = 0.0
    list_usd: float = 0.0


class CostEstimate(BaseModel):
    """Estimated worst-case cost of one batch input file.

    :ivar models_without_price: models the price table has no price for; their cost counts as 0,
        so when this is non-empty the totals are a lower bound.
    """

    model_config = ConfigDict(frozen=True)

    requests: int
    prompt_tokens: int
    max_completion_tokens: int
    batch_usd: float
    list_usd: float
    by_model: dict[str, ModelEstimate] = Field(default_factory=dict)
    models_without_price: list[str] = Field(default_factory=list)


class BudgetExceededError(ValueError):
    """The estimated batch cost is over the configured limit; nothing was uploaded."""

    def __init__(self, message: str, estimate: CostEstimate, max_cost_usd: float) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.max_cost_usd = max_cost_usd


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Multimodal parts: only text parts are counted; images and audio are not estimated.
        texts = (part.get("text") for part in content if isinstance(part, dict))
        return "".join(text for text in texts if isinstance(text, str))
    return ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("prompt")
        return estimate_tokens(prompt) if isinstance(prompt, str) else 0
    total = 0
    for message in messages:
        if isinstance(message, dict):
            total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(_content_text(message.get("content")))
    return total


def _max_tokens(body: dict[str, Any], default: int) -> int:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if type(value) is int and value > 0:
            return value
    return default


def estimate_batch_cost(
    path: str | os.PathLike[str], prices: PriceTable, *, default_max_tokens: int = 512
) -> CostEstimate:
    """Stream over a batch input file and estimate its worst-case cost per model and in total.

    Validate the file first: lines that are not request objects are skipped, invalid JSON raises.
    """
    per_model: dict[str, ModelEstimate] = {}
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.isspace():
                continue
            request = json.loads(raw)
            body = request.get("body") if isinstance(request, dict) else None
            if not isinstance(body, dict):
                continue
            model = body.get("model")
            entry = per_model.setdefault(model if isinstance(model, str) else "", ModelEstimate())
            entry.requests += 1
            entry.prompt_tokens += _prompt_tokens(body)
            entry.max_completion_tokens += _max_tokens(body, default_max_tokens)
    estimate = _total(per_model, prices)
    log.info(
        "Batch cost estimate for %s: %d requests, ~%d prompt tokens, <= %d completion tokens, "
        "<= $%.4f at batch price ($%.4f at list price)%s",
        path, estimate.requests, estimate.prompt_tokens, estimate.max_completion_tokens,
        estimate.batch_usd, estimate.list_usd,
        f"; no price for {', '.join(estimate.models_without_price)}" if estimate.models_without_price else "",
    )
    return estimate


def _total(per_model: dict[str, ModelEstimate], prices: PriceTable) -> CostEstimate:
    unpriced = []
    for model, entry in per_model.items():
        if not prices.has_price(model):
            unpriced.append(model)
        cost = prices.cost(model, entry.prompt_tokens, entry.max_completion_tokens)
        entry.batch_usd, entry.list_usd = cost.batch_usd, cost.list_usd
    return CostEstimate(
        requests=sum(e.requests for e in per_model.values()),
        prompt_tokens=sum(e.prompt_tokens for e in per_model.values()),
        max_completion_tokens=sum(e.max_completion_tokens for e in per_model.values()),
        batch_usd=round(sum(e.batch_usd for e in per_model.values()), 10),
        list_usd=round(sum(e.list_usd for e in per_model.values()), 10),
        by_model=per_model,
        models_without_price=sorted(unpriced),
    )


def check_budget(estimate: CostEstimate, max_cost_usd: float | None, *, allow_unpriced: bool = False) -> None:
    """Refuse a batch whose estimated batch-price cost is over ``max_cost_usd``.

    ``None`` disables the guard. With a limit set, models without a price also fail the check
    (the estimate would be a silent lower bound) unless ``allow_unpriced`` is true.

    :raises BudgetExceededError: with the estimate and the limit in the message.
    """
    if max_cost_usd is None:
        return
    if estimate.batch_usd > max_cost_usd:
        raise BudgetExceededError(
            f"estimated batch cost ${estimate.batch_usd:.4f} (worst case: {estimate.requests} requests, "
            f"~{estimate.prompt_tokens} prompt + {estimate.max_completion_tokens} completion tokens) "
            f"exceeds the limit max_cost_usd=${max_cost_usd:.4f}; nothing was uploaded",
            estimate, max_cost_usd,
        )
    if estimate.models_without_price and not allow_unpriced:
        raise BudgetExceededError(
            f"cannot check the budget of ${max_cost_usd:.4f}: no price for "
            f"{', '.join(estimate.models_without_price)} (add them to price_table or set allow_unpriced); "
            f"priced part of the estimate: ${estimate.batch_usd:.4f}",
            estimate, max_cost_usd,
        )
