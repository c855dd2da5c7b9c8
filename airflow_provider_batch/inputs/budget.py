"""Worst-case cost estimate of a batch input file, and the budget guard.

Token counts are estimated, not tokenised: :func:`estimate_tokens` assumes about four characters
per token, which is the usual rule of thumb for English text with BPE tokenisers (code and
non-Latin scripts use more tokens per character, so treat the guard as approximate and keep a
margin). Prompt tokens are the text of the messages plus the serialised ``tools`` (function
definitions) and ``response_format`` (JSON schema), which the API also puts in the prompt.
Completion tokens are the worst case: ``max_tokens`` (or ``max_completion_tokens``, the larger if
both are set) times ``n``, the number of completions asked for.

A request without ``max_tokens`` has no bounded worst case. With a limit (``max_cost_usd``) such a
file is refused unless the caller names an assumed completion length (``assumed_max_tokens``);
without a limit it is estimated at :data:`UNBOUNDED_ESTIMATE_TOKENS` and a warning is logged.

Audio batches are not estimated: Together bills audio by its duration, which cannot be known from
the URLs in the file, so :func:`guard_budget` refuses a limit on an audio endpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batch._wrap import wrap
from airflow_provider_batch.endpoints import endpoint_for
from airflow_provider_batch.endpoints._checks import CHARS_PER_TOKEN, estimate_tokens
from airflow_provider_batch.endpoints.chat import MESSAGE_OVERHEAD_TOKENS
from airflow_provider_batch.inputs.limits import CHAT_ENDPOINT
from airflow_provider_batch.pricing import PriceTable

__all__ = [
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD_TOKENS",
    "BudgetExceededError",
    "BudgetTally",
    "PartEstimate",
    "CostEstimate",
    "ModelEstimate",
    "UNBOUNDED_ESTIMATE_TOKENS",
    "UnboundedCostError",
    "budget_applies",
    "check_budget",
    "check_budget_args",
    "estimate_batch_cost",
    "estimate_tokens",
    "guard_budget",
    "log_estimate",
]

log = logging.getLogger("airflow_provider_batch.inputs")

UNBOUNDED_ESTIMATE_TOKENS = 512
"""Completion tokens counted, for the logged estimate only, for a request without ``max_tokens``."""

_EXAMPLES_SHOWN = 5


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
    :ivar unbounded_requests: requests without ``max_tokens``; each is counted at
        ``assumed_max_tokens`` when set, else at :data:`UNBOUNDED_ESTIMATE_TOKENS`.
    :ivar unbounded_examples: ``"line N (custom_id='...')"`` of the first few of them.
    :ivar assumed_max_tokens: the caller's assumption for them; ``None`` means none was made,
        so the estimate is no bound and :func:`check_budget` refuses any limit.
    """

    model_config = ConfigDict(frozen=True)

    requests: int
    prompt_tokens: int
    max_completion_tokens: int
    batch_usd: float
    list_usd: float
    by_model: dict[str, ModelEstimate] = Field(default_factory=dict)
    models_without_price: list[str] = Field(default_factory=list)
    unbounded_requests: int = 0
    unbounded_examples: list[str] = Field(default_factory=list)
    assumed_max_tokens: int | None = None
    #: The body field that bounds a request's output, when it is not chat's ``max_tokens``
    #: (``max_output_tokens`` for the Responses API); named in the refusal's remedy.
    bound_field: str | None = None


class BudgetExceededError(ValueError):
    """The budget guard refused the batch (its estimate is over the limit); nothing was uploaded."""

    def __init__(self, message: str, estimate: CostEstimate | None, max_cost_usd: float) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.max_cost_usd = max_cost_usd


class UnboundedCostError(BudgetExceededError):
    """The worst case cannot be bounded (a request without ``max_tokens``, an audio batch), so a
    ``max_cost_usd`` limit cannot be guaranteed; nothing was uploaded."""


def check_budget_args(
    max_cost_usd: object, assumed_max_tokens: object, endpoint: object = CHAT_ENDPOINT
) -> None:
    """Refuse budget settings that could never be honoured (run where the DAG is parsed).

    A NaN limit would let every estimate through (``x > nan`` is false), so it is refused too.

    :raises ValueError: ``max_cost_usd`` not a finite number >= 0, ``assumed_max_tokens`` not a
        positive integer, or a limit on an audio ``endpoint`` (unless it is still a template).
    """
    if max_cost_usd is not None:
        number = max_cost_usd if isinstance(max_cost_usd, (int, float)) else math.nan
        if isinstance(max_cost_usd, bool) or not (math.isfinite(number) and number >= 0):
            raise ValueError(f"max_cost_usd must be a finite number of USD >= 0, got {max_cost_usd!r:.40}")
    if assumed_max_tokens is not None and (type(assumed_max_tokens) is not int or assumed_max_tokens < 1):
        raise ValueError(f"assumed_max_tokens must be a positive integer, got {assumed_max_tokens!r:.40}")
    if max_cost_usd is not None and not _estimable(endpoint):
        raise ValueError(_audio_message(str(endpoint), float(max_cost_usd)))  # type: ignore[arg-type]


