"""Anthropic's prices (USD per 1M tokens, standard rate) and its 50% Message Batches discount.

As Anthropic published them in 2025 (https://www.anthropic.com/pricing). Override them with the
``price_table`` connection extra or operator parameter (same shape as
:meth:`~airflow_provider_batch.pricing.PriceTable.from_mapping`). A model missing here has no price:
a task with a budget refuses it, naming the model.
"""

from __future__ import annotations

from airflow_provider_batch.pricing import ModelPrice, PriceTable

__all__ = ["ANTHROPIC_PRICES", "CACHE_READ_FACTOR", "CACHE_WRITE_1H_FACTOR", "CACHE_WRITE_FACTOR"]

#: Anthropic's prompt caching, as multiples of the model's input rate: a cache write with the
#: default 5-minute lifetime costs 1.25x, one with a 1-hour lifetime 2x, a cache read 0.1x. The
#: Message Batches discount (50%) applies to them too. They are the table's ``cache_*_factor``
#: fields, overridable in a ``price_table`` like the rest.
CACHE_WRITE_FACTOR, CACHE_WRITE_1H_FACTOR, CACHE_READ_FACTOR = 1.25, 2.0, 0.10

_PRICES = {
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4-5-20251101": (5.00, 25.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4-1-20250805": (15.00, 75.00),
    "claude-opus-4-0": (15.00, 75.00),
    "claude-opus-4-20250514": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4-5-20250929": (3.00, 15.00),
    "claude-sonnet-4-0": (3.00, 15.00),
    "claude-sonnet-4-20250514": (3.00, 15.00),
    "claude-3-7-sonnet-latest": (3.00, 15.00),
    "claude-3-7-sonnet-20250219": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-haiku-4-5-20251001": (1.00, 5.00),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-5-haiku-20241022": (0.80, 4.00),
    "claude-3-haiku-20240307": (0.25, 1.25),
}

ANTHROPIC_PRICES = PriceTable(
    batch_discount=0.5,
    cache_write_factor=CACHE_WRITE_FACTOR,
    cache_write_1h_factor=CACHE_WRITE_1H_FACTOR,
    cache_read_factor=CACHE_READ_FACTOR,
    source="https://www.anthropic.com/pricing",
    as_of="2025",
    models={m: ModelPrice(input_per_1m=i, output_per_1m=o) for m, (i, o) in _PRICES.items()},
)
