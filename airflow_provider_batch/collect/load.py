"""Step 3 of the results task: load the rows into the warehouse and record each batch's outcome.

:func:`load_batches` loads the first fetch: in one transaction, this task instance's rows as each
batch's lines are read, then the spend rows of its batches (complete once their rows are), and
the spend rows of the submission's earlier batches (marked superseded). On the way it notes the
rows a follow-up round would re-send. :func:`load_round` loads a follow-up round's answers into
the same rows; a resumed round re-enters the task here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from airflow_provider_batch.collect.fetch import Fetched
from airflow_provider_batch.collect.follow_up import (
    RetryTap,
    RoundOutcome,
    Source,
    can_follow_up,
    merge_round,
)
from airflow_provider_batch.collect.outcomes import (
    FailureTally,
    record_answered,
    record_outcomes,
    record_statuses,
)
from airflow_provider_batch.collect.plan import Session
from airflow_provider_batch.collect.spend import EarlierBatches, earlier_batches
from airflow_provider_batch.collect.state import FollowUpState
from airflow_provider_batch.events import BatchEvent, EventStatus
from airflow_provider_batch.exceptions import TogetherBatchPollingError
from airflow_provider_batch.results import LoadStats
from airflow_provider_batch.results.reconcile import BatchStream

__all__ = ["Loaded", "load_batches", "load_round"]


@dataclass(frozen=True)
class Loaded:
    """What the first load wrote, and what a first follow-up round would re-send."""

    streams: list[BatchStream]
    stats: LoadStats
    earlier: EarlierBatches
    tally: FailureTally
    #: per original batch that may be followed up, its rows to re-send
    sources: list[Source]


def load_batches(session: Session, fetched: list[Fetched]) -> Loaded:
    """Load the fetched batches in one transaction (see the module docstring) and record their
    outcomes in the ledger."""
    plan, loader = session.plan, session.loader
    earlier = earlier_batches(
        session.client, plan.manifest, loader, run=plan.run, prices=plan.prices,
        work_dir=session.work_dir / "earlier", vendor=plan.vendor, ledger=plan.ledger,
    )  # fmt: skip
    streams = [f.stream for f in fetched]
    tap, target = RetryTap(plan.follow_up.statuses), plan.outcome_target()
    rows = target.tally.watch(tap.watch(itertools.chain.from_iterable(s.rows() for s in streams)))
    stats = loader.load(
        rows, lambda: [s.summary for s in streams] + earlier.summaries, mode=plan.targets.load_mode,
        logical_date=plan.run.logical_date, run=plan.run, superseded=earlier.superseded,
    )  # fmt: skip
    record_outcomes(target, [s.summary for s in streams] + earlier.summaries, plan.run)
    resendable = {
        f.stream.batch_id: f
        for f in fetched
        if can_follow_up(f.files.job.status.value) and f.files.input_path is not None
    }
    sources = [
        Source(batch_id, resendable[batch_id].part, path, carry)
        for batch_id, carry in tap.by_batch.items()
        if batch_id in resendable and (path := resendable[batch_id].files.input_path) is not None
    ]
    return Loaded(streams, stats, earlier, target.tally, sources)


def load_round(session: Session, state: FollowUpState, event: BatchEvent) -> RoundOutcome:
    """Merge the answers of the follow-up round ``state`` waited for into the same rows, and
    record the round's outcomes and which failures it answered.

    :raises TogetherBatchPollingError: waiting for the round stopped on an error; a retry
        re-attaches to its batches.
    """
    if event.status is EventStatus.ERROR:
        raise TogetherBatchPollingError(
            f"waiting for follow-up batches stopped: {event.message}; a retry re-attaches to them",
            batch_ids=event.batch_ids,
        )
    plan = session.plan
    record_statuses(plan.ledger, ((b.batch_id, b.status, b.progress) for b in event.batches))
    run, target = plan.round_run(), plan.outcome_target()
    outcome = merge_round(
        session, state.chains, state.round, run=run, endpoint=state.endpoint, tally=target.tally
    )
    record_outcomes(target, outcome.summaries, run)
    record_answered(plan.ledger, outcome.answered)
    return outcome
