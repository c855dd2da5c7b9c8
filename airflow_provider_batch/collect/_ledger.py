"""The results task's one handle on the submission ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_batch.ledger import SubmissionLedger

__all__ = ["LedgerHandle", "as_handle"]


class LedgerHandle:
    """The submission ledger of one task, opened on first use and kept for the whole task.

    Lazy, because most loads never need it (no owner, no follow-up): a task that does not touch
    the ledger never opens it, and one that does opens it once, however many batches and rounds
    it records.

    :param conn_id: the ledger's DB-API connection id (``None``: the deployment's ledger).
    """

    def __init__(self, conn_id: str | None) -> None:
        self.conn_id = conn_id
        self._writer: SubmissionLedger | None = None
        self._reader: SubmissionLedger | None = None

    def __call__(self) -> SubmissionLedger:
        """The ledger, for writing.

        :raises LedgerUnavailableError: it cannot be used here (see
            :func:`~airflow_provider_batch.ledger.location.get_ledger`).
        """
        if self._writer is None:
            from airflow_provider_batch.ledger.location import get_ledger

            self._writer = get_ledger(self.conn_id)
        return self._writer

    def reader(self) -> SubmissionLedger:
        """The ledger, for reading only: the writer when it can be opened, else the embedded
        default that a distributed executor's workers may read but not write."""
        if self._writer is not None:
            return self._writer
        if self._reader is None:
            from airflow_provider_batch.ledger.location import get_ledger

            self._reader = get_ledger(self.conn_id, for_writing=False)
        return self._reader


def as_handle(ledger: LedgerHandle | str | None) -> LedgerHandle:
    """``ledger`` itself, or a new handle on the ledger of the connection id it names."""
    return ledger if isinstance(ledger, LedgerHandle) else LedgerHandle(ledger)
