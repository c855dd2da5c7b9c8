"""The figures the page shows for one batch, from the ledger only.

The status and progress are what the provider last saw, with the time it saw them: the submit
task at create, the trigger (or the worker's wait, or the sensor) at each status change and each
percent of progress, the results task when it loads. The page never asks the vendor's API.
Pure: no Airflow, no I/O. The app gathers the inputs; :mod:`.html` lays the result out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field

from airflow_provider_batch.core.status import TERMINAL_STATUS_NAMES
from airflow_provider_batch.ledger.monitoring import BatchOutcome, FailureBucket, SubmissionRecord

__all__ = ["TERMINAL", "WINDOW", "BatchView", "LiveStatus", "build_view"]

#: Together's completion window: a batch not done by then expires.
WINDOW = timedelta(hours=24)
TERMINAL = TERMINAL_STATUS_NAMES


class LiveStatus(BaseModel):
    """What the API said about a running batch just now (never the connection or its key).

    The page no longer asks the API (it reads what the tasks recorded); kept for callers of
    :func:`build_view`."""

    status: str
    progress: float = Field(ge=0.0, le=100.0, description="percent of requests processed")
    created_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


class BatchView(BaseModel):
    """One row of the page: a batch, whose task made it, how far it is, what it cost."""

    batch_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    part_index: int
    generation: int
    together_conn_id: str
    vendor: str = Field(default="together", description="the batch API (registry name)")
    vendor_name: str = Field(default="Together AI", description="the batch API, as people name it")
    logical_date: datetime | None = None
    parent_batch_id: str | None = Field(
        default=None, description="for a follow-up batch: the batch whose requests it re-sent"
    )
    follow_ups: list[str] = Field(default_factory=list, description="follow-up batches of this one")
    model: str | None
    status: str
    status_as_of: datetime | None = Field(
        default=None, description="when the provider last saw this status (the page never asks the API)"
    )
    live: bool = Field(description="status and progress come from the API just now (never, today)")
    running: bool
    progress: float | None = Field(description="percent processed; None when unknown")
    created_at: datetime | None
    elapsed: timedelta | None
    window_used: float | None = Field(description="share of the 24 h window used, 0..1+")
    eta: timedelta | None = Field(description="time left at the progress rate so far")
    requests: int | None
    estimated_cost_usd: float | None
    cost_usd_batch: float | None
    cost_usd_list: float | None
    savings_usd: float | None
    cache_creation_tokens: int | None = Field(
        default=None, description="prompt-cache tokens written, priced into the spend; None before a load"
    )
    cache_read_tokens: int | None = Field(
        default=None, description="prompt-cache tokens read, priced into the spend; None before a load"
    )
    succeeded: int | None
    failed: int | None
    missing: int | None = None
    failures: list[FailureBucket]
    tables: list[str] = Field(description="results and summary tables, with the warehouse connection")
    error: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _timing(
    created: datetime | None, ended: datetime | None, progress: float | None, running: bool, now: datetime
) -> tuple[timedelta | None, float | None, timedelta | None]:
    if created is None:
        return None, None, None
    elapsed = max((ended if ended and not running else now) - created, timedelta(0))
    eta = None
    if running and progress is not None and 0.0 < progress < 100.0:
        eta = elapsed * ((100.0 - progress) / progress)
    return elapsed, elapsed / WINDOW, eta


def _status(record: SubmissionRecord, outcome: BatchOutcome | None, live: LiveStatus | None) -> str:
    if live is not None:
        return live.status.upper()
    return ((outcome.final_status if outcome else None) or record.last_status or record.state).upper()


def _progress(
    record: SubmissionRecord, outcome: BatchOutcome | None, live: LiveStatus | None, running: bool
) -> float | None:
    if live is not None:
        return live.progress
    if running:
        return record.last_progress
    if outcome is not None and outcome.requests:
        return 100.0 * (outcome.requests - outcome.missing) / outcome.requests
    return 100.0


def _seen_at(record: SubmissionRecord, outcome: BatchOutcome | None) -> datetime | None:
    seen = [t for t in (_aware(record.updated_at), _aware(outcome.loaded_at) if outcome else None) if t]
    return max(seen) if seen else None


def build_view(
    record: SubmissionRecord,
    outcomes: list[BatchOutcome],
    live: LiveStatus | None,
    now: datetime,
) -> BatchView:
    """The row for ``record``; ``outcomes`` are its loads (newest first); ``live`` (optional) an
    API answer that overrides what the ledger recorded."""
    assert record.batch_id is not None
    outcome = outcomes[0] if outcomes else None
    status = _status(record, outcome, live)
    running = status not in TERMINAL
    progress = _progress(record, outcome, live, running)
    created = _aware(record.batch_created_at or (live.created_at if live else None) or record.created_at)
    ended = _aware(live.completed_at if live else None) or (
        _aware(outcome.loaded_at) if outcome else _aware(record.updated_at)
    )
    elapsed, window_used, eta = _timing(created, ended, progress, running, now)
    tables = [f"{o.results_table}, {o.summary_table} (connection {o.warehouse_conn_id})" for o in outcomes]
    vendor = _vendor(record.vendor)
    # A model with no price loads its tokens at no cost: its spend is unknown, not $0. The estimate
    # was unknown at submit for the same reason (an unpriced model), and answers used tokens.
    unpriced = (
        outcome is not None
        and record.estimated_cost_usd is None
        and not outcome.cost_usd_batch
        and bool(outcome.prompt_tokens or outcome.completion_tokens)
    )
    return BatchView(
        batch_id=record.batch_id,
        dag_id=record.dag_id,
        run_id=record.run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        part_index=record.part_index,
        generation=record.generation,
        together_conn_id=record.together_conn_id,
        vendor=vendor[0],
        vendor_name=vendor[1],
        logical_date=_aware(record.logical_date),
        parent_batch_id=record.parent_batch_id,
        model=record.model,
        status=status,
        status_as_of=_seen_at(record, outcome),
        live=live is not None,
        running=running,
        progress=progress,
        created_at=created,
        elapsed=elapsed,
        window_used=window_used,
        eta=eta,
        requests=outcome.requests if outcome else record.request_count,
        estimated_cost_usd=record.estimated_cost_usd,
        cost_usd_batch=outcome.cost_usd_batch if outcome and not unpriced else None,
        cost_usd_list=outcome.cost_usd_list if outcome and not unpriced else None,
        savings_usd=outcome.savings_usd if outcome and not unpriced else None,
        cache_creation_tokens=outcome.cache_creation_tokens if outcome else None,
        cache_read_tokens=outcome.cache_read_tokens if outcome else None,
        succeeded=outcome.succeeded if outcome else None,
        failed=outcome.failed if outcome else None,
        missing=outcome.missing if outcome else None,
        failures=outcome.failures if outcome else [],
        tables=list(dict.fromkeys(tables)),
        error=live.error if live else None,
    )


def _vendor(name: str | None) -> tuple[str, str]:
    """The vendor's registry name and display name; rows older than the column are Together's."""
    from airflow_provider_batch.vendors import DEFAULT_VENDOR, UnknownVendorError, vendor_named

    key = name or DEFAULT_VENDOR
    try:
        return key, vendor_named(key).display_name
    except UnknownVendorError:
        return key, key
