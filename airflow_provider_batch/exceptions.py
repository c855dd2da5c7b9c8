"""Airflow-facing errors of the provider.

::

    AirflowException
      TogetherBatchPollingError          waiting stopped (transport/auth); the batch may still run
                                         -> retryable: a retry re-attaches to the same batch
      TogetherLedgerUnavailableError     the submission ledger cannot be reached; nothing was
                                         uploaded or created because of it -> retryable
      TogetherBatchFilesMissingError     a COMPLETED batch exposes neither an output nor an error
                                         file (yet) -> retryable; nothing was loaded
      TogetherBatchResultsTargetError    the results target cannot take the rows (submit task's
                                         preflight) -> retryable; nothing was uploaded
      AirflowFailException               (no Airflow retry: a retry would reach the same end)
        TogetherBatchError
          TogetherBatchFailedError       a batch ended FAILED (or a previous one did, see force_resubmit)
          TogetherBatchExpiredError      a batch passed its completion window; partial results exist
          TogetherBatchCancelledError    a batch was cancelled; partial results may exist
          TogetherBatchTimeoutError      a batch's own wall-clock deadline passed
        TogetherBatchPartialFailureError results loaded, but too many requests failed (results operator)

Every error carries ``batch_ids`` and the ``manifest`` (the same dict the operator returns on
success, also pushed to XCom under ``manifest`` before raising), so partial results of expired or
cancelled batches can still be collected downstream.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_batch._compat import AirflowFailException

__all__ = [
    "TogetherBatchError",
    "TogetherBatchFailedError",
    "TogetherBatchExpiredError",
    "TogetherBatchCancelledError",
    "TogetherBatchTimeoutError",
    "TogetherBatchPollingError",
    "TogetherBatchPartialFailureError",
    "TogetherLedgerUnavailableError",
    "TogetherBatchFilesMissingError",
    "TogetherBatchResultsTargetError",
]


class _BatchErrorMixin:
    batch_ids: list[str]
    manifest: dict[str, Any] | None

    def _init_fields(self, batch_ids: list[str] | None, manifest: dict[str, Any] | None) -> None:
        self.batch_ids = list(batch_ids or [])
        self.manifest = manifest


class TogetherBatchError(_BatchErrorMixin, AirflowFailException):
    """A batch reached an outcome other than COMPLETED.

    :param message: what happened, built from structured fields.
    :param batch_ids: the batches concerned.
    :param manifest: the submit manifest at the time of the error.
    """

    def __init__(
        self, message: str, *, batch_ids: list[str] | None = None, manifest: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self._init_fields(batch_ids, manifest)


class TogetherBatchFailedError(TogetherBatchError):
    """At least one batch ended ``FAILED``."""


class TogetherBatchExpiredError(TogetherBatchError):
    """At least one batch ended ``EXPIRED``; its finished requests are in the output file."""


class TogetherBatchCancelledError(TogetherBatchError):
    """At least one batch ended ``CANCELLED``; finished requests are still delivered."""


class TogetherBatchTimeoutError(TogetherBatchError):
    """A batch's wall-clock deadline (its ``created_at`` plus the timeout) passed before it finished."""


class TogetherBatchPollingError(_BatchErrorMixin, AirflowException):
    """Polling gave up (exhausted transient failures, or a non-retryable API answer).

    Retryable on purpose: the batches keep running, and a task retry re-attaches to them.
    """

    def __init__(
        self, message: str, *, batch_ids: list[str] | None = None, manifest: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self._init_fields(batch_ids, manifest)


class TogetherBatchPartialFailureError(AirflowFailException):
    """Results were loaded, but more requests failed than the results operator's policy allows.

    The message ends with the breakdown: counts by status, then failures by error code with up to
    five example ``custom_id``\\ s each; the same is in ``counts`` and ``failures`` as data.

    :param result: the results operator's manifest (counts, tokens, cost, tables).
    :param failures: failed requests by error code (:class:`~airflow_provider_batch.ledger.FailureBucket`).
    """

    def __init__(self, message: str, *, result: dict[str, Any], failures: list[Any] | None = None) -> None:
        self.result = result
        self.counts: dict[str, int] = dict(result.get("counts") or {})
        self.failures = list(failures or [])
        super().__init__(message + _breakdown(self.counts, self.failures))


def _breakdown(counts: dict[str, int], failures: list[Any]) -> str:
    lines = ["", "  " + ", ".join(f"{status} {count}" for status, count in counts.items())]
    for bucket in failures:
        lines.append(f"  failed {bucket.code}: {bucket.count} (e.g. {', '.join(bucket.examples)})")
    return "\n".join(lines)


class TogetherLedgerUnavailableError(AirflowException):
    """The submission ledger cannot be read or written, so ownership of batches cannot be checked.

    Raised before any upload or create that would depend on it. Retryable: once the ledger's
    database answers again, a retry continues from what the ledger holds.
    """


class TogetherBatchFilesMissingError(_BatchErrorMixin, AirflowException):
    """A COMPLETED batch exposes neither an output file nor an error file, so none of its answers
    can be read. Nothing is loaded (not a table of 100% ``missing`` rows); retryable: the API
    may expose the files a little later."""

    def __init__(self, message: str, *, batch_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self._init_fields(batch_ids, None)


class TogetherBatchResultsTargetError(AirflowException):
    """The results target (connection and tables) cannot take the rows; raised by the submit
    task before any upload, naming the connection, the table and the remedy."""
