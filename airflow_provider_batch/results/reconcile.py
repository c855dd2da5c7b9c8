"""Reconcile expected requests with output and error lines by ``custom_id``, in one pass.

:class:`BatchStream` reads each line once and emits a :class:`ResultRow` as soon as a line wins,
then one row for every expected request that no line answered; the batch's
:class:`BatchSummary` is complete when the rows are exhausted (a loader writes it last, in the
same transaction). Its memory is that of one batch: the expected requests and the set of ids
already answered, never a response.

Duplicate rule, "the output file wins": the **first** line for a ``custom_id`` wins, reading the
whole output file before the error file, each top to bottom. A success in the output file
therefore beats a failure in the error file for the same id. Later lines are counted as
duplicates. An unreadable line (bad JSON or UTF-8, no ``custom_id``) is reported with its file,
line and the id when it can be made out; that request stays unanswered (``missing``). A line whose
usage is unknown (not finite) keeps its answer; its tokens and cost are ``None`` and left out of
the summary's sums (counted in ``diagnostics.usage_unknown``), so no cost is ever guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from airflow_provider_batch.core.status import UNRUN_ROW_STATUS, BatchStatus
from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE, CacheRates, CacheTokens, PriceTable
from airflow_provider_batch.results.models import (
    BatchSummary,
    Diagnostics,
    ExpectedRequest,
    ParsedLine,
    ResultRow,
    RowStatus,
    RunContext,
)

#: A model's input and output rates and its prompt-cache rates (USD per 1M tokens, list price).
_Rates = tuple[float, float, CacheRates]

__all__ = ["BatchStream", "Reconciliation", "UnrunCodes", "reconcile"]

_UNITS = 10**10  # cost is kept in units of 1e-10 USD, the precision of PriceTable.cost
_KINDS = ("output", "error")


class UnrunCodes(Protocol):
    """What reconciliation asks a batch's vendor
    (:class:`~airflow_provider_batch.vendors.base.BatchVendor`): which error-file codes name a
    request that never ran, and the row status each gets."""

    @property
    def unrun_error_statuses(self) -> Mapping[str, str]: ...


class BatchStream:
    """One batch reconciled in one streaming pass (see the module docstring).

    :param expected: the submitted requests; a repeated ``custom_id`` is a duplicate (first wins).
        ``None`` when they are not known (the input file is gone): every id a line names is then
        expected, with its ``metadata``, and no request is reported unanswered.
    :param outputs: the output file's lines (e.g. a :class:`~.parse.ParsedFile`).
    :param errors: the error file's lines.
    :param batch_status: the batch's final status; ``EXPIRED``/``CANCELLED`` turn unanswered
        requests into ``expired``/``cancelled`` rows instead of ``missing``.
    :param prices: prices for ``cost_usd`` (batch price) and the summary's list cost.
    :param run: the Airflow run stamped on every row and on the summary.
    :param vendor: the batch's vendor, asked which error lines name a request that never ran
        (:attr:`~airflow_provider_batch.vendors.base.BatchVendor.unrun_error_statuses`): such a
        request is ``expired``/``cancelled``, as an unanswered one. ``None``: every error line is
        ``failed``.
    """

    def __init__(
        self,
        expected: Iterable[ExpectedRequest] | None,
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
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
        vendor: UnrunCodes | None = None,
    ) -> None:
        self.batch_id = batch_id
        self.diagnostics = Diagnostics()
        self._expected = expected
        self._metadata = metadata or {}
        self._sources = (outputs, errors)
        self.status = str(getattr(batch_status, "value", batch_status)).upper()
        self._times = (endpoint, submitted_at, completed_at)
        self._run = run
        self._builder = _RowBuilder(
            batch_id, prices, UNRUN_ROW_STATUS.get(BatchStatus(self.status), RowStatus.MISSING), run, vendor
        )
        self._totals = _Totals()
        self._summary: BatchSummary | None = None
        self._started = False

    @property
    def summary(self) -> BatchSummary:
        """The spend-table row; complete once :meth:`rows` is exhausted.

        :raises RuntimeError: when read before the rows were all produced.
        """
        if self._summary is None:
            raise RuntimeError(f"batch {self.batch_id}: the summary is known once every row was read")
        return self._summary

    @property
    def done(self) -> bool:
        """Whether :meth:`rows` was exhausted."""
        return self._summary is not None

    @property
    def counts(self) -> dict[str, int]:
        """Rows per status so far (``{"succeeded": n, ...}``)."""
        return {str(k): v for k, v in self._totals.counts.items()}

    def rows(self) -> Iterator[ResultRow]:
        """Yield exactly one row per expected request, as met; can be run once."""
        if self._started:
            raise RuntimeError(f"batch {self.batch_id}: the lines were already read once")
        self._started = True
        diagnostics, builder, totals = self.diagnostics, self._builder, self._totals
        index = (
            _index_expected(self._expected, diagnostics)
            if self._expected is not None
            else _AnyAnswered(self._metadata)
        )
        answered: set[str] = set()
        for kind, lines in zip(_KINDS, self._sources, strict=True):
            label = getattr(lines, "label", f"{kind} file")
            for line in lines:
                cid = line.custom_id
                if cid is None:
                    known = f", custom_id {line.reported_id}" if line.reported_id else ""
                    diagnostics.add("invalid_lines", f"{label} line {line.line_no}{known}: {line.problem}")
                elif cid not in index:
                    diagnostics.add("unknown_ids", f"{cid} ({kind} line {line.line_no})")
                elif cid in answered:
                    diagnostics.add("duplicates", f"{cid} ({kind} line {line.line_no})")
                else:
                    answered.add(cid)
                    if line.total_tokens is None:
                        diagnostics.add("usage_unknown", f"{cid} ({kind} line {line.line_no})")
                    yield builder.answered(totals, index[cid], line)
        for cid, request in index.items():
            if cid not in answered:
                yield builder.unanswered(totals, request)
        self._summary = _summary(totals, self.batch_id, self.status, *self._times, self._run)


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


class _AnyAnswered(dict[str, ExpectedRequest]):
    """The expected requests when the input file is gone: any id a line names is one."""

    def __init__(self, metadata: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        self._metadata = metadata

    def __contains__(self, custom_id: object) -> bool:
        return True

    def __missing__(self, custom_id: str) -> ExpectedRequest:
        request = self[custom_id] = ExpectedRequest(custom_id, None, self._metadata.get(custom_id, {}))
        return request


@dataclass
class Reconciliation:
    """A whole batch reconciled up front (rows held in memory): for tests and small batches.

    The operators stream with :class:`BatchStream` instead.

    :ivar summary: the spend-table row for the batch (sums over all rows).
    :ivar diagnostics: duplicates, unknown ids and unreadable lines, with samples.
    :ivar counts: rows per status (``{"succeeded": n, ...}``).
    """

    batch_id: str
    summary: BatchSummary
    diagnostics: Diagnostics
    counts: dict[str, int]
    _rows: list[ResultRow] = field(repr=False)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> Iterator[ResultRow]:
        """Exactly one row per expected request (replayable)."""
        return iter(self._rows)


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
    vendor: UnrunCodes | None = None,
) -> Reconciliation:
    """Match every expected request to its output or error line, holding the rows in memory.

    The same rules as :class:`BatchStream` (which this runs once); see the module docstring.
    """
    stream = BatchStream(
        expected, outputs, errors, batch_id=batch_id, batch_status=batch_status, prices=prices,
        endpoint=endpoint, submitted_at=submitted_at, completed_at=completed_at, run=run, vendor=vendor,
    )  # fmt: skip
    rows = list(stream.rows())
    return Reconciliation(batch_id, stream.summary, stream.diagnostics, stream.counts, rows)


@dataclass
class _Totals:
    counts: dict[RowStatus, int] = field(default_factory=lambda: dict.fromkeys(RowStatus, 0))
    prompt: int = 0
    completion: int = 0
    total: int = 0
    cache_creation: int = 0
    cache_read: int = 0
    batch_units: int = 0
    list_units: int = 0
    models: set[str] = field(default_factory=set)


class _RowBuilder:
    """Builds each row once and adds it to the totals, so the summary is the sum of the rows.

    A row's cost is computed once, from per-model rates looked up once per model pair.
    """

    def __init__(
        self,
        batch_id: str,
        prices: PriceTable,
        unanswered: RowStatus,
        run: RunContext,
        vendor: UnrunCodes | None = None,
    ) -> None:
        self.batch_id = batch_id
        #: error code -> the status of a request that never ran, as the vendor reads it
        unrun = vendor.unrun_error_statuses if vendor is not None else {}
        self.unrun = {code: RowStatus(status) for code, status in unrun.items()}
        self.prices = prices
        self.discount = 1.0 - prices.batch_discount
        self.unanswered_status = unanswered
        self.run = (run.dag_id, run.run_id, run.logical_date, run.loaded_at)
        # attempts, then the owner; a new row is current (not superseded).
        self.owner = (1, run.task_id, run.map_index, run.owner_key, False, None, None)
        self._rates: dict[tuple[str | None, str | None], _Rates | None] = {}

    def _rate(self, line_model: str | None, expected_model: str | None) -> _Rates | None:
        pair = (line_model, expected_model)
        if pair not in self._rates:
            known = self.prices.models
            model: str | None
            # The served model's price if known, else the requested model's, else the default.
            if line_model in known:
                model = line_model
            elif expected_model in known:
                model = expected_model
            else:
                model = line_model or expected_model
            price = self.prices.price(model)
            if price is None:
                self._rates[pair] = None
            else:
                self._rates[pair] = (price.input_per_1m, price.output_per_1m, self.prices.input_rates(price))
        return self._rates[pair]

    def _units(self, request: ExpectedRequest, line: ParsedLine) -> tuple[int, int]:
        """Batch and list cost of one line in 1e-10 USD, rounded as :meth:`PriceTable.cost`."""
        rate = self._rate(line.model, request.model)
        if rate is None:
            return 0, 0
        list_usd = (line.prompt_tokens or 0) * rate[0] + (line.completion_tokens or 0) * rate[1]
        if line.cache_written or line.cache_read:  # prompt-cache tokens counted apart (Anthropic's)
            cache = CacheTokens(line.cache_written, line.cache_read, line.cache_written_1h)
            list_usd += cache.usd_per_1m(rate[2])
        list_usd /= 1e6
        return math.floor(list_usd * self.discount * 1e10 + 0.5), math.floor(list_usd * 1e10 + 0.5)

    def answered(self, totals: _Totals, request: ExpectedRequest, line: ParsedLine) -> ResultRow:
        status = RowStatus.SUCCEEDED if line.succeeded else RowStatus.FAILED
        if not line.succeeded and line.error_code in self.unrun:
            status = self.unrun[line.error_code]
        batch_units, list_units = self._units(request, line)
        totals.counts[status] += 1
        totals.prompt += line.prompt_tokens or 0
        totals.completion += line.completion_tokens or 0
        totals.total += line.total_tokens or 0
        totals.cache_creation += line.cache_written
        totals.cache_read += line.cache_read
        totals.batch_units += batch_units
        totals.list_units += list_units
        cost = None if line.total_tokens is None else batch_units / _UNITS
        model = line.model or request.model
        if model:
            totals.models.add(model)
        return ResultRow(
            self.batch_id,
            request.custom_id,
            status.value,
            model,
            line.response_text,
            line.finish_reason,
            line.prompt_tokens,
            line.completion_tokens,
            line.total_tokens,
            cost,
            line.error_code,
            line.error_message,
            line.response_json,
            request.metadata,
            *self.run,
            self.batch_id,
            *self.owner,
            line.embedding,
            line.cache_written,
            line.cache_read,
        )

    def unanswered(self, totals: _Totals, request: ExpectedRequest) -> ResultRow:
        totals.counts[self.unanswered_status] += 1
        if request.model:
            totals.models.add(request.model)
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
        cache_creation_tokens=totals.cache_creation,
        cache_read_tokens=totals.cache_read,
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
