"""Deferrable wait for one or more Together batches, run in the triggerer's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch.client.models import BatchJob
from airflow_provider_batch.events import BatchEvent
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.triggers._polling import PollTracker
from airflow_provider_batch.triggers._status_ledger import LedgerStatusWriter

__all__ = ["BatchTrigger", "TogetherBatchTrigger", "TRIGGER_CLASSPATH"]

TRIGGER_CLASSPATH = "airflow_provider_batch.triggers.batch.TogetherBatchTrigger"


class TogetherBatchTrigger(BaseTrigger):
    """Polls batches until none is left to poll: each is terminal, past its own deadline, or
    polling keeps failing.

    Pure asyncio: the connection is resolved with ``aget_connection`` and the HTTP client is
    ``httpx.AsyncClient``-based, so a thousand of these share one triggerer loop. It only ever
    polls (and cancels on timeout or kill); submitting happens on the worker, so a triggerer
    restart never creates a batch. Yields exactly one
    :class:`~airflow_provider_batch.events.BatchEvent`.

    **Deadlines are per batch** (see :class:`~airflow_provider_batch.triggers._polling.PollTracker`):
    a batch still running past its own deadline is cancelled (if ``cancel_on_timeout``) and no
    longer polled, the others are polled until they end, and the event is then ``timeout``. The
    deadlines are absolute wall-clock epochs in the kwargs, so a trigger re-created on another
    triggerer keeps them.

    :param batch_ids: batches to watch.
    :param together_conn_id: connection of type ``together``.
    :param poll_interval: seconds between polling rounds, a finite number > 0 (the operators that
        create the trigger enforce the floor; the trigger, re-created from stored kwargs, does not).
    :param deadlines: wall-clock epoch seconds per batch id (its ``created_at`` plus the timeout); a
        batch absent from it has no deadline. ``None``: no deadlines.
    :param deadline: one epoch for every batch not in ``deadlines``: the kwarg of triggers
        serialized by releases before per-batch deadlines, still accepted so that they resume
        unchanged. :meth:`serialize` writes it out as ``deadlines``.
    :param max_poll_failures: consecutive failed rounds tolerated; one more yields ``error``.
    :param cancel_on_kill: cancel unfinished batches when a user kills the deferred task (AF 3.3+).
    :param cancel_on_timeout: cancel a batch when its deadline passes.
    :param record_status: write each status change, and each percent of progress, to the
        submission ledger for the "LLM batches" page (off the event loop; a failed write is logged
        and the wait goes on). Off for triggers serialized before it existed.
    :param ledger_conn_id: the ledger's connection (``None``: the deployment's ledger).
    """

    def __init__(
        self,
        batch_ids: Sequence[str],
        together_conn_id: str = TogetherBatchHook.default_conn_name,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        max_poll_failures: int = 5,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        deadlines: Mapping[str, float] | None = None,
        record_status: bool = False,
        ledger_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        if not batch_ids:
            raise ValueError("batch_ids must not be empty")
        self.batch_ids = list(batch_ids)
        self.together_conn_id = together_conn_id
        self.poll_interval = check_poll_interval(
            poll_interval, name="poll_interval", where=type(self).__name__, floor=False
        )
        self.deadlines = _per_batch(self.batch_ids, deadlines, deadline)
        self.max_poll_failures = int(max_poll_failures)
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.record_status = bool(record_status)
        self.ledger_conn_id = ledger_conn_id
        self._client: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            TRIGGER_CLASSPATH,
            {
                "batch_ids": list(self.batch_ids),
                "together_conn_id": self.together_conn_id,
                "poll_interval": self.poll_interval,
                "deadlines": dict(self.deadlines),
                "max_poll_failures": self.max_poll_failures,
                "cancel_on_kill": self.cancel_on_kill,
                "cancel_on_timeout": self.cancel_on_timeout,
                "record_status": self.record_status,
                "ledger_conn_id": self.ledger_conn_id,
            },
        )

    async def _get_client(self) -> Any:
        if self._client is None:
            hook = TogetherBatchHook(self.together_conn_id)
            self._client = await hook.get_async_conn(poll_interval=self.poll_interval)
        return self._client

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = PollTracker(
            self.batch_ids,
            max_poll_failures=self.max_poll_failures,
            deadlines=self.deadlines,
            logger=self.log,
        )
        writer = LedgerStatusWriter(self.ledger_conn_id, self.log) if self.record_status else None
        try:
            event = await self._wait(tracker, writer)
        except Exception as exc:  # CancelledError is a BaseException and passes through
            self.log.exception("trigger stopped on an unexpected error")
            event = tracker.error_event(exc, prefix="trigger error")
        if writer is not None:
            await writer.flush()
        self.log.info("batches %s: %s (%s)", ", ".join(self.batch_ids), event.status, event.message)
        yield TriggerEvent(event.to_payload())

    async def _wait(self, tracker: PollTracker, writer: LedgerStatusWriter | None = None) -> BatchEvent:
        client = await self._get_client()
        while True:
            event = tracker.record_round(await _poll(client, tracker.pending()))
            if writer is not None:
                writer.submit(tracker.status_changes())
            if event is None:
                event = await self._on_deadlines(tracker)
            if event is not None:
                return event
            await asyncio.sleep(tracker.next_delay(self.poll_interval))

    async def _on_deadlines(self, tracker: PollTracker) -> BatchEvent | None:
        """Time out the batches past their own deadline; the final event if none is left to poll."""
        overdue = tracker.overdue()
        if not overdue:
            return None
        cancelled: list[str] = []
        if self.cancel_on_timeout:
            cancelled = await _cancel(await self._get_client(), tracker.to_cancel(overdue), self.log)
        return tracker.time_out(overdue, cancelled=cancelled)

    async def cleanup(self) -> None:
        """Release the HTTP client. Never cancels: cleanup also runs on triggerer restarts."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def on_kill(self) -> None:
        """A user marked, cleared or failed the deferred task: cancel unfinished batches if asked."""
        if not self.cancel_on_kill:
            self.log.info("task killed; cancel_on_kill is off, batches keep running")
            return
        # A fresh client: on_kill may run after cleanup() already closed the polling one.
        client = await TogetherBatchHook(self.together_conn_id).get_async_conn()
        try:
            jobs = await asyncio.gather(
                *(client.batches.retrieve(b) for b in self.batch_ids), return_exceptions=True
            )
            unfinished = [
                b
                for b, j in zip(self.batch_ids, jobs, strict=True)
                if not (isinstance(j, BatchJob) and j.status.is_terminal)
            ]
            await _cancel(client, unfinished, self.log)
        finally:
            await client.aclose()


