"""Errors raised by every vendor's client. The client raises; it never returns errors as data.

::

    BatchAPIError                     (also importable as TogetherError, its name before vendors)
      APIConnectionError              transport failed (wraps httpx.TransportError)
        APITimeoutError
        StreamInterruptedError        a list stream broke off after it had yielded elements
      APIStatusError                  non-2xx answer: status_code, method, path, request_id, body
        BadRequestError          400
        AuthenticationError      401
        PermissionDeniedError    403
        NotFoundError            404
        ConflictError            409
        UnprocessableEntityError 422
        RateLimitError           429
        InternalServerError      5xx
      ResponseValidationError         a 2xx body that does not parse
        ResponseTooLargeError         a 2xx JSON body over ClientSettings.max_response_bytes
          ListElementTooLargeError    one element of a list over ClientSettings.max_list_element_bytes
      BatchCreateRejectedError        create answered {"job": null, "warning": ...}
      AmbiguousCreateError            a create failed ambiguously and several unknown batches use its file
      DownloadIncompleteError         fewer bytes than Content-Length

Messages name the method, the path, the status and the request id; never a header or the key.
"""

from __future__ import annotations

__all__ = [
    "BatchAPIError",
    "TogetherError",
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
    "ListElementTooLargeError",
    "StreamInterruptedError",
    "BatchCreateRejectedError",
    "AmbiguousCreateError",
    "DownloadIncompleteError",
]


class BatchAPIError(Exception):
    """Base of every error a vendor's client raises."""


#: The base's name from before vendors had folders; the same class.
TogetherError = BatchAPIError


def _where(method: str, path: str) -> str:
    return f"{method} {path}"


class APIConnectionError(BatchAPIError):
    def __init__(self, method: str, path: str, reason: str, *, attempts: int = 1) -> None:
        self.method, self.path, self.reason, self.attempts = method, path, reason, attempts
        super().__init__(f"{_where(method, path)} failed after {attempts} attempt(s): {reason}")


class APITimeoutError(APIConnectionError):
    pass


class StreamInterruptedError(APIConnectionError):
    """A list stream (``files.iter()``, ``batches.iter()``) failed after it had yielded elements.

    It is not retried, because the caller has already acted on part of the list; iterate again from
    the start if that is safe. ``error`` is the failure itself, ``yielded`` how many elements came.
    """

    def __init__(self, error: BatchAPIError, yielded: int) -> None:
        self.error, self.yielded = error, yielded
        method, path = getattr(error, "method", "GET"), getattr(error, "path", "")
        attempts = getattr(error, "attempts", 1)
        detail = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
        reason = f"broke off after {yielded} element(s) were yielded ({detail}); not retried"
        super().__init__(method, path, reason, attempts=attempts)


class APIStatusError(BatchAPIError):
    """The API answered with a non-2xx status."""

    def __init__(
        self,
        method: str,
        path: str,
        status_code: int,
        message: str,
        *,
        request_id: str | None = None,
        body: object = None,
        attempts: int = 1,
    ) -> None:
        self.method, self.path, self.status_code = method, path, status_code
        self.message, self.request_id, self.body, self.attempts = message, request_id, body, attempts
        rid = request_id or "none"
        super().__init__(
            f"{_where(method, path)} returned HTTP {status_code} (request id {rid}, "
            f"{attempts} attempt(s)): {message}"
        )


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class ResponseValidationError(BatchAPIError):
    def __init__(self, method: str, path: str, detail: str, *, request_id: str | None = None) -> None:
        self.method, self.path, self.request_id = method, path, request_id
        super().__init__(
            f"{_where(method, path)} returned a body that does not parse "
            f"(request id {request_id or 'none'}): {detail}"
        )


class ResponseTooLargeError(ResponseValidationError):
    """The answer is bigger than the client will hold in memory; it is not retried."""

    #: What is over the limit, and the setting that sets it.
    subject, setting = "larger", "max_response_bytes"

    def __init__(self, method: str, path: str, limit: int, *, request_id: str | None = None) -> None:
        self.limit = limit
        detail = f"{self.subject} than the limit of {limit} bytes (ClientSettings.{self.setting})"
        super().__init__(method, path, detail, request_id=request_id)


class ListElementTooLargeError(ResponseTooLargeError):
    """One element of a streamed list is bigger than the client will hold; it is not retried."""

    subject, setting = "a list element is larger", "max_list_element_bytes"


class AmbiguousCreateError(BatchAPIError):
    """A create failed without a clear answer, and more than one batch the caller does not know
    uses its input file: the client will not guess which one (if any) it made.

    ``candidate_ids`` are those batches; ``input_file_id`` their input file.
    """

    def __init__(self, input_file_id: str, candidate_ids: tuple[str, ...]) -> None:
        self.input_file_id, self.candidate_ids = input_file_id, candidate_ids
        super().__init__(
            f"POST /batches for input file {input_file_id} failed ambiguously and {len(candidate_ids)} "
            f"batches on that file are not among the known ones ({', '.join(candidate_ids)}); "
            "refusing to guess which one this call created"
        )


class BatchCreateRejectedError(BatchAPIError):
    """Create returned a null job; ``warning`` carries the server's reason."""

    def __init__(self, input_file_id: str, warning: str | None, *, request_id: str | None = None) -> None:
        self.input_file_id, self.warning, self.request_id = input_file_id, warning, request_id
        super().__init__(
            f"POST /batches for input file {input_file_id} created no job "
            f"(request id {request_id or 'none'}): {warning or 'no warning given'}"
        )


class DownloadIncompleteError(BatchAPIError):
    def __init__(self, path: str, expected: int, received: int) -> None:
        self.path, self.expected, self.received = path, expected, received
        super().__init__(f"GET {path}: received {received} of {expected} bytes")
