"""Reconcile expected requests with output and error lines by ``custom_id`` (pure, no I/O).

Two passes keep memory bounded by the number of requests, never by the size of responses:

1. an index pass over the output lines, then the error lines, records which line wins for each
   ``custom_id`` (as a small integer) and accumulates counts, tokens and cost;
2. :meth:`Reconciliation.rows` walks the same lines again and builds a :class:`ResultRow` only
   for the winning lines, then one row for every expected request that no line answered.

Duplicate rule: the **first** line for a ``custom_id`` wins, reading the whole output file
before the error file, each top to bottom. A success in the output file therefore beats a
failure in the error file for the same id. Later lines are counted as duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE, PriceTable
from airflow_provider_batch.results.models import (
    BatchSummary,
    Diagnostics,
    ExpectedRequest,
    ParsedLine,
    ResultRow,
    RowStatus,
    RunContext,
)

__all__ = ["Reconciliation", "reconcile"]

_UNITS = 10**10  # cost is summed in units of 1e-10 USD, the precision of PriceTable.cost
_SOURCES = ("output", "error")
_UNANSWERED_STATUS = {"EXPIRED": RowStatus.EXPIRED, "CANCELLED": RowStatus.CANCELLED}


@dataclass
class _Totals:
    counts: dict[RowStatus, int] = field(default_factory=lambda: dict.fromkeys(RowStatus, 0))
    prompt: int = 0
    completion: int = 0
    total: int = 0
    batch_units: int = 0
    list_units: int = 0
    models: set[str] = field(default_factory=set)


@dataclass
class Reconciliation:
    """The outcome of :func:`reconcile`.

    :ivar summary: the spend-table row for the batch (sums over all rows).
    :ivar diagnostics: duplicates, unknown ids and unreadable lines, with samples.
    :ivar counts: rows per status (``{"succeeded": n, ...}``).
    """

    batch_id: str
    summary: BatchSummary
    diagnostics: Diagnostics
    counts: dict[str, int]
    _expected: dict[str, ExpectedRequest] = field(repr=False)
    _winners: dict[str, int] = field(repr=False)
    _sources: tuple[Iterable[ParsedLine], Iterable[ParsedLine]] = field(repr=False)
    _builder: _RowBuilder = field(repr=False)

    def __len__(self) -> int:
        return len(self._expected)

    def rows(self) -> Iterator[ResultRow]:
        """Yield exactly one row per expected request (second pass over the lines).

        :raises RuntimeError: if the lines changed between the two passes.
        """
        emitted = 0
        for src, lines in enumerate(self._sources):
            for ordinal, line in enumerate(lines):
                cid = line.custom_id
                if cid is not None and self._winners.get(cid) == _key(src, ordinal):
                    emitted += 1
                    yield self._builder.answered(self._expected[cid], line)
        for cid, request in self._expected.items():
            if cid not in self._winners:
                emitted += 1
                yield self._builder.unanswered(request)
        if emitted != len(self._expected):
            raise RuntimeError(
                f"batch {self.batch_id}: produced {emitted} rows for {len(self._expected)} expected "
                "requests; the output or error lines changed between the two passes"
            )


def reconcile(
    expected: Iterable[ExpectedRequest],
    outputs: Iterable[ParsedLine],
    errors: Iterable[ParsedLine],
    *,
    batch_id: str,
    batch_status: str,
    prices: PriceTable = DEFAULT_PRICE_TABLE,
    endpoint: str | None = None,
    submitted_at: datetime | None = None,
    completed_at: datetime | None = None,
    run: RunContext = RunContext(),
) -> Reconciliation:
    """Match every expected request to its output or error line.

    ``outputs`` and ``errors`` are iterated twice (see the module docstring); pass re-iterable
    objects such as :class:`~airflow_provider_batch.results.parse.ParsedFile` to keep memory
    bounded. A one-shot iterator is accepted but is first copied into a list.

    :param expected: the submitted requests; a repeated ``custom_id`` is a duplicate (first wins).
    :param batch_status: the batch's final status; ``EXPIRED``/``CANCELLED`` turn unanswered
        requests into ``expired``/``cancelled`` rows instead of ``missing``.
    :param prices: prices for ``cost_usd`` (batch price) and the summary's list cost.
    :param run: the Airflow run stamped on every row and on the summary.
    """
    diagnostics = Diagnostics()
    index = _index_expected(expected, diagnostics)
    sources = (_reiterable(outputs), _reiterable(errors))
    status = str(getattr(batch_status, "value", batch_status)).upper()
    builder = _RowBuilder(batch_id, prices, _UNANSWERED_STATUS.get(status, RowStatus.MISSING), run)
    winners: dict[str, int] = {}
    totals = _Totals()
    for src, lines in enumerate(sources):
        for ordinal, line in enumerate(lines):
            cid = _check_line(line, src, index, winners, diagnostics)
            if cid is not None:
                winners[cid] = _key(src, ordinal)
                builder.account(totals, index[cid], line)
    for cid, request in index.items():
        if cid not in winners:
            builder.account(totals, request, None)
    summary = _summary(totals, batch_id, status, endpoint, submitted_at, completed_at, run)
    counts = {str(k): v for k, v in totals.counts.items()}
    return Reconciliation(batch_id, summary, diagnostics, counts, index, winners, sources, builder)


def _key(src: int, ordinal: int) -> int:
    return ordinal * 2 + src


def _reiterable(lines: Iterable[ParsedLine]) -> Iterable[ParsedLine]:
    return list(lines) if iter(lines) is lines else lines


def _index_expected(
    expected: Iterable[ExpectedRequest], diagnostics: Diagnostics
) -> dict[str, ExpectedRequest]:
    index: dict[str, ExpectedRequest] = {}
    for request in expected:
        if request.custom_id in index:
            diagnostics.add("duplicates", f"{request.custom_id} (expected requests)")
        else:
            index[request.custom_id] = request
    return index


def _check_line(
    line: ParsedLine,
    src: int,
    index: dict[str, ExpectedRequest],
    winners: dict[str, int],
    diagnostics: Diagnostics,
) -> str | None:
    """Return the line's ``custom_id`` if it wins, else record why not and return ``None``."""
    cid = line.custom_id
    if cid is None:
        diagnostics.add("invalid_lines", f"{_SOURCES[src]} line {line.line_no}: {line.problem}")
        return None
    if cid not in index:
        diagnostics.add("unknown_ids", f"{cid} ({_SOURCES[src]} line {line.line_no})")
        return None
    if cid in winners:
        diagnostics.add("duplicates", f"{cid} ({_SOURCES[src]} line {line.line_no})")
        return None
    return cid


