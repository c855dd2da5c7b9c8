"""The spend table is a ledger of money: earlier batches of a submission get their spend rows.

A re-run of a submit task instance can create new batches (a changed input, ``force_resubmit``
after a cancelled batch); the manifest then names only the new ones, but the earlier ones were
created and may have been billed. The submission ledger remembers every batch a submit task
instance created. On each load, every such batch that is not in the manifest gets a spend row
(if it has none), marked ``superseded`` by the manifest's batch of the same part, with its usage
*measured*: its output file is streamed and priced exactly like a current batch's. A batch that
is not terminal yet gets a row with its status and NULL usage, measured again by a later load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from airflow_provider_batch.client import BatchStatus
from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.collect._ledger import LedgerHandle, as_handle
from airflow_provider_batch.collect.files import reconcile_job
from airflow_provider_batch.core.figures import FIGURE_FIELDS
from airflow_provider_batch.core.status import ROW_STATUSES
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import BatchSummary, RunContext, WarehouseLoader
from airflow_provider_batch.vendors.base import BatchVendor

__all__ = ["EarlierBatches", "earlier_batches", "submission_records"]

log = logging.getLogger(__name__)


@dataclass
class EarlierBatches:
    """Spend rows to write (new or re-measured) and every earlier batch -> its successor."""

    summaries: list[BatchSummary]
    superseded: dict[str, str | None]


def submission_records(manifest: SubmitManifest, ledger: LedgerHandle | None = None) -> list[Any]:
    """Every batch the manifest's submit task instance created, from the submission ledger
    (none when the manifest has no owner: batches created elsewhere, or an older release).

    :param ledger: the task's ledger handle; default: the manifest's ledger.
    """
    if manifest.owner is None:
        return []
    handle = ledger if ledger is not None else as_handle(manifest.ledger_conn_id)
    return list(handle.reader().batches_for(**manifest.owner.as_dict()))


def earlier_batches(
    client: Any,
    manifest: SubmitManifest,
    loader: WarehouseLoader,
    *,
    run: RunContext,
    prices: PriceTable,
    work_dir: Path,
    vendor: BatchVendor,
    ledger: LedgerHandle | None = None,
) -> EarlierBatches:
    """Spend rows for the submission's batches that are not in ``manifest`` (see the module doc).

    :param vendor: the vendor of ``client``.
    :param ledger: the task's ledger handle; default: the manifest's ledger.
    """
    current = {b.batch_id for b in manifest.batches}
    by_part = {b.part: b.batch_id for b in manifest.batches}
    first = manifest.batches[0].batch_id if manifest.batches else None
    records = {r.batch_id: r for r in submission_records(manifest, ledger) if r.batch_id}
    records = {batch_id: r for batch_id, r in records.items() if batch_id not in current}
    found = EarlierBatches([], {b: by_part.get(r.part_index, first) for b, r in records.items()})
    states = loader.spend_states(list(records))
    for batch_id, record in records.items():
        state = states.get(batch_id)
        done = state is not None and state.measured and _terminal(state.final_status)
        if done or (state is not None and not state.owned_by(run)):
            continue
        summary = _measure(
            client, batch_id, record, run=run, prices=prices, work_dir=work_dir / batch_id, vendor=vendor
        )
        by = found.superseded[batch_id]
        marked = replace(summary, superseded=True, superseded_by=by, superseded_at=run.loaded_at)
        found.summaries.append(marked)
        log.info("Earlier batch %s of this submission (superseded by %s): %s, $%s at batch price",
                 batch_id, by, summary.final_status, summary.cost_usd_batch)  # fmt: skip
    return found


def _measure(
    client: Any,
    batch_id: str,
    record: Any,
    *,
    run: RunContext,
    prices: PriceTable,
    work_dir: Path,
    vendor: BatchVendor,
) -> BatchSummary:
    try:
        job = client.batches.retrieve(batch_id)
    except NotFoundError:
        log.warning("Earlier batch %s of this submission is gone from the API; spend unknown", batch_id)
        return _unmeasured(batch_id, "UNKNOWN", record, run, None)
    if not job.status.is_terminal:
        return _unmeasured(batch_id, job.status.value, record, run, job.created_at)
    stream, _ = reconcile_job(
        client, job, work_dir, {}, prices=prices, endpoint=record.endpoint, run=run, vendor=vendor
    )
    for _row in stream.rows():  # measured only: its rows are not loaded
        pass
    return stream.summary


def _unmeasured(batch_id: str, status: str, record: Any, run: RunContext, created: Any) -> BatchSummary:
    """A spend row whose usage is not known yet: NULL counts, tokens and costs."""
    unknown: dict[str, Any] = dict.fromkeys((*ROW_STATUSES, *FIGURE_FIELDS))
    return BatchSummary(
        batch_id=batch_id, final_status=status, endpoint=record.endpoint, model=None,
        requests=record.request_count, **unknown, submitted_at=created,
        completed_at=None, duration_seconds=None, dag_id=run.dag_id, run_id=run.run_id,
        logical_date=run.logical_date, loaded_at=run.loaded_at, task_id=run.task_id, map_index=run.map_index,
        owner_key=run.owner_key,
    )  # fmt: skip


def _terminal(status: str | None) -> bool:
    return status is not None and BatchStatus(status).is_terminal
