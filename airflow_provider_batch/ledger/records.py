"""The ledger's records: what a submission row, an outcome and a page query hold.

Typed values only, no I/O: :mod:`._store` reads and writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.core.identity import TaskIdentity

__all__ = [
    "BatchOutcome",
    "BatchQuery",
    "DailySpend",
    "FailureBucket",
    "SubmissionRecord",
    "SubmissionState",
    "TaskIdentity",
    "neutral_status",
]

SubmissionState = Literal["intent", "uploading", "uploaded", "creating", "created", "abandoned"]


class SubmissionRecord(BaseModel):
    """One row of the ledger: one part of one task instance's input, one generation."""

    submission_id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    logical_date: datetime | None = None
    part_index: int
    part_sha256: str
    generation: int
    request_count: int | None = None
    endpoint: str
    together_conn_id: str
    state: SubmissionState
    input_file_id: str | None = None
    batch_id: str | None = None
    batch_created_at: datetime | None = None
    last_status: str | None = None
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    estimated_cost_usd: float | None = None
    #: The batch API (``together``, ``openai``); ``None`` on rows older than the column: Together.
    vendor: str | None = None
    #: Percent processed when a task last looked (``updated_at``); ``None``: not seen yet.
    last_progress: float | None = None
    #: For a follow-up batch: the batch whose failed or unanswered requests it re-sent.
    parent_batch_id: str | None = None

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


class FailureBucket(BaseModel):
    """The requests of one batch that failed with one error code, with a few of their ids."""

    code: str
    count: int
    examples: list[str] = Field(default_factory=list, description="up to five custom_ids")
    #: Of ``count``, how many a follow-up batch answered (``answered_by``): no longer failed.
    answered: int = 0
    answered_by: list[str] = Field(default_factory=list, description="the follow-up batches")


class BatchOutcome(Figures):
    """What a results task loaded from one batch: counts, tokens, spend, failures and where.

    ``dag_id``/``task_id``/``run_id``/``map_index`` name the *results* task instance that loaded
    it; one batch can be loaded by several (into several tables), each keeping its own outcome.
    Its tokens and spend are the :class:`~airflow_provider_batch.core.figures.Figures` fields.
    """

    model_config = ConfigDict(frozen=False)

    batch_id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    results_table: str
    summary_table: str
    warehouse_conn_id: str
    final_status: str
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    expired: int = 0
    cancelled: int = 0
    failures: list[FailureBucket] = Field(default_factory=list)
    loaded_at: datetime

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


class BatchQuery(BaseModel):
    """Which batches a reader wants: exact filters (``None``: any), newest first, one page.

    ``dag_ids`` limits the answer to those DAGs (the ones the reader may see); an empty set
    matches nothing. ``since``/``until`` bound when the submission was recorded.
    """

    dag_ids: frozenset[str] | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    status: str | None = None
    #: The batch API (``together``, ``openai``); rows older than the ``vendor`` column are Together's.
    vendor: str | None = None
    #: Leave out follow-up batches (the page shows them under their parent).
    top_level: bool = False
    #: ``date``: newest run (logical date, else submission time) first; ``spend``/``failures``:
    #: the largest loaded spend or failed-request count first (unloaded batches last).
    sort: Literal["date", "spend", "failures"] = "date"
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class DailySpend(BaseModel):
    """What the batches of one UTC day, vendor and model cost, the prompt-cache tokens that cost
    includes, and how many requests failed."""

    day: str = Field(description="YYYY-MM-DD, UTC, of the load (or of the run's logical date)")
    vendor: str = "together"
    model: str
    batches: int = 0
    requests: int = 0
    failed: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_list: float = 0.0
    savings_usd: float = 0.0
    #: Prompt-cache tokens written and read (priced into the spend; 0 where the vendor has none).
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0


def neutral_status(status: str) -> str:
    """``in_progress``, ``IN_PROGRESS`` and ``BatchStatus.IN_PROGRESS`` all read ``IN_PROGRESS``."""
    return str(getattr(status, "value", status)).strip().upper()