def _estimable(endpoint: object) -> bool:
    """Whether the budget guard can bound ``endpoint``'s cost (an unknown one is refused elsewhere)."""
    try:
        return endpoint_for(endpoint).estimable  # type: ignore[arg-type]
    except ValueError:
        return True


def _audio_message(endpoint: str, max_cost_usd: float) -> str:
    return (
        f"max_cost_usd=${max_cost_usd:.4f} cannot be checked for {endpoint}: Together bills audio by "
        "its duration, which cannot be known from the URLs in the file, so audio batches are not "
        "budget-checked. Remove max_cost_usd for audio batches (cap the spend with fewer or shorter "
        "clips instead)"
    )


class _Unbounded:
    """Requests without ``max_tokens``: a count and the first few, for the message."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []

    def add(self, line_no: int, request: dict[str, Any]) -> None:
        self.count += 1
        if len(self.examples) < _EXAMPLES_SHOWN:
            custom_id = request.get("custom_id")
            shown = f" (custom_id={custom_id!r:.80})" if isinstance(custom_id, str) else ""
            self.examples.append(f"line {line_no}{shown}")


class BudgetTally:
    """Worst-case token totals, fed one decoded request at a time, per model and per input part.

    The validation pass feeds it (see :mod:`airflow_provider_batch.inputs.prepare`), so the file
    is decoded once for both. Plain integers per line: the prices are applied once, at the end.

    :param assumed_max_tokens: completion tokens assumed for a request without ``max_tokens``
        (before ``n``). ``None``: count :data:`UNBOUNDED_ESTIMATE_TOKENS` and report such requests
        in ``unbounded_requests``, which :func:`check_budget` refuses under a limit.
    :param endpoint: the batch's endpoint, whose estimate counts the tokens
        (:meth:`~airflow_provider_batch.endpoints.base.Endpoint.prompt_tokens` and the bound).
    """

    def __init__(self, assumed_max_tokens: int | None = None, endpoint: str = CHAT_ENDPOINT) -> None:
        spec = endpoint_for(endpoint)
        self._prompt_tokens, self._max_tokens = spec.prompt_tokens, spec.max_completion_tokens
        self._completions = spec.completions
        self._bound_field = spec.bound_field
        self.assumed_max_tokens = assumed_max_tokens
        self._fallback = assumed_max_tokens or UNBOUNDED_ESTIMATE_TOKENS
        #: ``(part, model) -> [requests, prompt tokens, worst-case completion tokens]``
        self._totals: dict[tuple[int, str], list[int]] = {}
        self._unbounded = _Unbounded()
        self._schema_tokens = spec.schema_tokens()

    def add(self, line_no: int, request: Any, part: int = 1) -> None:
        """Count one request (lines that are not request objects with a body are ignored)."""
        body = request.get("body") if type(request) is dict else None
        if type(body) is not dict:
            return
        model = body.get("model")
        key = (part, model if type(model) is str else "")
        entry = self._totals.get(key)
        if entry is None:
            entry = self._totals[key] = [0, 0, 0]
        entry[0] += 1
        entry[1] += self._prompt_tokens(body, self._schema_tokens)
        max_tokens = self._max_tokens(body)
        if max_tokens is None:
            self._unbounded.add(line_no, request)
            max_tokens = self._fallback
        entry[2] += max_tokens * self._completions(body)

    def estimate(self, prices: PriceTable) -> CostEstimate:
        """The whole input's estimate, per model and in total."""
        per_model: dict[str, ModelEstimate] = {}
        for (_, model), (requests, prompt, completion) in self._totals.items():
            entry = per_model.setdefault(model, ModelEstimate())
            entry.requests += requests
            entry.prompt_tokens += prompt
            entry.max_completion_tokens += completion
        estimate = _total(per_model, prices, self._unbounded, self.assumed_max_tokens)
        return (
            estimate.model_copy(update={"bound_field": self._bound_field}) if self._bound_field else estimate
        )

    def part_estimates(self, prices: PriceTable) -> dict[int, PartEstimate]:
        """Each part's model(s) and worst-case cost at batch price."""
        models: dict[int, list[str]] = {}
        usd: dict[int, float | None] = {}
        for (part, model), (_, prompt, completion) in self._totals.items():
            models.setdefault(part, []).append(model)
            so_far = usd.get(part, 0.0)
            # A model without a price makes the part's estimate unknown, never $0.
            if so_far is not None and prices.has_price(model):
                usd[part] = so_far + prices.cost(model, prompt, completion).batch_usd
            else:
                usd[part] = None
        return {
            part: PartEstimate(model=_models_label(names), batch_usd=_rounded(usd[part]))
            for part, names in models.items()
        }


