"""Wait for Together batches created elsewhere (another task, another system)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_batch._compat import warn_if_kill_cannot_cancel
from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch.client.models import BatchJob
from airflow_provider_batch.events import BatchEvent, BatchState
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.links import BatchConsoleLink, TogetherBatchLink
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.operators._batch_common import (
    defer_timeout,
    finish,
    poll_once,
    push_batch_ids,
    status_recorder,
)
from airflow_provider_batch.triggers._polling import PollTracker, is_transient, status_changes
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

__all__ = ["BatchSensor", "TogetherBatchSensor"]


class TogetherBatchSensor(BaseSensorOperator):
    """Succeeds when every given batch is COMPLETED; returns the same manifest as the operator.

    A batch ending FAILED, EXPIRED or CANCELLED raises the matching
    :mod:`~airflow_provider_batch.exceptions` error (with the manifest). In ``poke``/``reschedule``
    mode each poke retrieves the batches once (transient API errors count as "not yet"); with
    ``deferrable=True`` the wait runs in :class:`TogetherBatchTrigger`.

    ``timeout`` also bounds each batch on its own, from the batch's ``created_at``: a batch still
    running past that deadline is timed out (never cancelled: it belongs to someone else), the
    others are waited for, and the sensor then fails with ``TogetherBatchTimeoutError``.

    :param batch_id: one batch id (templated).
    :param batch_ids: several batch ids (templated); combined with ``batch_id``.
    :param together_conn_id: connection of type ``together``.
    :param deferrable: wait in the triggerer instead of poking.
    :param max_poll_failures: consecutive failed rounds the trigger tolerates.
    :param cancel_on_kill: cancel the batches when the deferred sensor is killed (off by default:
        the batches belong to someone else).
    :param record_status: write each status change (and each percent of progress) it sees to the
        submission ledger, for the "LLM batches" page; only batches the ledger holds (created by
        this provider's operators) are touched. A failed write is logged, never fails the sensor.
    :param ledger_conn_id: the ledger's connection (``None``: the deployment's ledger).

    ``poke_interval`` (seconds between polls, also the trigger's) is refused below the floor of
    :mod:`airflow_provider_batch._poll_interval` when the DAG is parsed. When it is not given, the
    connection's ``poll_interval`` extra is used (read when the sensor runs), else Airflow's 60 s.
    """

    template_fields: Sequence[str] = ("batch_id", "batch_ids")
    operator_extra_links = (TogetherBatchLink(),)

    def __init__(
        self,
        *,
        batch_id: str | None = None,
        batch_ids: Sequence[str] | None = None,
        together_conn_id: str = TogetherBatchHook.default_conn_name,
        deferrable: bool = False,
        max_poll_failures: int = 5,
        cancel_on_kill: bool = False,
        record_status: bool = True,
        ledger_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._poke_interval_given = "poke_interval" in kwargs  # default_args are in kwargs too
        if self._poke_interval_given:  # checked first: Airflow 3.1's own check has a vaguer message
            where = f"{type(self).__name__} {kwargs.get('task_id')!r}"
            kwargs["poke_interval"] = check_poll_interval(
                kwargs["poke_interval"], name="poke_interval", where=where
            )
        super().__init__(**kwargs)
        self.poke_interval = check_poll_interval(
            self.poke_interval, name="poke_interval", where=f"{type(self).__name__} {self.task_id!r}"
        )
        self.batch_id = batch_id
        self.batch_ids = list(batch_ids) if batch_ids is not None else None
        self.together_conn_id = together_conn_id
        self.deferrable = deferrable
        self.max_poll_failures = max_poll_failures
        self.cancel_on_kill = cancel_on_kill
        self.record_status = record_status
        self.ledger_conn_id = ledger_conn_id
        self._reported: dict[str, tuple[str, float]] = {}

    def _ids(self) -> list[str]:
        ids = [self.batch_id] if self.batch_id else []
        ids += [str(b) for b in (self.batch_ids or []) if b and b not in ids]
        if not ids:
            raise ValueError("TogetherBatchSensor needs batch_id or batch_ids")
        return ids

    def _manifest(self) -> SubmitManifest:
        return SubmitManifest(together_conn_id=self.together_conn_id)

    def execute(self, context: Any) -> Any:
        hook = TogetherBatchHook(self.together_conn_id)
        if not self._poke_interval_given:
            self.poke_interval = hook.poll_interval() or self.poke_interval
        if not self.deferrable:
            return super().execute(context)
        ids = self._ids()
        push_batch_ids(context, ids)
        with hook.get_conn() as client:
            first = poll_once(client, ids, self.log, timeout=float(self.timeout))
        if first.event is not None:
            return finish(context, first.event, self._manifest())
        poll = float(self.poke_interval)
        warn_if_kill_cannot_cancel(self.log, cancel_on_kill=self.cancel_on_kill)
        self.defer(
            trigger=TogetherBatchTrigger(
                batch_ids=ids,
                together_conn_id=self.together_conn_id,
                poll_interval=poll,
                deadlines=first.deadlines,
                max_poll_failures=self.max_poll_failures,
                cancel_on_kill=self.cancel_on_kill,
                cancel_on_timeout=False,
                record_status=self.record_status,
                ledger_conn_id=self.ledger_conn_id,
            ),
            method_name="execute_complete",
            timeout=defer_timeout(first.deadlines, ids, poll),
        )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        ids = self._ids()
        push_batch_ids(context, ids)
        jobs: list[BatchJob] = []
        with TogetherBatchHook(self.together_conn_id).get_conn() as client:
            for batch_id in ids:
                try:
                    jobs.append(client.batches.retrieve(batch_id))
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    self.log.warning("batch %s: poll failed (%s), will poke again", batch_id, exc)
                    return False
        self._record([BatchState.from_job(j) for j in jobs])
        event = _event_if_done(jobs, float(self.timeout), self.log)
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish(context, event, self._manifest()))

    def _record(self, states: list[BatchState]) -> None:
        """The statuses seen by this poke, in the ledger when they changed since the last poke."""
        changes = status_changes(states, self._reported) if self.record_status else []
        if changes:
            status_recorder(self.ledger_conn_id)(changes)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired; ids come from the event."""
        parsed = BatchEvent.from_payload(event)
        return finish(context, parsed, self._manifest())


def _event_if_done(jobs: list[BatchJob], timeout: float, log: Any) -> BatchEvent | None:
    """The final event once every batch is terminal or past its own deadline (``created_at`` +
    ``timeout``); the sensor never cancels."""
    tracker = PollTracker([j.id for j in jobs], max_poll_failures=0, timeout=timeout, logger=log)
    event = tracker.record_round(jobs)
    overdue = tracker.overdue()
    if event is None and overdue:
        event = tracker.time_out(overdue)
    return event


class BatchSensor(TogetherBatchSensor):
    """:class:`TogetherBatchSensor` under its neutral name: the vendor comes from the connection's
    type.

    :param conn_id: the batch API connection; every other parameter is
        :class:`TogetherBatchSensor`'s.
    """

    operator_extra_links = (BatchConsoleLink(),)

    def __init__(self, *, conn_id: str = "batch_default", **kwargs: Any) -> None:
        super().__init__(together_conn_id=conn_id, **kwargs)
