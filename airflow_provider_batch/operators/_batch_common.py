"""What the submit operator and the sensor share: manifests from batch states, and turning a
:class:`~airflow_provider_batch.events.BatchEvent` into a return value or a distinct exception."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from typing_extensions import assert_never

from airflow_provider_batch.collect._ledger import LedgerHandle
from airflow_provider_batch.collect.outcomes import record_statuses
from airflow_provider_batch.events import (
    XCOM_BATCH_ID,
    XCOM_BATCH_IDS,
    XCOM_MANIFEST,
    BatchEvent,
    BatchState,
    EventStatus,
)
from airflow_provider_batch.exceptions import (
    TogetherBatchCancelledError,
    TogetherBatchError,
    TogetherBatchExpiredError,
    TogetherBatchFailedError,
    TogetherBatchPollingError,
    TogetherBatchTimeoutError,
)
from airflow_provider_batch.manifest import BatchRecord, SubmitManifest
from airflow_provider_batch.triggers._polling import PollTracker
from airflow_provider_batch.triggers._status_ledger import seen_status

__all__ = [
    "DEFER_BACKSTOP",
    "FirstRound",
    "apply_states",
    "cancel_sync",
    "check_once",
    "defer_timeout",
    "finish",
    "poll_once",
    "push_batch_ids",
    "record_from_state",
    "status_recorder",
    "wait_sync",
]

log = logging.getLogger(__name__)

#: Margin of the defer timeout beyond the latest batch deadline: the trigger's own deadline wins.
DEFER_BACKSTOP = timedelta(minutes=10)

_ERRORS: dict[EventStatus, type[TogetherBatchError]] = {
    EventStatus.FAILED: TogetherBatchFailedError,
    EventStatus.EXPIRED: TogetherBatchExpiredError,
    EventStatus.CANCELLED: TogetherBatchCancelledError,
    EventStatus.TIMEOUT: TogetherBatchTimeoutError,
}


def record_from_state(
    state: BatchState, *, part: int, endpoint: str, request_count: int | None = None
) -> BatchRecord:
    return BatchRecord(
        batch_id=state.batch_id,
        part=part,
        status=state.status,
        input_file_id=state.input_file_id or "",
        output_file_id=state.output_file_id,
        error_file_id=state.error_file_id,
        progress=state.progress,
        request_count=request_count,
        endpoint=endpoint,
        created_at=state.created_at,
        completed_at=state.completed_at,
        error=state.error,
    )


def apply_states(manifest: SubmitManifest, states: Sequence[BatchState]) -> SubmitManifest:
    """Update (or add) one record per state, matched on ``batch_id``; keeps part numbers and counts."""
    by_id = {r.batch_id: r for r in manifest.batches}
    records: list[BatchRecord] = []
    for position, state in enumerate(states, start=1):
        old = by_id.get(state.batch_id)
        record = record_from_state(
            state,
            part=old.part if old else position,
            endpoint=old.endpoint if old else manifest.endpoint,
            request_count=old.request_count if old else None,
        )
        if old is not None and not record.input_file_id:
            record.input_file_id = old.input_file_id
        if old is not None:
            record.input_span, record.input_sha256 = old.input_span, old.input_sha256
        records.append(record)
    seen = {r.batch_id for r in records}
    records.extend(r for r in manifest.batches if r.batch_id not in seen)
    return manifest.model_copy(update={"batches": records})


def push_batch_ids(context: Any, batch_ids: Sequence[str]) -> None:
    """Push the ids the extra link and downstream tasks read, before any deferral."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_BATCH_ID, value=batch_ids[0] if batch_ids else None)
    ti.xcom_push(key=XCOM_BATCH_IDS, value=list(batch_ids))


def finish(context: Any, event: BatchEvent, manifest: SubmitManifest) -> dict[str, Any]:
    """Return the manifest for a ``completed`` event; raise the matching error otherwise.

    The updated manifest (with output and error file ids) is pushed to XCom under ``manifest``
    first, so partial results of expired or cancelled batches can still be collected.
    """
    manifest = apply_states(manifest, event.batches)
    if manifest.owner is not None:  # a submit task's batches: they are in its ledger
        record_statuses(manifest.ledger_conn_id, ((b.batch_id, b.status, b.progress) for b in event.batches))
    if event.status not in (EventStatus.TIMEOUT, EventStatus.ERROR):
        manifest = manifest.model_copy(update={"completed_at": datetime.now(tz=timezone.utc)})
    payload = manifest.to_xcom()
    push_batch_ids(context, event.batch_ids)
    context["ti"].xcom_push(key=XCOM_MANIFEST, value=payload)
    status = event.status
    match status:
        case EventStatus.COMPLETED:
            log.info("%s", event.message or "all batches completed")
            return payload
        case EventStatus.FAILED | EventStatus.EXPIRED | EventStatus.CANCELLED | EventStatus.TIMEOUT:
            _raise(_ERRORS[status], event, payload)
        case EventStatus.ERROR:
            raise TogetherBatchPollingError(
                f"waiting for batches {', '.join(event.batch_ids)} stopped: "
                f"{event.error_type or 'error'}: {event.message}; the batches may still be running "
                "and a retry re-attaches to them",
                batch_ids=event.batch_ids,
                manifest=payload,
            )
        case _:
            assert_never(status)


def _raise(error: type[TogetherBatchError], event: BatchEvent, payload: dict[str, Any]) -> NoReturn:
    details = "; ".join(
        f"{b.batch_id}: {b.status}"
        + (" (timed out)" if b.timed_out else "")
        + (f" ({b.error})" if b.error else "")
        for b in event.batches
    )
    raise error(
        f"batch outcome {event.status}: {event.message} [{details}]",
        batch_ids=event.batch_ids,
        manifest=payload,
    )


