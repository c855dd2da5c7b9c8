"""Tokens and money: the eight figures a batch, a load and a day of spend are measured by.

The spend table, the ledger's outcomes, the results task's XCom and its report all carry the same
eight fields, flat, under the same names (:data:`FIGURE_FIELDS`): tables and XCom keep their
shape. :class:`Figures` is those eight as one value, and :meth:`Figures.total` is the one place
they are added up: tokens exactly, dollars rounded to :data:`MONEY_DECIMALS` places once, after
the sum.

The prompt-cache tokens (:data:`CACHE_TOKEN_FIELDS`) are counted apart from ``prompt_tokens``
(Anthropic's ``cache_creation_input_tokens`` and ``cache_read_input_tokens``; 0 elsewhere) and
priced into the money fields at the vendor's cache factors: they are what reconciles a bill whose
prompt tokens alone do not explain its dollars. They come last, as in the spend table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CACHE_TOKEN_FIELDS",
    "FIGURE_FIELDS",
    "MONEY_DECIMALS",
    "MONEY_FIELDS",
    "TOKEN_FIELDS",
    "Figures",
]

#: Dollars are kept to a millionth: the smallest price step of any batch price table.
MONEY_DECIMALS = 6


class Figures(BaseModel):
    """Tokens used and what they cost, at batch price and at list price, and the difference.

    A record that carries the figures as flat fields of its own (the ledger's outcome, the results
    task's manifest) derives from this class, so the eight are declared once.
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_list: float = 0.0
    savings_usd: float = 0.0
    #: Prompt-cache tokens written (billed above the input rate), apart from ``prompt_tokens``.
    cache_creation_tokens: int = 0
    #: Prompt-cache tokens read (billed below the input rate), apart from ``prompt_tokens``.
    cache_read_tokens: int = 0

    @classmethod
    def of(cls, source: Any) -> Figures:
        """The figures an object carries as attributes of the same names (``None`` counts 0):
        a spend-table summary, a ledger outcome, a results manifest."""
        return Figures(**{name: getattr(source, name, None) or 0 for name in FIGURE_FIELDS})

    @classmethod
    def total(cls, sources: Iterable[Any]) -> Figures:
        """The sum of the figures of ``sources`` (:meth:`of` each), money rounded once."""
        sums: dict[str, Any] = dict.fromkeys(FIGURE_FIELDS, 0)
        for source in sources:
            for name, value in cls.of(source).as_dict().items():
                sums[name] += value
        for name in MONEY_FIELDS:
            sums[name] = round(sums[name], MONEY_DECIMALS)
        return Figures(**sums)

    def __add__(self, other: Figures) -> Figures:
        return Figures.total((self, other))

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FIGURE_FIELDS)

    def as_dict(self) -> dict[str, Any]:
        """The eight fields by name: keyword arguments for a record of the flat shape."""
        return {name: getattr(self, name) for name in FIGURE_FIELDS}

    @property
    def cached(self) -> bool:
        """Whether any prompt-cache token was written or read (what a page shows only then)."""
        return bool(self.cache_creation_tokens or self.cache_read_tokens)


#: The eight figure fields, in column order.
FIGURE_FIELDS: tuple[str, ...] = tuple(Figures.model_fields)
#: The prompt's, the completion's and their total.
TOKEN_FIELDS: tuple[str, ...] = FIGURE_FIELDS[:3]
MONEY_FIELDS: tuple[str, ...] = FIGURE_FIELDS[3:6]
#: The prompt-cache token fields (the last columns of the results and spend tables).
CACHE_TOKEN_FIELDS: tuple[str, ...] = FIGURE_FIELDS[6:]
