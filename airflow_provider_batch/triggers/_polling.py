"""Pure polling bookkeeping shared by the async trigger and the synchronous (worker) wait loop.

One :class:`PollTracker` watches a fixed list of batch ids. Each polling round hands it a result
per id (a :class:`BatchJob` or the exception the retrieval raised); it answers with the final
:class:`BatchEvent` once there is one, or ``None`` to keep polling.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

from airflow_provider_batch.client.errors import (
    APIConnectionError,
    APIStatusError,
    ConflictError,
    InternalServerError,
    RateLimitError,
    ResponseValidationError,
)
from airflow_provider_batch.client.models import BatchJob, BatchStatus
from airflow_provider_batch.events import BatchEvent, BatchState, EventStatus, outcome_of

__all__ = ["STATUS_STEP", "PollTracker", "epoch_seconds", "is_transient", "status_changes"]

#: Progress (percent) a batch must gain before the change is worth recording for monitoring.
STATUS_STEP = 1.0

_TRANSIENT_STATUS = (RateLimitError, InternalServerError, ConflictError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed poll is worth repeating (transport, 408/409/429/5xx, unparsable body)."""
    if isinstance(exc, (APIConnectionError, ResponseValidationError, *_TRANSIENT_STATUS)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code == 408
    return isinstance(exc, (OSError, TimeoutError))


def epoch_seconds(moment: datetime) -> float:
    """Epoch seconds of an API timestamp (a naive one is UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def status_changes(
    states: Iterable[BatchState], reported: dict[str, tuple[str, float]], *, step: float = STATUS_STEP
) -> list[BatchState]:
    """The states whose status, or progress by ``step`` percent (or to 100), differ from
    ``reported`` (batch id -> status, progress), which is updated with them. Never-seen batches
    (status ``UNKNOWN``, not yet reported) are left out."""
    changed = []
    for state in states:
        if state.status == "UNKNOWN" and state.batch_id not in reported:
            continue
        progress = float(state.progress or 0.0)
        before = reported.get(state.batch_id)
        same = before is not None and before[0] == state.status
        if same and before and abs(progress - before[1]) < step and not progress >= 100.0 > before[1]:
            continue
        reported[state.batch_id] = (state.status, progress)
        changed.append(state)
    return changed


class PollTracker:
    """Keeps the last known state of each batch and decides when waiting is over.

    **Deadlines are per batch.** A batch whose own deadline has passed while it is still not
    terminal is *timed out*: it is no longer polled (the caller cancels it if asked), while the
    other batches keep being polled. Once no batch is left to poll, the final event is ``timeout``
    if any batch timed out, else the worst outcome of the states (:func:`outcome_of`). A batch that
    reached ``CANCELLED`` after its own deadline also counts as timed out: it is what a timeout
    cancelled, e.g. before a triggerer restart.

    :param batch_ids: the batches to watch (order is kept in the event).
    :param max_poll_failures: consecutive failed rounds tolerated; one more ends the wait.
    :param deadlines: wall-clock epoch seconds per batch id; a batch absent from it has no deadline
        unless ``timeout`` gives it one.
    :param timeout: seconds from each batch's reported ``created_at`` (or from the first time it is
        seen, when the API reports none), for the batches absent from ``deadlines``.
    :param logger: where per-poll progress lines go.
    """

    def __init__(
        self,
        batch_ids: Sequence[str],
        *,
        max_poll_failures: int,
        deadlines: Mapping[str, float] | None = None,
        timeout: float | None = None,
        logger: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.batch_ids = list(batch_ids)
        self.max_poll_failures = max_poll_failures
        self.deadlines = {b: float(d) for b, d in (deadlines or {}).items() if b in self.batch_ids}
        self.timeout = timeout
        self.log = logger
        self.failures = 0
        self.states: dict[str, BatchState] = {b: BatchState(batch_id=b, status="UNKNOWN") for b in batch_ids}
        self._cancelled: list[str] = []
        self._reported: dict[str, tuple[str, float]] = {}

    def pending(self) -> list[str]:
        """Ids still to poll: not known to be terminal, and not timed out."""
        return [b for b, s in self.states.items() if not (s.batch_status.is_terminal or s.timed_out)]

    def status_changes(self, *, step: float = STATUS_STEP) -> list[BatchState]:
        """The batches whose status, or progress by ``step`` percent (or to 100), changed since the
        last call: what is worth recording for monitoring, not every poll."""
        return status_changes(self.states.values(), self._reported, step=step)

    def timed_out(self) -> list[str]:
        return [b for b, s in self.states.items() if s.timed_out]

    def record_round(self, results: Sequence[BatchJob | BaseException]) -> BatchEvent | None:
        """Take one round of results (aligned with :meth:`pending`); return the final event, if any."""
        errors = [r for r in results if isinstance(r, BaseException)]
        for result in results:
            if isinstance(result, BatchJob):
                self._record_job(result)
        if errors:
            return self._record_failures(errors)
        self.failures = 0
        return self.final_event()

    def _record_job(self, job: BatchJob) -> None:
        state = BatchState.from_job(job)
        if self.timeout is not None and job.id not in self.deadlines:
            anchor = epoch_seconds(job.created_at) if job.created_at is not None else time.time()
            self.deadlines[job.id] = anchor + self.timeout
        if state.batch_status is BatchStatus.CANCELLED and self._cancelled_after_deadline(state):
            state.timed_out = True
        self.states[job.id] = state
        if job.status is BatchStatus.UNKNOWN:
            self.log.warning(
                "batch %s: unrecognised status %r, treated as still running", job.id, job.raw_status
            )
        self.log.info("batch %s: %s %.1f%%", job.id, job.raw_status or job.status.value, job.progress)

    def _cancelled_after_deadline(self, state: BatchState) -> bool:
        deadline = self.deadlines.get(state.batch_id)
        ended = state.completed_at
        if deadline is None or ended is None:
            return False
        end = epoch_seconds(ended)
        # An API that stamps whole seconds (OpenAI's Unix times) truncates the moment: a batch
        # cancelled in its deadline's own second cannot be told from one cancelled after it, and a
        # cancellation is what a timeout does there, so it counts as timed out.
        return end >= (math.floor(deadline) if end.is_integer() else deadline)

    def _record_failures(self, errors: list[BaseException]) -> BatchEvent | None:
        fatal = next((e for e in errors if not is_transient(e)), None)
        if fatal is not None:
            return self.error_event(fatal)
        self.failures += 1
        first = errors[0]
        self.log.warning(
            "polling round failed (%d consecutive, %d tolerated): %s: %s",
            self.failures,
            self.max_poll_failures,
            type(first).__name__,
            first,
        )
        if self.failures > self.max_poll_failures:
            return self.error_event(first, prefix=f"gave up after {self.failures} consecutive failed polls")
        return None

    def overdue(self, now: float | None = None) -> list[str]:
        """Pending ids whose own deadline has passed."""
        at = time.time() if now is None else now
        return [b for b in self.pending() if b in self.deadlines and at >= self.deadlines[b]]

    def to_cancel(self, batch_ids: Sequence[str]) -> list[str]:
        """The ids a timeout should cancel: those not already being cancelled."""
        return [b for b in batch_ids if self.states[b].batch_status is not BatchStatus.CANCELING]

    def time_out(self, batch_ids: Sequence[str], *, cancelled: Sequence[str] = ()) -> BatchEvent | None:
        """Mark batches as timed out (no longer polled); the final event once none is left to poll."""
        for batch_id in batch_ids:
            self.states[batch_id].timed_out = True
            note = "; cancellation requested" if batch_id in cancelled else ""
            status = self.states[batch_id].status
            self.log.warning("batch %s: deadline passed while %s%s", batch_id, status, note)
        self._cancelled.extend(b for b in cancelled if b not in self._cancelled)
        return self.final_event()

    def final_event(self) -> BatchEvent | None:
        """The final event once no batch is left to poll, else ``None``."""
        if self.pending():
            return None
        if self.timed_out():
            return self.timeout_event()
        outcome = outcome_of(self.states.values())
        return None if outcome is None else self.event(outcome, self._summary(outcome))

    def seconds_until_next_deadline(self, now: float | None = None) -> float | None:
        """Seconds until the earliest deadline of a pending batch; ``None`` if none has one."""
        at = time.time() if now is None else now
        upcoming = [self.deadlines[b] for b in self.pending() if b in self.deadlines]
        return max(0.0, min(upcoming) - at) if upcoming else None

    def next_delay(self, poll_interval: float) -> float:
        """How long to sleep before the next round: the poll interval, or less to meet a deadline."""
        remaining = self.seconds_until_next_deadline()
        return poll_interval if remaining is None else min(poll_interval, remaining)

    def timeout_event(self) -> BatchEvent:
        late = self.timed_out()
        message = f"deadline passed with {len(late)} batch(es) unfinished: {', '.join(late)}"
        if self._cancelled:
            message += f"; cancellation requested for {', '.join(self._cancelled)}"
        others = [s for b, s in self.states.items() if b not in late]
        if others:
            message += f"; the other batch(es): {self._counts(others)}"
        return self.event(EventStatus.TIMEOUT, message)

    def error_event(self, exc: BaseException, *, prefix: str = "polling failed") -> BatchEvent:
        return self.event(EventStatus.ERROR, f"{prefix}: {exc}", error_type=type(exc).__name__)

    def event(self, status: EventStatus, message: str, *, error_type: str | None = None) -> BatchEvent:
        return BatchEvent(
            status=status,
            batches=[self.states[b] for b in self.batch_ids],
            message=message,
            error_type=error_type,
        )

    def _summary(self, outcome: EventStatus) -> str:
        return f"{len(self.states)} batch(es) finished: {self._counts(self.states.values())} ({outcome})"

    @staticmethod
    def _counts(states: Iterable[BatchState]) -> str:
        counts: dict[str, int] = {}
        for state in states:
            counts[state.status] = counts.get(state.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