class _RowBuilder:
    """Builds rows the same way in both passes, so the summary equals the sum of the rows."""

    def __init__(self, batch_id: str, prices: PriceTable, unanswered: RowStatus, run: RunContext) -> None:
        self.batch_id = batch_id
        self.prices = prices
        self.unanswered_status = unanswered
        self.run = (run.dag_id, run.run_id, run.logical_date, run.loaded_at)
        # attempts, then the owner; a new row is current (not superseded).
        self.owner = (1, run.task_id, run.map_index, run.owner_key, False, None, None)
        self._pricing_model: dict[tuple[str | None, str | None], str | None] = {}

    def _priced_model(self, line_model: str | None, expected_model: str | None) -> str | None:
        pair = (line_model, expected_model)
        if pair not in self._pricing_model:
            known = self.prices.models
            # The served model's price if known, else the requested model's, else the default.
            if line_model in known:
                self._pricing_model[pair] = line_model
            elif expected_model in known:
                self._pricing_model[pair] = expected_model
            else:
                self._pricing_model[pair] = line_model or expected_model
        return self._pricing_model[pair]

    def cost(self, request: ExpectedRequest, line: ParsedLine) -> tuple[float, float]:
        model = self._priced_model(line.model, request.model)
        cost = self.prices.cost(model, line.prompt_tokens, line.completion_tokens)
        return cost.batch_usd, cost.list_usd

    def account(self, totals: _Totals, request: ExpectedRequest, line: ParsedLine | None) -> None:
        if line is None:
            totals.counts[self.unanswered_status] += 1
            if request.model:
                totals.models.add(request.model)
            return
        totals.counts[RowStatus.SUCCEEDED if line.succeeded else RowStatus.FAILED] += 1
        totals.prompt += line.prompt_tokens
        totals.completion += line.completion_tokens
        totals.total += line.total_tokens
        batch_usd, list_usd = self.cost(request, line)
        totals.batch_units += round(batch_usd * _UNITS)
        totals.list_units += round(list_usd * _UNITS)
        model = line.model or request.model
        if model:
            totals.models.add(model)

    def answered(self, request: ExpectedRequest, line: ParsedLine) -> ResultRow:
        status = RowStatus.SUCCEEDED if line.succeeded else RowStatus.FAILED
        return ResultRow(
            self.batch_id,
            request.custom_id,
            status.value,
            line.model or request.model,
            line.response_text,
            line.finish_reason,
            line.prompt_tokens,
            line.completion_tokens,
            line.total_tokens,
            self.cost(request, line)[0],
            line.error_code,
            line.error_message,
            line.response_json,
            request.metadata,
            *self.run,
            self.batch_id,
            *self.owner,
        )

    def unanswered(self, request: ExpectedRequest) -> ResultRow:
        return ResultRow(
            self.batch_id,
            request.custom_id,
            self.unanswered_status.value,
            request.model,
            None,
            None,
            0,
            0,
            0,
            0.0,
            None,
            None,
            None,
            request.metadata,
            *self.run,
            self.batch_id,
            *self.owner,
        )


def _summary(
    totals: _Totals,
    batch_id: str,
    status: str,
    endpoint: str | None,
    submitted_at: datetime | None,
    completed_at: datetime | None,
    run: RunContext,
) -> BatchSummary:
    counts = totals.counts
    models = sorted(totals.models)
    duration = (completed_at - submitted_at).total_seconds() if submitted_at and completed_at else None
    return BatchSummary(
        batch_id=batch_id,
        final_status=status,
        endpoint=endpoint,
        model=models[0] if len(models) == 1 else ("mixed" if models else None),
        requests=sum(counts.values()),
        succeeded=counts[RowStatus.SUCCEEDED],
        failed=counts[RowStatus.FAILED],
        missing=counts[RowStatus.MISSING],
        expired=counts[RowStatus.EXPIRED],
        cancelled=counts[RowStatus.CANCELLED],
        prompt_tokens=totals.prompt,
        completion_tokens=totals.completion,
        total_tokens=totals.total,
        cost_usd_batch=totals.batch_units / _UNITS,
        cost_usd_list=totals.list_units / _UNITS,
        savings_usd=(totals.list_units - totals.batch_units) / _UNITS,
        submitted_at=submitted_at,
        completed_at=completed_at,
        duration_seconds=duration,
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        loaded_at=run.loaded_at,
        task_id=run.task_id,
        map_index=run.map_index,
        owner_key=run.owner_key,
    )
