"""The whole ledger: one object with the submission, outcome and monitoring parts."""

from __future__ import annotations

import sqlite3

from airflow_provider_batch.ledger._store import (
    DEFAULT_LEDGER_TABLE,
    DEFAULT_OUTCOME_TABLE,
    SQLITE_BUSY_TIMEOUT_MS,
)
from airflow_provider_batch.ledger.monitoring import Monitoring
from airflow_provider_batch.ledger.outcomes import Outcomes
from airflow_provider_batch.ledger.submissions import Submissions
from airflow_provider_batch.warehouse.dialects import dialect_for

__all__ = ["SubmissionLedger", "sqlite_ledger"]


class SubmissionLedger(Submissions, Outcomes, Monitoring):
    """Reads and writes the ledger's tables through a DB-API connection factory.

    Every write is its own short transaction. The tables are created on first use. The parts:
    :class:`~.submissions.Submissions` (the state machine), :class:`~.outcomes.Outcomes` and
    :class:`~.monitoring.Monitoring` (the page's reads), over :class:`~._store.LedgerStore`, whose
    parameters it takes.
    """


def sqlite_ledger(
    path: str, *, table: str = DEFAULT_LEDGER_TABLE, outcome_table: str = DEFAULT_OUTCOME_TABLE
) -> SubmissionLedger:
    """A ledger in an SQLite file (the embedded default); the folder must exist."""
    dialect = dialect_for(name="sqlite")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        return dialect.wait_for_locks(conn, SQLITE_BUSY_TIMEOUT_MS)

    return SubmissionLedger(
        connect, dialect=dialect, table=table, outcome_table=outcome_table, where=f"SQLite file {path}"
    )