def check_once(
    client: Any,
    batch_ids: Sequence[str],
    logger: Any = log,
    *,
    deadlines: Mapping[str, float] | None = None,
    cancel_on_timeout: bool = False,
) -> BatchEvent | None:
    """One polling round; the final event if there is nothing left to wait for, else ``None``.

    See :func:`poll_once`.
    """
    return poll_once(
        client, batch_ids, logger, deadlines=deadlines, cancel_on_timeout=cancel_on_timeout
    ).event


@dataclass
class FirstRound:
    """What one polling round before a wait found.

    :param event: the final event when there is nothing left to wait for, else ``None``.
    :param deadlines: every batch's own deadline (epoch seconds), for the wait that follows.
    """

    event: BatchEvent | None
    deadlines: dict[str, float]


def poll_once(
    client: Any,
    batch_ids: Sequence[str],
    logger: Any = log,
    *,
    deadlines: Mapping[str, float] | None = None,
    timeout: float | None = None,
    cancel_on_timeout: bool = False,
) -> FirstRound:
    """One polling round, applying each batch's own deadline.

    The deadlines are ``deadlines``, else each batch's reported ``created_at`` plus ``timeout``
    (the time of this round for a batch whose ``created_at`` is unknown). A batch already past
    its deadline ends the wait only together with the others: when every batch is terminal or
    past its deadline, the event is ``timeout`` (those batches cancelled if asked); otherwise the
    wait that follows times them out on its first round. A failed poll is left to that wait too.
    """
    tracker = PollTracker(batch_ids, max_poll_failures=1, deadlines=deadlines, timeout=timeout, logger=logger)
    event = tracker.record_round(_retrieve_all(client, tracker.pending()))
    pending = tracker.pending()
    if event is None and pending and tracker.overdue() == pending:
        event = _time_out_overdue(client, tracker, cancel_on_timeout, logger)
    if event is not None and event.status is EventStatus.ERROR:
        event = None
    if timeout is not None:
        now = time.time()
        for batch_id in batch_ids:
            tracker.deadlines.setdefault(batch_id, now + timeout)
    return FirstRound(event, dict(tracker.deadlines))


def _retrieve_all(client: Any, batch_ids: Sequence[str]) -> list[Any]:
    results: list[Any] = []
    for batch_id in batch_ids:
        try:
            results.append(client.batches.retrieve(batch_id))
        except Exception as exc:
            results.append(exc)
    return results


def _time_out_overdue(client: Any, tracker: PollTracker, cancel: bool, logger: Any) -> BatchEvent | None:
    overdue = tracker.overdue()
    if not overdue:
        return None
    cancelled = cancel_sync(client, tracker.to_cancel(overdue), logger) if cancel else []
    return tracker.time_out(overdue, cancelled=cancelled)


def wait_sync(
    client: Any,
    batch_ids: Sequence[str],
    *,
    poll_interval: float,
    deadlines: Mapping[str, float] | None,
    max_poll_failures: int,
    cancel_on_timeout: bool,
    logger: Any = log,
    sleep: Any = time.sleep,
    on_changes: Callable[[list[BatchState]], object] | None = None,
) -> BatchEvent:
    """Blocking wait on the worker (non-deferrable path); same rules as the trigger, including
    the per-batch deadlines (epoch seconds by batch id). ``on_changes`` gets the batches whose
    status or progress changed, after each round that changed any (see :func:`status_recorder`)."""
    tracker = PollTracker(batch_ids, max_poll_failures=max_poll_failures, deadlines=deadlines, logger=logger)
    while True:
        event = tracker.record_round(_retrieve_all(client, tracker.pending()))
        changes = tracker.status_changes() if on_changes is not None else []
        if changes and on_changes is not None:
            on_changes(changes)
        if event is None:
            event = _time_out_overdue(client, tracker, cancel_on_timeout, logger)
        if event is not None:
            return event
        sleep(tracker.next_delay(poll_interval))


def status_recorder(ledger: LedgerHandle | str | None) -> Callable[[list[BatchState]], object]:
    """What a wait on the worker calls with each status change it sees: a ledger write for the
    page (a ledger that cannot be written costs a warning, never the task)."""

    def record(states: list[BatchState]) -> object:
        return record_statuses(ledger, (seen_status(s) for s in states))

    return record


def defer_timeout(
    deadlines: Mapping[str, float] | None, batch_ids: Sequence[str], poll_interval: float
) -> timedelta | None:
    """Airflow's defer timeout, a backstop that must never fire before the trigger's own
    per-batch logic: the latest batch deadline plus two polls and :data:`DEFER_BACKSTOP`.
    ``None`` (no backstop) when some batch has no deadline."""
    if not deadlines or any(b not in deadlines for b in batch_ids):
        return None
    latest = max(deadlines[b] for b in batch_ids)
    return timedelta(seconds=max(0.0, latest - time.time()) + 2 * poll_interval) + DEFER_BACKSTOP


def cancel_sync(client: Any, batch_ids: Sequence[str], logger: Any) -> list[str]:
    done = []
    for batch_id in batch_ids:
        try:
            client.batches.cancel(batch_id)
        except Exception as exc:
            logger.warning("batch %s: cancel failed: %s: %s", batch_id, type(exc).__name__, exc)
        else:
            logger.info("batch %s: cancellation requested", batch_id)
            done.append(batch_id)
    return done