def _rounded(usd: float | None) -> float | None:
    return None if usd is None else round(usd, 10)


class PartEstimate(BaseModel):
    """One input part's model (several are joined with ``", "``) and worst-case batch-price cost
    (``None`` when a model of the part has no price)."""

    model_config = ConfigDict(frozen=True)

    model: str | None
    batch_usd: float | None


_MODEL_LABEL_CHARS = 200
"""Room for the model in the submission ledger's ``model`` column."""


def _models_label(names: list[str]) -> str | None:
    label = ", ".join(sorted(name for name in names if name))
    if len(label) > _MODEL_LABEL_CHARS:
        label = label[: _MODEL_LABEL_CHARS - 3] + "..."
    return label or None


def estimate_batch_cost(
    path: str | os.PathLike[str],
    prices: PriceTable,
    *,
    assumed_max_tokens: int | None = None,
    endpoint: str = CHAT_ENDPOINT,
) -> CostEstimate:
    """Stream over a batch input file and estimate its worst-case cost per model and in total.

    Validate the file first: lines that are not request objects are skipped, invalid JSON raises.
    The submit operator does not call this: its one pass over the input validates, estimates and
    splits together (:func:`~airflow_provider_batch.inputs.prepare.prepare_input`).

    :param assumed_max_tokens: see :class:`BudgetTally`.
    :param endpoint: the batch's endpoint (chat completions by default).
    """
    tally = BudgetTally(assumed_max_tokens, endpoint)
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.isspace():
                tally.add(line_no, json.loads(raw))
    estimate = tally.estimate(prices)
    log_estimate(path, estimate)
    return estimate


def log_estimate(path: str | os.PathLike[str], estimate: CostEstimate) -> None:
    """The estimate as one log record of short lines: where, how much, and what has no price."""
    lines = [
        f"Batch cost estimate for {path}:",
        f"    {estimate.requests} requests, ~{estimate.prompt_tokens} prompt tokens, "
        f"<= {estimate.max_completion_tokens} completion tokens",
        f"    <= ${estimate.batch_usd:.4f} at batch price (${estimate.list_usd:.4f} at list price)",
    ]
    if estimate.models_without_price:
        lines.append(
            "    " + wrap(f"no price for {', '.join(estimate.models_without_price)}").replace("\n", "\n    ")
        )
    log.info("%s", "\n".join(lines))
    if not estimate.unbounded_requests:
        return
    if estimate.assumed_max_tokens is None:
        log.warning(
            "%d request(s) have no max_tokens (first: %s), so their completion length is unbounded; "
            "the estimate counts %d tokens for each, which is not a bound",
            estimate.unbounded_requests,
            ", ".join(estimate.unbounded_examples),
            UNBOUNDED_ESTIMATE_TOKENS,
        )
    else:
        log.warning(
            "%d request(s) have no max_tokens (first: %s); the estimate assumes assumed_max_tokens=%d "
            "for each, an assumption the API does not enforce",
            estimate.unbounded_requests,
            ", ".join(estimate.unbounded_examples),
            estimate.assumed_max_tokens,
        )


def _total(
    per_model: dict[str, ModelEstimate], prices: PriceTable, unbounded: _Unbounded, assumed: int | None
) -> CostEstimate:
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
        unbounded_requests=unbounded.count,
        unbounded_examples=unbounded.examples,
        assumed_max_tokens=assumed,
    )


