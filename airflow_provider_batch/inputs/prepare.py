"""Validate, estimate and split a batch input in one read, before anything is uploaded.

Each line is read and decoded once: the validation pass (:func:`~.validate.validate_batch_file`)
hands every decoded request to the budget tally (:class:`~.budget.BudgetTally`) and its raw bytes
to the part cutter (:class:`~.split.PartCutter`), which hashes each part on the way. Then, in this
order and still before any upload:

1. a problem in the file raises :class:`~.validate.InputValidationError` (line, field, rule);
2. an estimate over ``max_cost_usd``, or one without a bound, raises
   :class:`~.budget.BudgetExceededError`;
3. the parts are written (byte-range copies; a file that fits is not copied at all).

Each part carries the SHA-256 computed in that read (the submission ledger's key, never computed
again) and its model and worst-case cost, which the ledger records when the part is opened.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_batch.inputs.budget import (
    BudgetTally,
    CostEstimate,
    budget_applies,
    check_budget,
    log_estimate,
)
from airflow_provider_batch.inputs.limits import SUPPORTED_ENDPOINTS, BatchLimits
from airflow_provider_batch.inputs.split import InputPart, PartCutter
from airflow_provider_batch.inputs.validate import InputValidationError, ValidationReport, validate_batch_file
from airflow_provider_batch.pricing import PriceTable

__all__ = ["PreparedInput", "prepare_input"]


@dataclass(frozen=True)
class PreparedInput:
    """An input that passed validation and the budget guard, cut into uploadable parts.

    :ivar estimate: ``None`` for an audio endpoint (not estimated, see :mod:`.budget`).
    """

    report: ValidationReport
    estimate: CostEstimate | None
    parts: list[InputPart]


def prepare_input(
    path: str | os.PathLike[str],
    parts_dir: str | os.PathLike[str],
    *,
    endpoint: str,
    limits: BatchLimits,
    prices: PriceTable,
    max_cost_usd: float | None = None,
    assumed_max_tokens: int | None = None,
    allow_unpriced: bool = False,
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS,
) -> PreparedInput:
    """Read ``path`` once; refuse it or return its parts (written under ``parts_dir`` if it must be cut).

    :raises InputValidationError: the file breaks a rule (nothing is written).
    :raises BudgetExceededError: over ``max_cost_usd``, or no bound exists (nothing is written).
    :raises ValueError: a single line does not fit a part on its own.
    :param endpoints: the endpoints the vendor's batch API takes (Together's by default).
    """
    source = Path(path)
    cutter = PartCutter(limits, source.stat().st_size)
    tally = BudgetTally(assumed_max_tokens, endpoint)
    cut, count = cutter.add, tally.add

    def take(line_no: int, raw: bytes, request: dict[str, Any]) -> None:
        count(line_no, request, cut(raw))

    report = validate_batch_file(
        source, endpoint=endpoint, limits=limits, check_totals=False, sink=take, endpoints=endpoints
    )
    if not report.ok:
        raise InputValidationError(report)
    estimate = None
    if budget_applies(source, endpoint=endpoint, max_cost_usd=max_cost_usd):
        estimate = tally.estimate(prices)
        log_estimate(source, estimate)
        check_budget(estimate, max_cost_usd, allow_unpriced=allow_unpriced)
    parts = cutter.write_parts(source, parts_dir)
    per_part = tally.part_estimates(prices)
    return PreparedInput(
        report=report,
        estimate=estimate,
        parts=[
            dataclasses.replace(
                part,
                model=per_part[part.index].model if part.index in per_part else None,
                estimated_cost_usd=per_part[part.index].batch_usd
                if estimate is not None and part.index in per_part
                else None,
            )
            for part in parts
        ],
    )
