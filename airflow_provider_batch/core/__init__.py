"""The vendor-neutral vocabulary every layer shares: one definition each.

* :mod:`.identity`: the task instance that owns batches and rows, and its hash;
* :mod:`.status`: row statuses, the neutral batch statuses and the sets derived from them;
* :mod:`.figures`: tokens (prompt-cache tokens too) and money, summed in one place.

This package is the bottom layer: it imports no Airflow, and nothing else of this provider.
"""

from __future__ import annotations

from airflow_provider_batch.core.figures import (
    CACHE_TOKEN_FIELDS,
    FIGURE_FIELDS,
    MONEY_FIELDS,
    TOKEN_FIELDS,
    Figures,
)
from airflow_provider_batch.core.identity import TaskIdentity, identity_digest, owner_key
from airflow_provider_batch.core.status import (
    ANSWERED_ROW_STATUSES,
    ENDED_UNSUCCESSFULLY,
    ROW_STATUSES,
    TERMINAL_BATCH_STATUSES,
    TERMINAL_STATUS_NAMES,
    UNANSWERED_ROW_STATUSES,
    UNSUCCESSFUL_ROW_STATUSES,
    BatchStatus,
    RowStatus,
)

__all__ = [
    "ANSWERED_ROW_STATUSES",
    "CACHE_TOKEN_FIELDS",
    "FIGURE_FIELDS",
    "MONEY_FIELDS",
    "TOKEN_FIELDS",
    "UNANSWERED_ROW_STATUSES",
    "ENDED_UNSUCCESSFULLY",
    "ROW_STATUSES",
    "TERMINAL_BATCH_STATUSES",
    "TERMINAL_STATUS_NAMES",
    "UNSUCCESSFUL_ROW_STATUSES",
    "BatchStatus",
    "Figures",
    "RowStatus",
    "TaskIdentity",
    "identity_digest",
    "owner_key",
]
