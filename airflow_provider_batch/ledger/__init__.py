"""The submission ledger: the durable record of which batch belongs to which task instance.

Every batch the provider creates is recorded here, keyed by the task instance that owns it,
``(dag_id, task_id, run_id, map_index)``, never by try number, plus the input part's index and
content SHA-256. A row moves through these states, and the state is written *before* the step it
names, so a crash at any point leaves a record the next try can finish from:

``intent`` (before the upload) -> ``uploading`` (the file id, as soon as the API assigns it,
before the bytes are sent) -> ``uploaded`` -> ``creating`` (before ``POST /batches``) ->
``created`` (the batch id). ``abandoned`` marks a row whose batch vanished from the API.

Why a ledger of our own: Together's batches carry no metadata, file names are not unique, the
Files API de-duplicates identical content, and the task state store is discarded by a clear. None
of them can say "this batch is mine". The ledger can, because it holds only what this provider
wrote, and it survives clears, retries and worker crashes.

It lives in any DB-API database reached through an Airflow connection (``ledger_conn_id``), or by
default in an SQLite file; see :mod:`.location`. The package's parts:

* :mod:`._store`: the connection, the two tables and their migration, written through the same
  SQL dialect as the warehouse (:mod:`airflow_provider_batch.warehouse.dialects`);
* :mod:`.submissions`: the submission state machine above;
* :mod:`.outcomes`: what a results task loaded from each batch;
* :mod:`.monitoring`: the batches page's read queries;
* :mod:`.location`: where the ledger lives (:func:`get_ledger`).

Nothing here but :mod:`.location` reads Airflow's configuration, and only when called.
"""

from airflow_provider_batch.ledger._ledger import SubmissionLedger, sqlite_ledger
from airflow_provider_batch.ledger._store import (
    DEFAULT_LEDGER_TABLE,
    DEFAULT_OUTCOME_TABLE,
    SQLITE_BUSY_TIMEOUT_MS,
    Dialect,
    LedgerConflictError,
    LedgerError,
    LedgerUnavailableError,
)
from airflow_provider_batch.ledger.location import LEDGER_SECTION, get_ledger, ledger_location
from airflow_provider_batch.ledger.records import (
    BatchOutcome,
    BatchQuery,
    DailySpend,
    FailureBucket,
    SubmissionRecord,
    SubmissionState,
    TaskIdentity,
    neutral_status,
)

__all__ = [
    "BatchOutcome",
    "BatchQuery",
    "DailySpend",
    "DEFAULT_LEDGER_TABLE",
    "DEFAULT_OUTCOME_TABLE",
    "FailureBucket",
    "Dialect",
    "LEDGER_SECTION",
    "LedgerConflictError",
    "LedgerError",
    "LedgerUnavailableError",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SubmissionLedger",
    "SubmissionRecord",
    "SubmissionState",
    "TaskIdentity",
    "get_ledger",
    "ledger_location",
    "neutral_status",
    "sqlite_ledger",
]
