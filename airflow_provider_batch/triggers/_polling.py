"""Pure polling bookkeeping shared by the async trigger and the synchronous (worker) wait loop.

One :class:`PollTracker` watches a fixed list of batch ids. Each polling round hands it a result
per id (a :class:`BatchJob` or the exception the retrieval raised); it answers with the final
:class:`BatchEvent` once there is one, or ``None`` to keep polling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

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

__all__ = ["PollTracker", "is_transient"]

_TRANSIENT_STATUS = (RateLimitError, InternalServerError, ConflictError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed poll is worth repeating (transport, 408/409/429/5xx, unparsable body)."""
    if isinstance(exc, (APIConnectionError, ResponseValidationError, *_TRANSIENT_STATUS)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code == 408
    return isinstance(exc, (OSError, TimeoutError))


class PollTracker:
    """Keeps the last known state of each batch and decides when waiting is over.

    :param batch_ids: the batches to watch (order is kept in the event).
    :param max_poll_failures: consecutive failed rounds tolerated; one more ends the wait.
    :param deadline: wall-clock epoch seconds after which the wait ends with ``timeout``.
    :param logger: where per-poll progress lines go.
    """

    def __init__(
        self,
        batch_ids: Sequence[str],
        *,
        max_poll_failures: int,
        deadline: float | None,
        logger: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.batch_ids = list(batch_ids)
        self.max_poll_failures = max_poll_failures
        self.deadline = deadline
        self.log = logger
        self.failures = 0
        self.states: dict[str, BatchState] = {b: BatchState(batch_id=b, status="UNKNOWN") for b in batch_ids}

    def pending(self) -> list[str]:
        """Ids not yet known to be terminal."""
        return [b for b, s in self.states.items() if not s.batch_status.is_terminal]

    def record_round(self, results: Sequence[BatchJob | BaseException]) -> BatchEvent | None:
        """Take one round of results (aligned with :meth:`pending`); return the final event, if any."""
        errors = [r for r in results if isinstance(r, BaseException)]
        for result in results:
            if isinstance(result, BatchJob):
                self._record_job(result)
        if errors:
            return self._record_failures(errors)
        self.failures = 0
        outcome = outcome_of(self.states.values())
        if outcome is not None:
            return self.event(outcome, self._summary(outcome))
        return None

    def _record_job(self, job: BatchJob) -> None:
        self.states[job.id] = BatchState.from_job(job)
        if job.status is BatchStatus.UNKNOWN:
            self.log.warning(
                "batch %s: unrecognised status %r, treated as still running", job.id, job.raw_status
            )
        self.log.info("batch %s: %s %.1f%%", job.id, job.raw_status or job.status.value, job.progress)

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

    def deadline_passed(self, now: float | None = None) -> bool:
        return self.deadline is not None and (now if now is not None else time.time()) >= self.deadline

    def seconds_until_deadline(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.time())

    def timeout_event(self, *, cancelled: Sequence[str] = ()) -> BatchEvent:
        pending = self.pending()
        message = f"deadline passed with {len(pending)} batch(es) unfinished: {', '.join(pending)}"
        if cancelled:
            message += f"; cancellation requested for {', '.join(cancelled)}"
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
        counts: dict[str, int] = {}
        for state in self.states.values():
            counts[state.status] = counts.get(state.status, 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{len(self.states)} batch(es) finished: {detail} ({outcome})"