def check_budget(estimate: CostEstimate, max_cost_usd: float | None, *, allow_unpriced: bool = False) -> None:
    """Refuse a batch whose estimated batch-price cost is over ``max_cost_usd``.

    ``None`` disables the guard. With a limit set, a request without ``max_tokens`` (unless the
    estimate was made with ``assumed_max_tokens``) and a model without a price (unless
    ``allow_unpriced``) also fail the check: the estimate would not be a bound.

    :raises UnboundedCostError: a request has no ``max_tokens`` and no assumption was made.
    :raises BudgetExceededError: with the estimate and the limit in the message.
    """
    if max_cost_usd is None:
        return
    if estimate.unbounded_requests and estimate.assumed_max_tokens is None:
        raise UnboundedCostError(_unbounded_message(estimate, max_cost_usd), estimate, max_cost_usd)
    if estimate.batch_usd > max_cost_usd:
        raise BudgetExceededError(
            f"estimated batch cost ${estimate.batch_usd:.4f} (worst case: {estimate.requests} requests, "
            f"~{estimate.prompt_tokens} prompt + {estimate.max_completion_tokens} completion tokens) "
            f"exceeds the limit max_cost_usd=${max_cost_usd:.4f}; nothing was uploaded",
            estimate,
            max_cost_usd,
        )
    if estimate.models_without_price and not allow_unpriced:
        raise BudgetExceededError(
            f"cannot check the budget of ${max_cost_usd:.4f}: no price for "
            f"{', '.join(estimate.models_without_price)}; priced part of the estimate: "
            f"${estimate.batch_usd:.4f}. Remedy: add the model(s) to the price table (the operator's "
            "price_table={'models': {'<model>': {'input_per_1m': ..., 'output_per_1m': ...}}}, or the "
            "connection's price_table extra), or pass allow_unpriced=True to check the budget against "
            "the priced requests only. Nothing was uploaded",
            estimate,
            max_cost_usd,
        )


def _unbounded_message(estimate: CostEstimate, max_cost_usd: float) -> str:
    first = estimate.unbounded_examples[0]
    more = estimate.unbounded_requests - 1
    others = f"; {more} more request(s) lack it too (first ones: {', '.join(estimate.unbounded_examples)})"
    field = estimate.bound_field
    if field is not None:
        return (
            f"{first}: max_tokens_required: the request does not set {field}, so its output length and the "
            f"batch's worst-case cost have no bound, and max_cost_usd=${max_cost_usd:.4f} cannot be "
            f"guaranteed{others if more else ''}. Remedy: set {field} in every request body "
            f"(BuildRequestsOperator: body={{'{field}': ...}}), or pass assumed_max_tokens=<tokens> to "
            "budget such requests at that many output tokens each (an assumption the API does not "
            "enforce). Nothing was uploaded"
        )
    return (
        f"{first}: max_tokens_required: the request sets neither max_tokens nor max_completion_tokens, "
        f"so its completion length and the batch's worst-case cost have no bound, and "
        f"max_cost_usd=${max_cost_usd:.4f} cannot be guaranteed{others if more else ''}. "
        "Remedy: set max_tokens in every request body (TogetherBuildRequestsOperator: "
        "body={'max_tokens': ...}), or pass assumed_max_tokens=<tokens> to budget such requests at "
        "that many completion tokens each (an assumption the API does not enforce). Nothing was uploaded"
    )


def guard_budget(
    path: str | os.PathLike[str],
    *,
    endpoint: str,
    prices: PriceTable,
    max_cost_usd: float | None,
    assumed_max_tokens: int | None = None,
    allow_unpriced: bool = False,
) -> CostEstimate | None:
    """Estimate a validated input's worst-case cost, log it, and refuse it when over ``max_cost_usd``.

    One streaming pass over the file. Audio endpoints are not estimated (see the module doc): with
    a limit they are refused, without one the log says that the batch is not budget-checked.

    :returns: the estimate, or ``None`` for an audio batch.
    :raises BudgetExceededError: over the limit, or (``UnboundedCostError``) no bound exists.
    """
    if not budget_applies(path, endpoint=endpoint, max_cost_usd=max_cost_usd):
        return None
    estimate = estimate_batch_cost(path, prices, assumed_max_tokens=assumed_max_tokens, endpoint=endpoint)
    check_budget(estimate, max_cost_usd, allow_unpriced=allow_unpriced)
    return estimate


def budget_applies(path: str | os.PathLike[str], *, endpoint: str, max_cost_usd: float | None) -> bool:
    """Whether ``endpoint`` is estimated at all: audio is not (refused under a limit, else logged).

    :raises UnboundedCostError: an audio endpoint with a ``max_cost_usd`` limit.
    """
    if _estimable(endpoint):
        return True
    if max_cost_usd is not None:
        raise UnboundedCostError(
            _audio_message(endpoint, max_cost_usd) + "; nothing was uploaded", None, max_cost_usd
        )
    log.info(
        "Audio batch %s for %s: no cost estimate and no budget check (Together bills audio "
        "by duration, unknowable from the URLs)",
        path,
        endpoint,
    )
    return False
