"""Tokens and money: the six figures a batch, a load and a day of spend are measured by.

The spend table, the ledger's outcomes, the results task's XCom and its report all carry the same
six fields, flat, under the same names (:data:`FIGURE_FIELDS`): tables and XCom keep their shape.
:class:`Figures` is those six as one value, and :meth:`Figures.total` is the one place they are
added up: tokens exactly, dollars rounded to :data:`MONEY_DECIMALS` places once, after the sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["FIGURE_FIELDS", "MONEY_DECIMALS", "MONEY_FIELDS", "TOKEN_FIELDS", "Figures"]

#: Dollars are kept to a millionth: the smallest price step of any batch price table.
MONEY_DECIMALS = 6


class Figures(BaseModel):
    """Tokens used and what they cost, at batch price and at list price, and the difference.

    A record that carries the figures as flat fields of its own (the ledger's outcome, the results
    task's manifest) derives from this class, so the six are declared once.
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_list: float = 0.0
    savings_usd: float = 0.0

    @classmethod
    def of(cls, source: Any) -> Figures:
        """The figures an object carries as attributes of the same names (``None`` counts 0):
        a spend-table summary, a ledger outcome, a results manifest."""
        return Figures(**{name: getattr(source, name, None) or 0 for name in FIGURE_FIELDS})

    @classmethod
    def total(cls, sources: Iterable[Any]) -> Figures:
        """The sum of the figures of ``sources`` (:meth:`of` each), money rounded once."""
        sums: list[Any] = [0] * len(FIGURE_FIELDS)
        for source in sources:
            for i, value in enumerate(cls.of(source).as_tuple()):
                sums[i] += value
        money = len(TOKEN_FIELDS)
        sums[money:] = [round(value, MONEY_DECIMALS) for value in sums[money:]]
        return Figures(**dict(zip(FIGURE_FIELDS, sums, strict=True)))

    def __add__(self, other: Figures) -> Figures:
        return Figures.total((self, other))

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FIGURE_FIELDS)

    def as_dict(self) -> dict[str, Any]:
        """The six fields by name: keyword arguments for a record of the flat shape."""
        return {name: getattr(self, name) for name in FIGURE_FIELDS}


#: The six figure fields, in column order.
FIGURE_FIELDS: tuple[str, ...] = tuple(Figures.model_fields)
TOKEN_FIELDS: tuple[str, ...] = FIGURE_FIELDS[:3]
MONEY_FIELDS: tuple[str, ...] = FIGURE_FIELDS[3:]
