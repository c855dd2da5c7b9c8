"""Status and progress changes, recorded in the submission ledger for the "LLM batches" page.

A trigger sees every status change of the batches it polls; the page reads the ledger only, so the
trigger writes each change there. A ledger is a blocking DB-API database, so the writes run off the
triggerer's event loop (``sync_to_async``, as Airflow's triggers do) on a small thread pool of this
module: a thousand triggers never take more than :data:`WRITER_THREADS` threads, nor Airflow's
default pool. Each trigger has at most one write in flight; changes seen meanwhile are merged and
written next, newest wins. A write that fails is logged and dropped: monitoring never fails or
delays a wait.

What is written is a batch id, a status and a percentage: no connection, no key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async

from airflow_provider_batch.client.models import BatchStatus
from airflow_provider_batch.events import BatchState

__all__ = ["WRITER_THREADS", "LedgerStatusWriter", "seen_status"]

#: Threads per triggerer process for ledger writes, shared by every trigger in it.
WRITER_THREADS = 2
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="apb-ledger-status")
    return _pool


def seen_status(state: BatchState) -> tuple[str, str, float]:
    """``(batch_id, status, progress)`` for the ledger: the neutral status name where there is one."""
    status = state.batch_status
    return state.batch_id, state.status if status is BatchStatus.UNKNOWN else status.value, state.progress


class LedgerStatusWriter:
    """Records the ``(batch_id, status, progress)`` changes one trigger sees, in the background.

    :param ledger_conn_id: the submit task's ledger connection (``None``: the deployment's).
    :param logger: where a failed write is reported (once per kind of error).
    """

    def __init__(self, ledger_conn_id: str | None, logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.ledger_conn_id = ledger_conn_id
        self.log = logger
        self._pending: dict[str, tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ledger: Any = None
        self._warned: set[str] = set()
        self.written = 0

    def submit(self, states: Iterable[BatchState]) -> None:
        """Queue these states for writing; returns at once."""
        for state in states:
            batch_id, status, progress = seen_status(state)
            self._pending[batch_id] = (status, progress)
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout`` seconds) for the queued changes to be written."""
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            self.log.warning("the batch status is still being written to the submission ledger; not waiting")

    async def _drain(self) -> None:
        # asgiref's sync_to_async, as Airflow's own triggers use for blocking calls: a connection
        # look-up in the write then reaches the triggerer's supervisor through this event loop.
        write = sync_to_async(self._write, thread_sensitive=False, executor=_executor())
        while self._pending:
            batch, self._pending = self._pending, {}
            await write(batch)

    def _write(self, batch: dict[str, tuple[str, float]]) -> None:
        """Runs on the writer pool; never raises."""
        try:
            if self._ledger is None:
                from airflow_provider_batch.ledger.location import get_ledger

                self._ledger = get_ledger(self.ledger_conn_id)
            for batch_id, (status, progress) in batch.items():
                self._ledger.record_status(batch_id, status, progress)
                self.written += 1
        except Exception as exc:
            self._ledger = None  # reconnect on the next change
            kind = type(exc).__name__
            if kind not in self._warned:
                self._warned.add(kind)
                self.log.warning(
                    "the batch status could not be recorded in the submission ledger (%s: %s); the "
                    "wait goes on, only the LLM batches page is behind",
                    kind,
                    exc,
                )