async def _cancel(client: Any, batch_ids: Sequence[str], log: Any) -> list[str]:
    """Best-effort cancel; returns the ids whose cancellation the API accepted."""
    results = await asyncio.gather(*(client.batches.cancel(b) for b in batch_ids), return_exceptions=True)
    done: list[str] = []
    for batch_id, result in zip(batch_ids, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("batch %s: cancel failed: %s: %s", batch_id, type(result).__name__, result)
        else:
            log.info("batch %s: cancellation requested", batch_id)
            done.append(batch_id)
    return done


def _per_batch(
    batch_ids: Sequence[str], deadlines: Mapping[str, float] | None, deadline: float | None
) -> dict[str, float]:
    """One deadline per batch: ``deadlines`` where given, else the legacy shared ``deadline``."""
    given = {str(b): float(d) for b, d in (deadlines or {}).items() if d is not None}
    unknown = sorted(set(given) - set(batch_ids))
    if unknown:
        raise ValueError(f"deadlines given for batches not watched: {unknown}")
    if deadline is not None:
        given = {b: given.get(b, float(deadline)) for b in batch_ids}
    return {b: given[b] for b in batch_ids if b in given}


async def _poll(client: Any, batch_ids: Sequence[str]) -> list[BatchJob | BaseException]:
    """One polling round: a result or the exception raised, per id, in order.

    A single batch (the usual trigger) is awaited in this task: wrapping it in ``gather`` would
    create a task per poll for nothing. Cancellation propagates either way.
    """
    if len(batch_ids) == 1:
        try:
            result: object = await client.batches.retrieve(batch_ids[0])
        except Exception as exc:
            result = exc
        return _only_results([result])
    results = await asyncio.gather(*(client.batches.retrieve(b) for b in batch_ids), return_exceptions=True)
    return _only_results(results)


def _only_results(results: Sequence[object]) -> list[BatchJob | BaseException]:
    out: list[BatchJob | BaseException] = []
    for r in results:
        if isinstance(r, asyncio.CancelledError):
            raise r
        if isinstance(r, (BatchJob, BaseException)):
            out.append(r)
        else:
            out.append(TypeError(f"unexpected poll result {type(r).__name__}"))
    return out


#: The trigger under its neutral name: it serializes the connection id only, and the hook reads
#: the vendor from the connection's type in the triggerer.
BatchTrigger = TogetherBatchTrigger
