"""The figures the page shows for one batch, from the ledger and (while it runs) the API.

Pure: no Airflow, no I/O. The app gathers the inputs; :mod:`.html` lays the result out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field

from airflow_provider_batch.ledger import BatchOutcome, FailureBucket, SubmissionRecord

__all__ = ["TERMINAL", "WINDOW", "BatchView", "LiveStatus", "build_view"]

#: Together's completion window: a batch not done by then expires.
WINDOW = timedelta(hours=24)
TERMINAL = {"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"}


class LiveStatus(BaseModel):
    """What the API said about a running batch just now (never the connection or its key)."""

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
    model: str | None
    status: str
    live: bool = Field(description="status and progress come from the API just now")
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
    succeeded: int | None
    failed: int | None
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


def build_view(
    record: SubmissionRecord,
    outcomes: list[BatchOutcome],
    live: LiveStatus | None,
    now: datetime,
) -> BatchView:
    """The row for ``record``; ``outcomes`` are its loads (newest first), ``live`` the API's word."""
    assert record.batch_id is not None
    outcome = outcomes[0] if outcomes else None
    status = (
        live.status if live else (outcome.final_status if outcome else record.last_status) or record.state
    )
    running = status.upper() not in TERMINAL
    progress: float | None = live.progress if live else None
    if progress is None and outcome is not None and outcome.requests:
        progress = 100.0 * (outcome.requests - outcome.missing) / outcome.requests
    if progress is None and not running:
        progress = 100.0
    created = _aware(record.batch_created_at or (live.created_at if live else None) or record.created_at)
    ended = _aware(live.completed_at if live else None) or (
        _aware(outcome.loaded_at) if outcome else _aware(record.updated_at)
    )
    elapsed, window_used, eta = _timing(created, ended, progress, running, now)
    tables = [f"{o.results_table}, {o.summary_table} (connection {o.warehouse_conn_id})" for o in outcomes]
    return BatchView(
        batch_id=record.batch_id,
        dag_id=record.dag_id,
        run_id=record.run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        part_index=record.part_index,
        generation=record.generation,
        together_conn_id=record.together_conn_id,
        model=record.model,
        status=status.upper(),
        live=live is not None,
        running=running,
        progress=progress,
        created_at=created,
        elapsed=elapsed,
        window_used=window_used,
        eta=eta,
        requests=outcome.requests if outcome else record.request_count,
        estimated_cost_usd=record.estimated_cost_usd,
        cost_usd_batch=outcome.cost_usd_batch if outcome else None,
        cost_usd_list=outcome.cost_usd_list if outcome else None,
        savings_usd=outcome.savings_usd if outcome else None,
        succeeded=outcome.succeeded if outcome else None,
        failed=outcome.failed if outcome else None,
        failures=outcome.failures if outcome else [],
        tables=list(dict.fromkeys(tables)),
        error=live.error if live else None,
    )
