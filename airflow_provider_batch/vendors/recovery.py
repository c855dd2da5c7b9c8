"""How a create whose answer was lost is found again: the strategies a vendor's
:meth:`~airflow_provider_batch.vendors.base.BatchVendor.find_lost_create` picks from.

Each is given the intent record the ledger wrote before the create was sent
(:class:`~airflow_provider_batch.vendors.base.LostCreate`) and answers the batch that create made,
``None`` for a create that did not take effect, or raises :class:`LedgerConflictError` when it
cannot tell, before anything is paid for again:

* :func:`on_own_file`: the vendor finds the batches a create on the row's own input file made
  (Together: every part is its own file; OpenAI: a metadata search). Those another ledger row
  owns are removed; one left is ours, none is a create that did not happen, more is refused.
* :class:`LedgerWindow`: the vendor cannot search (Anthropic): the ledger alone decides, from the
  account's batches created while the row was ``creating``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_batch.client.models import BatchJob
from airflow_provider_batch.ledger import LedgerConflictError, SubmissionRecord

if TYPE_CHECKING:
    from airflow_provider_batch.vendors.base import BatchVendor, LostCreate

__all__ = ["CLOCK_SKEW_S", "LedgerWindow", "on_own_file", "settle_commands"]

#: The submit loop's logger: these lines belong to its story of a part.
log = logging.getLogger("airflow_provider_batch.idempotency")


def on_own_file(found: Sequence[BatchJob], lost: LostCreate) -> BatchJob | None:
    """The batch a lost create made among ``found``, the batches the vendor says a create on the
    intent record's own input file made: those no other ledger row owns are the candidates."""
    intent = lost.intent
    assert intent.input_file_id is not None
    known = {r.batch_id for r in lost.ledger.on_file(intent.input_file_id) if r.batch_id}
    candidates = [job for job in found if job.id not in known]
    if len(candidates) > 1:
        raise LedgerConflictError(
            f"input file {intent.input_file_id} of part {lost.part_index} carries "
            f"{len(candidates)} batches the submission ledger does not know "
            f"({', '.join(sorted(j.id for j in candidates))}); this task cannot tell which is its "
            "own, so it stops instead of paying again"
        )
    if candidates:
        log.warning("part %d: a create interrupted on an earlier try made batch %s; using it",
                    lost.part_index, candidates[0].id)  # fmt: skip
        return candidates[0]
    log.info("part %d: the create interrupted on an earlier try did not happen", lost.part_index)
    return None


#: How far a worker's clock and the API's may disagree, in seconds.
CLOCK_SKEW_S = 120.0


def settle_commands(record: SubmissionRecord, candidates: Sequence[str]) -> str:
    base = f"python -m airflow_provider_batch ledger settle --submission-id {record.submission_id}"
    adopt = "; ".join(f"{base} --batch-id {batch_id}" for batch_id in candidates)
    return (
        f"To adopt one (no new spend): {adopt or base + ' --batch-id <id>'}. To declare that the "
        f"create made no batch and submit anew (paid again): {base} --no-batch. Add "
        "--ledger-conn-id <id> when the operator sets ledger_conn_id; then clear the task"
    )


class LedgerWindow:
    """A lost create on a vendor whose batches carry no metadata (``recovery="ledger"``).

    The row was marked ``creating`` at ``updated_at`` right before the create was sent, and the
    create could only have taken effect until its transfer timeout ran out: the window is that
    span, widened by :data:`CLOCK_SKEW_S` on both sides. Candidates are the account's batches
    created in the window that no ledger row owns and whose request count is the part's; rivals
    are the ledger's other ``creating`` rows of this vendor whose windows overlap this one. None
    is a create that never took effect; one candidate and no rival is this row's batch (any other
    run of the provider that may have made it would be a rival); anything else is refused.
    """

    def __init__(self, vendor: BatchVendor, client: Any, lost: LostCreate) -> None:
        self.vendor, self.client, self.lost = vendor, client, lost
        settings = getattr(client, "settings", None)
        reach = float(getattr(settings, "upload_timeout", 600.0)) + float(
            getattr(settings, "connect_timeout", 10.0)
        )
        self.horizon = timedelta(seconds=reach + CLOCK_SKEW_S)
        self.skew = timedelta(seconds=CLOCK_SKEW_S)

    def _candidates(self, since: datetime, until: datetime) -> list[BatchJob]:
        ledger, found = self.lost.ledger, []
        with closing(self.client.batches.iter()) as batches:  # newest first
            for job in batches:
                created = _aware(job.created_at)
                if created is None or created > until:
                    continue
                if created < since:
                    break
                counts = getattr(job, "request_counts", None)
                total = counts.get("total") if isinstance(counts, dict) else None
                wanted = self.lost.requests
                other_size = wanted is not None and total not in (None, wanted)
                if other_size or ledger.by_batch(job.id) is not None:
                    continue
                found.append(job)
        return found

    def find(self) -> BatchJob | None:
        record, vendor = self.lost.intent, self.vendor
        marked = _aware(record.updated_at)
        assert marked is not None
        since, until = marked - self.skew, marked + self.horizon
        candidates = self._candidates(since, until)
        rivals = [
            r for r in self.lost.ledger.creating(vendor.name)
            if r.submission_id != record.submission_id
            and abs((_aware(r.updated_at) or marked) - marked) <= self.horizon + self.skew
        ]  # fmt: skip
        if not candidates:
            log.info("part %d: no batch of %s requests was created in the window of the interrupted "
                     "create; it did not take effect", self.lost.part_index, self.lost.requests)  # fmt: skip
            return None
        if len(candidates) == 1 and not rivals:
            log.warning("part %d: the interrupted create made batch %s (the only unowned batch of %s "
                        "requests created in its window, with no other create in flight); using it",
                        self.lost.part_index, candidates[0].id, self.lost.requests)  # fmt: skip
            return candidates[0]
        ids = sorted(job.id for job in candidates)
        why = (
            f"{len(ids)} batches of {self.lost.requests} requests that no ledger row owns were created "
            f"between {since:%Y-%m-%d %H:%M:%S} and {until:%H:%M:%S} UTC ({', '.join(ids)})"
        )
        if rivals:
            why += f", while {len(rivals)} other create(s) of {vendor.display_name} were also unsettled"
        raise LedgerConflictError(
            f"part {self.lost.part_index}: a create of this task was interrupted before its batch id was "
            f"recorded, and {vendor.display_name}'s batches carry nothing that names their owner: {why}. "
            "This task cannot tell which is its own, so it stops instead of paying again. "
            + settle_commands(record, ids)
        )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
