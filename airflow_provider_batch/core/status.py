"""One status vocabulary: what became of a request (a row), and where a batch stands.

**Row statuses** (:class:`RowStatus`), one per expected request, in the order of the results
task's counts, the spend table's columns and the report:

========== ======================================= ========= ============
status     meaning                                 answered  unsuccessful
========== ======================================= ========= ============
succeeded  an answer came back                     yes       no
failed     an error line came back                 yes       yes
missing    no line came back for it                no        yes
expired    not run: the batch expired first        no        yes
cancelled  not run: the batch was cancelled first  no        yes
========== ======================================= ========= ============

**Batch statuses** (:class:`BatchStatus`) are the neutral set every vendor maps its own onto,
spelled as the first vendor spells them (``CANCELING`` with one L). A batch in one of
:data:`TERMINAL_BATCH_STATUSES` never changes again: its files, if any, are final.

No Airflow imports here: the HTTP clients read :class:`BatchStatus` too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "ANSWERED_ROW_STATUSES",
    "ENDED_UNSUCCESSFULLY",
    "ROW_STATUSES",
    "TERMINAL_BATCH_STATUSES",
    "TERMINAL_STATUS_NAMES",
    "UNANSWERED_ROW_STATUSES",
    "UNRUN_ROW_STATUS",
    "UNSUCCESSFUL_ROW_STATUSES",
    "BatchStatus",
    "RowStatus",
]


class RowStatus(str, enum.Enum):
    """Outcome of one expected request."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


#: Every row status, in table and report order (plain strings: the tables' and XCom's spelling).
ROW_STATUSES: tuple[str, ...] = tuple(status.value for status in RowStatus)
#: A line came back for the request: an answer or an error.
ANSWERED_ROW_STATUSES: frozenset[str] = frozenset({RowStatus.SUCCEEDED.value, RowStatus.FAILED.value})
#: No line came back: the request was never run, or its line was lost.
UNANSWERED_ROW_STATUSES: frozenset[str] = frozenset(ROW_STATUSES) - ANSWERED_ROW_STATUSES
#: Every status but ``succeeded``: what a follow-up batch may re-send.
UNSUCCESSFUL_ROW_STATUSES: tuple[str, ...] = tuple(s for s in ROW_STATUSES if s != RowStatus.SUCCEEDED.value)


class BatchStatus(str, enum.Enum):
    """Batch status, exactly as the API spells it (note ``CANCELING`` with one L).

    A value the API adds later parses as :attr:`UNKNOWN` instead of failing; callers treat it
    as non-terminal and keep polling.
    """

    VALIDATING = "VALIDATING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def _missing_(cls, value: object) -> BatchStatus:
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_BATCH_STATUSES

    @property
    def is_success(self) -> bool:
        return self is BatchStatus.COMPLETED

    def __str__(self) -> str:
        return self.value


#: A batch in one of these never changes again.
TERMINAL_BATCH_STATUSES: frozenset[BatchStatus] = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)
#: The same, as the strings the ledger, the page and the local server store.
TERMINAL_STATUS_NAMES: frozenset[str] = frozenset(status.value for status in TERMINAL_BATCH_STATUSES)
#: Terminal, but not ``COMPLETED``: a batch that a forced resubmit may replace.
ENDED_UNSUCCESSFULLY: frozenset[BatchStatus] = TERMINAL_BATCH_STATUSES - {BatchStatus.COMPLETED}
#: The status of a request that got no line, by how its batch ended (any other ending: ``missing``).
UNRUN_ROW_STATUS: Mapping[BatchStatus, RowStatus] = MappingProxyType(
    {BatchStatus.EXPIRED: RowStatus.EXPIRED, BatchStatus.CANCELLED: RowStatus.CANCELLED}
)
