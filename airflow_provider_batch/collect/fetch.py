"""Step 2 of the results task: fetch each batch of the submission and open its reconciliation.

Each batch is retrieved once (and its status recorded in the ledger when the submit task's ledger
knows it), refused unless it is terminal or the plan allows unfinished batches, and its files are
downloaded into the session's work directory. Nothing is read yet: each :class:`Fetched` holds a
one-pass :class:`~airflow_provider_batch.results.reconcile.BatchStream` that the load step drains.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_batch.collect.files import BatchFiles, reconcile_job
from airflow_provider_batch.collect.outcomes import record_statuses
from airflow_provider_batch.collect.plan import Session
from airflow_provider_batch.results.reconcile import BatchStream

__all__ = ["Fetched", "fetch_batches"]


@dataclass(frozen=True)
class Fetched:
    """One batch of the submission, downloaded: its part number, files and unread rows."""

    part: int
    files: BatchFiles
    stream: BatchStream


def fetch_batches(session: Session) -> list[Fetched]:
    """Retrieve and download every batch of the plan's manifest, in part order.

    :raises ValueError: a batch is not terminal and the plan does not allow unfinished batches.
    """
    plan, found = session.plan, []
    metadata, submitted = session.metadata, session.submitted  # before any batch is asked for
    for part, record in enumerate(plan.manifest.batches, start=1):
        job = session.retrieve(record.batch_id)
        if plan.manifest.owner is not None:  # the submit task's ledger knows this batch
            record_statuses(plan.ledger, [(job.id, job.status.value, job.progress)])
        if not job.status.is_terminal and not plan.allow_unfinished:
            raise ValueError(
                f"batch {job.id} is {job.status.value}; results can be loaded once it is terminal "
                "(set allow_unfinished=True to load what exists now)"
            )
        stream, files = reconcile_job(
            session.client, job, session.work_dir / job.id, metadata, prices=plan.prices,
            endpoint=plan.endpoint, run=plan.run, local_input=submitted.get(job.id), vendor=plan.vendor,
        )  # fmt: skip
        found.append(Fetched(part, files, stream))
    return found
