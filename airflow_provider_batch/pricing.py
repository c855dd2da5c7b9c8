"""Per-model token prices, used for the budget guard (estimates) and the spend tables (actuals).

Prices are USD per one million tokens at Together's real-time (list) rate; the batch rate is the
list rate times ``1 - batch_discount``. The defaults below are the serverless list prices published
on together.ai/pricing as read on 2025-12-01 (source: https://www.together.ai/pricing), with the 50%
batch discount announced at https://www.together.ai/blog/batch-api. They are not re-checked at run
time: override them with the ``price_table`` operator argument or the ``price_table`` connection
extra (same JSON shape as :meth:`PriceTable.from_mapping`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_PRICE_TABLE",
    "PRICES_SOURCE",
    "PRICES_AS_OF",
    "CacheRates",
    "CacheTokens",
    "ModelPrice",
    "PriceTable",
    "Cost",
]

PRICES_SOURCE = "https://www.together.ai/pricing"
PRICES_AS_OF = "2025-12-01"


class ModelPrice(BaseModel):
    """List price of one model, USD per 1M tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


class Cost(BaseModel):
    """A cost at list price and at batch price, in USD."""

    model_config = ConfigDict(frozen=True)

    list_usd: float
    batch_usd: float

    @property
    def savings_usd(self) -> float:
        return self.list_usd - self.batch_usd


_CACHE_FACTORS = ("cache_write_factor", "cache_write_1h_factor", "cache_read_factor")


class CacheRates(NamedTuple):
    """USD per 1M prompt-cache tokens: a write with a 5-minute lifetime, with a 1-hour one, a read."""

    write: float
    write_1h: float
    read: float


class CacheTokens(NamedTuple):
    """Prompt-cache tokens a vendor counts apart from the input (Anthropic's usage): written (all
    lifetimes; ``written_1h`` of them with a one-hour lifetime) and read."""

    written: int = 0
    read: int = 0
    written_1h: int = 0

    def usd_per_1m(self, rates: CacheRates) -> float:
        """Their cost times one million at ``rates`` (list price)."""
        written_5m = max(self.written - self.written_1h, 0)
        return written_5m * rates.write + self.written_1h * rates.write_1h + self.read * rates.read


class PriceTable(BaseModel):
    """Prices per model plus the batch discount.

    :param models: model name -> :class:`ModelPrice`.
    :param batch_discount: fraction taken off the list price for batch jobs (0.5 = half price).
    :param default: price used for a model missing from ``models``; ``None`` makes such a model
        cost nothing and be reported by :meth:`has_price`.
    :param cache_write_factor: a prompt-cache write token (a vendor that counts them apart from the
        input, as Anthropic's ``cache_creation_input_tokens``) costs this times the model's input
        rate; ``cache_write_1h_factor`` for a write with a one-hour lifetime.
    :param cache_read_factor: a prompt-cache read token (``cache_read_input_tokens``) costs this
        times the input rate. All three are 1.0 (the input rate) unless the vendor's table says
        otherwise; the batch discount applies on top, as on every other token.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, ModelPrice] = Field(default_factory=dict)
    batch_discount: float = Field(default=0.5, ge=0, le=1)
    default: ModelPrice | None = None
    cache_write_factor: float = Field(default=1.0, ge=0)
    cache_write_1h_factor: float = Field(default=1.0, ge=0)
    cache_read_factor: float = Field(default=1.0, ge=0)
    source: str = PRICES_SOURCE
    as_of: str = PRICES_AS_OF

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, base: PriceTable | None = None) -> PriceTable:
        """Build a table from JSON-like data, merged over ``base`` (default: Together's prices; a
        vendor passes its own).

        Accepted shape::

            {"batch_discount": 0.5,
             "models": {"org/model": {"input_per_1m": 0.88, "output_per_1m": 0.88}},
             "default": {"input_per_1m": 1.0, "output_per_1m": 1.0}}
        """
        base = DEFAULT_PRICE_TABLE if base is None else base
        if not data:
            return base
        merged: dict[str, Any] = base.model_dump()
        merged["models"].update(data.get("models", {}))
        for key in ("batch_discount", "default", "source", "as_of", *_CACHE_FACTORS):
            if key in data:
                merged[key] = data[key]
        return cls.model_validate(merged)

    def has_price(self, model: str | None) -> bool:
        return (model in self.models) or self.default is not None

    def price(self, model: str | None) -> ModelPrice | None:
        if model is not None and model in self.models:
            return self.models[model]
        return self.default

    def input_rates(self, price: ModelPrice) -> CacheRates:
        """USD per 1M tokens of a prompt-cache write (5-minute, 1-hour) and read for ``price``."""
        rate = price.input_per_1m
        return CacheRates(
            rate * self.cache_write_factor, rate * self.cache_write_1h_factor, rate * self.cache_read_factor
        )

    def cost(
        self, model: str | None, prompt_tokens: int, completion_tokens: int, cache: CacheTokens | None = None
    ) -> Cost:
        """Cost of one request (or a sum of requests of one model); ``cache``: its prompt-cache
        tokens counted apart from ``prompt_tokens``."""
        price = self.price(model)
        if price is None:
            return Cost(list_usd=0.0, batch_usd=0.0)
        list_usd = (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6
        if cache is not None:
            list_usd += cache.usd_per_1m(self.input_rates(price)) / 1e6
        batch_usd = list_usd * (1.0 - self.batch_discount)
        return Cost(list_usd=_round(list_usd), batch_usd=_round(batch_usd))


def _round(value: float) -> float:
    # Ten decimal places keep sums exact enough for per-request micro-dollar amounts.
    return math.floor(value * 1e10 + 0.5) / 1e10


def _p(inp: float, out: float) -> ModelPrice:
    return ModelPrice(input_per_1m=inp, output_per_1m=out)


DEFAULT_PRICE_TABLE = PriceTable(
    batch_discount=0.5,
    models={
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": _p(0.88, 0.88),
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": _p(0.18, 0.18),
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": _p(0.88, 0.88),
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": _p(3.50, 3.50),
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": _p(0.27, 0.85),
        "meta-llama/Llama-4-Scout-17B-16E-Instruct": _p(0.18, 0.59),
        "Qwen/Qwen2.5-72B-Instruct-Turbo": _p(1.20, 1.20),
        "Qwen/Qwen2.5-7B-Instruct-Turbo": _p(0.30, 0.30),
        "Qwen/Qwen3-235B-A22B-Instruct-2507-tput": _p(0.20, 0.60),
        "deepseek-ai/DeepSeek-V3": _p(1.25, 1.25),
        "mistralai/Mixtral-8x7B-Instruct-v0.1": _p(0.60, 0.60),
        "mistralai/Mistral-7B-Instruct-v0.3": _p(0.20, 0.20),
        "google/gemma-2-27b-it": _p(0.80, 0.80),
        "openai/gpt-oss-120b": _p(0.15, 0.60),
        "openai/gpt-oss-20b": _p(0.05, 0.20),
        # Audio models are billed per audio minute on the real API; the transcript's token
        # counts are used here as an approximation so spend is never silently zero. The budget
        # guard does not use this: the audio's duration is unknowable before the batch runs, so
        # audio batches are not budget-checked (see inputs.budget.guard_budget).
        "openai/whisper-large-v3": _p(0.10, 0.10),
    },
)
