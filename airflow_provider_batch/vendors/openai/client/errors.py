"""Errors of the OpenAI client: the shared hierarchy of :mod:`airflow_provider_batch.client.errors`
(rooted at :class:`BatchAPIError`), plus the two outcomes of a create that failed ambiguously
which are particular to a lookup by metadata.

Messages name the method, the path, the status and the request id; never a header or the key.
"""

from __future__ import annotations

from airflow_provider_batch.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchAPIError,
    ConflictError,
    DownloadIncompleteError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    UnprocessableEntityError,
)

__all__ = [
    "BatchAPIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "ResponseValidationError",
    "ResponseTooLargeError",
    "DownloadIncompleteError",
    "AmbiguousMetadataCreateError",
    "UnverifiableCreateError",
]


class AmbiguousMetadataCreateError(BatchAPIError):
    """A create failed without a clear answer, and more than one batch the caller does not know
    carries its identity in ``metadata``: the client will not guess which one (if any) it made.

    ``candidate_ids`` are those batches; ``key`` and ``value`` the identity looked for.
    """

    def __init__(self, key: str, value: str, candidate_ids: tuple[str, ...]) -> None:
        self.key, self.value, self.candidate_ids = key, value, candidate_ids
        super().__init__(
            f"POST /batches failed ambiguously and {len(candidate_ids)} batches with metadata "
            f"{key}={value!r} are not among the known ones ({', '.join(candidate_ids)}); "
            "refusing to guess which one this call created"
        )


class UnverifiableCreateError(BatchAPIError):
    """A create failed in a way that may have reached the server (the retry warning logged just
    before says how), and no ``identity_key`` was given to look for the batch it may have made: it
    is not sent again, because that could pay twice. ``input_file_id`` is the create's input file.
    """

    def __init__(self, input_file_id: str) -> None:
        self.input_file_id = input_file_id
        super().__init__(
            f"POST /batches for input file {input_file_id} may have created a batch; it is not re-sent "
            "because no identity_key was given to find it by its metadata: pass identity_key= (a "
            "metadata key whose value is unique to this submission) to make a create safe to retry"
        )
