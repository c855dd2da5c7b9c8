"""Each loaded batch's outcome in the submission ledger, for monitoring.

After a load, the results task records per batch what the warehouse now holds for it: counts,
tokens, spend, failures by error code with a few example ``custom_id``\\ s, and where the rows
went (:class:`~airflow_provider_batch.ledger.BatchOutcome`). A re-load replaces the outcome.

This record is for people watching; the rows are already committed when it is written, so a
ledger that cannot be written costs a warning, never the task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from airflow_provider_batch.collect._ledger import LedgerHandle, as_handle
from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.ledger import BatchOutcome, FailureBucket
from airflow_provider_batch.results import BatchSummary, ResultRow, RunContext
from airflow_provider_batch.results.parse import UNKNOWN_ERROR_CODE

__all__ = [
    "EXAMPLES_PER_CODE",
    "FailureTally",
    "OutcomeTarget",
    "record_answered",
    "record_outcomes",
    "record_statuses",
]

log = logging.getLogger(__name__)

#: How many example ``custom_id``\ s each error code keeps.
EXAMPLES_PER_CODE = 5


class FailureTally:
    """Failed rows per batch and error code, with up to :data:`EXAMPLES_PER_CODE` example ids.

    Memory is bounded by batches x distinct codes, never by the number of requests.
    """

    def __init__(self) -> None:
        self.by_batch: dict[str, dict[str, FailureBucket]] = {}

    def watch(self, rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
        """Pass ``rows`` through, counting the failed ones."""
        for row in rows:
            if row.status == "failed":
                self.add(row.batch_id, row.error_code, row.custom_id)
            yield row

    def add(self, batch_id: str, code: str | None, custom_id: str) -> None:
        """Count one failed request of ``batch_id``."""
        code = code or UNKNOWN_ERROR_CODE
        bucket = self.by_batch.setdefault(batch_id, {}).get(code)
        if bucket is None:
            bucket = self.by_batch[batch_id][code] = FailureBucket(code=code, count=0)
        bucket.count += 1
        if len(bucket.examples) < EXAMPLES_PER_CODE:
            bucket.examples.append(custom_id)

    def buckets(self, batch_id: str) -> list[FailureBucket]:
        """The batch's failures, most frequent code first."""
        found = self.by_batch.get(batch_id, {}).values()
        return sorted(found, key=lambda b: (-b.count, b.code))


@dataclass(frozen=True)
class OutcomeTarget:
    """Where a results task loaded: its ledger (a connection id or the task's one handle),
    warehouse connection and both tables."""

    ledger_conn_id: LedgerHandle | str | None
    warehouse_conn_id: str
    results_table: str
    summary_table: str
    tally: FailureTally = field(default_factory=FailureTally)


def record_outcomes(target: OutcomeTarget, summaries: Iterable[BatchSummary], run: RunContext) -> int:
    """Record one outcome per measured batch of ``summaries``; returns how many were written.

    A batch whose usage is not measured yet (still running) gets none. Any failure to reach or
    write the ledger is logged as a warning and stops recording, nothing more.
    """
    written, handle = 0, as_handle(target.ledger_conn_id)
    try:
        for summary in summaries:
            if summary.requests is None or summary.succeeded is None:
                continue
            handle().record_outcome(_outcome(target, summary, run))
            written += 1
    except Exception as exc:
        log.warning(
            "The batch outcomes could not be recorded in the submission ledger (%s: %s); the "
            "results are loaded, only the monitoring record is incomplete",
            type(exc).__name__,
            exc,
        )
    return written


def record_statuses(ledger: LedgerHandle | str | None, seen: Iterable[tuple[str, str, float | None]]) -> int:
    """Record the ``(batch_id, status, progress)`` a task just saw in the ledger, for the page.

    Called on a worker (submit, resume after the trigger's event, results load), never in the
    triggerer's event loop. A ledger that cannot be written costs a warning, never the task.
    """
    written, handle = 0, as_handle(ledger)
    try:
        for batch_id, status, progress in seen:
            handle().record_status(batch_id, status, progress)
            written += 1
    except Exception as exc:
        log.warning(
            "The batch status could not be recorded in the submission ledger (%s: %s); only the "
            "monitoring record is behind",
            type(exc).__name__,
            exc,
        )
    return written


def record_answered(
    ledger: LedgerHandle | str | None, answered: Mapping[tuple[str, str], Mapping[str, int]]
) -> None:
    """Note on each original batch's outcome which failures its follow-up batch answered
    (``(original, follow-up) -> error code -> count``), so its failure list says so."""
    handle = as_handle(ledger)
    try:
        for (origin, follow_up), codes in answered.items():
            handle().mark_answered(origin, follow_up, dict(codes))
    except Exception as exc:
        log.warning(
            "Which failures the follow-up answered could not be recorded in the submission ledger "
            "(%s: %s); only the monitoring record is behind",
            type(exc).__name__,
            exc,
        )


def _outcome(target: OutcomeTarget, summary: BatchSummary, run: RunContext) -> BatchOutcome:
    assert run.loaded_at is not None, "a load always stamps loaded_at"
    return BatchOutcome(
        batch_id=summary.batch_id,
        dag_id=run.dag_id or "",
        task_id=run.task_id or "",
        run_id=run.run_id or "",
        map_index=-1 if run.map_index is None else run.map_index,
        results_table=target.results_table,
        summary_table=target.summary_table,
        warehouse_conn_id=target.warehouse_conn_id,
        final_status=summary.final_status,
        requests=summary.requests,
        succeeded=summary.succeeded,
        failed=summary.failed,
        missing=summary.missing,
        expired=summary.expired,
        cancelled=summary.cancelled,
        **Figures.of(summary).as_dict(),
        failures=target.tally.buckets(summary.batch_id),
        loaded_at=run.loaded_at,
    )
