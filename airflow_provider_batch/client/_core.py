"""Pure core of the client: request building, retry decisions, backoff and error mapping.

Nothing here does I/O. The sync and async shells build a :class:`RequestSpec` (see ``_ops``), turn it
into an :class:`httpx.Request` with :func:`build_request`, send it, and hand the outcome to
:func:`decide`, which says whether to return, retry (after how long) or raise (which error).
"""

from __future__ import annotations

import enum
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DownloadIncompleteError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TogetherError,
    UnprocessableEntityError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "EXCERPT_LIMIT",
    "Decision",
    "RequestSpec",
    "RetryMode",
    "TimeoutKind",
    "build_request",
    "connection_error",
    "decide",
    "download_failure",
    "error_from_response",
    "error_message",
    "excerpt",
    "is_accepted",
    "parse_retry_after",
    "path_segment",
    "request_id",
    "retry_delay",
    "should_retry_header",
]

RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: Statuses with which the server says it rejected a create without acting on it.
CREATE_REJECTED_STATUSES = frozenset({429, 503})
#: Transport failures that provably happened before any request byte reached the server.
PRE_SEND_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
EXCERPT_LIMIT = 200

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


class RetryMode(enum.Enum):
    """How a failed request may be repeated."""

    #: Repeating it cannot do harm (reads, deletes, cancel, PUT of the same bytes, preprocess).
    IDEMPOTENT = "idempotent"
    #: It creates a billable resource: re-send only when the server provably never acted on it;
    #: after an ambiguous failure the shell must first look for what the lost request created.
    CREATE = "create"


class TimeoutKind(enum.Enum):
    API = "api"
    TRANSFER = "transfer"


@dataclass(frozen=True)
class RequestSpec:
    """One logical API call, independent of the attempt that sends it.

    :param path: path below ``base_url`` (e.g. ``/batches``); ignored when ``url`` is given.
    :param url: absolute URL (the presigned upload target); sent without the Authorization header.
    :param body: factory for a streamed body, called once per attempt so a retry re-opens the file.
    :param no_retry: statuses that are answers, not glitches, for this call (e.g. the upload 409).
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json_body: Any = None
    form: Mapping[str, str] | None = None
    body: Callable[[], Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    timeout: TimeoutKind = TimeoutKind.API
    retry: RetryMode = RetryMode.IDEMPOTENT
    accept_redirect: bool = False
    no_retry: frozenset[int] = frozenset()

    @property
    def where(self) -> str:
        """The path as it may appear in messages and logs (never a presigned query string)."""
        if self.url is not None:
            return httpx.URL(self.url).path
        return self.path


@dataclass(frozen=True)
class Decision:
    """What to do after one attempt.

    ``error`` is None when the attempt succeeded. ``check_created`` means the request may have
    been acted on although it failed: look for its result before re-sending or raising.
    """

    error: TogetherError | None = None
    retry: bool = False
    delay: float = 0.0
    check_created: bool = False
    reason: str = ""


def path_segment(value: str) -> str:
    """Quote an id for use as one path segment (ids come from the API, but never trust them)."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


def _timeout(settings: ClientSettings, kind: TimeoutKind) -> httpx.Timeout:
    if kind is TimeoutKind.TRANSFER:
        return httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.upload_timeout,
            write=settings.upload_timeout,
            pool=settings.timeout,
        )
    return settings.httpx_timeout()


def build_request(settings: ClientSettings, spec: RequestSpec) -> httpx.Request:
    """Build the :class:`httpx.Request` for one attempt of ``spec`` (pure; calls ``spec.body``)."""
    headers = {"User-Agent": settings.user_agent, "Accept": "application/json"}
    if spec.url is None:
        url = settings.base_url + spec.path
        headers.update(settings.auth_headers())
    else:
        url = spec.url
    headers.update(spec.headers)
    content = spec.body() if spec.body is not None else None
    return httpx.Request(
        spec.method,
        url,
        params=spec.params,
        headers=headers,
        json=spec.json_body,
        data=spec.form,
        content=content,
        extensions={"timeout": _timeout(settings, spec.timeout).as_dict()},
    )


def is_accepted(spec: RequestSpec, status: int) -> bool:
    return 200 <= status < 300 or (spec.accept_redirect and 300 <= status < 400)


def request_id(headers: Mapping[str, str]) -> str | None:
    """The id to quote to support: ``x-request-id``, else Cloudflare's ``cf-ray``."""
    return headers.get("x-request-id") or headers.get("cf-ray") or None


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    """The server's explicit verdict from ``x-should-retry``, or None when it gives none."""
    value = (headers.get("x-should-retry") or "").strip().lower()
    return {"true": True, "false": False}.get(value)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, then ``Retry-After`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - (time.time() if now is None else now)


def retry_delay(
    settings: ClientSettings,
    attempt: int,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt + 1`` (``attempt`` counts from 0).

    A server-requested wait is honoured when 0 < wait ≤ ``max_retry_after``; otherwise the delay is
    ``retry_base_delay * 2**attempt`` capped at ``retry_max_delay``, scaled by a jitter in [0.75, 1.0].
    """
    asked = parse_retry_after(headers or {}, now)
    if asked is not None and 0 < asked <= settings.max_retry_after:
        return asked
    backoff = min(settings.retry_base_delay * 2**attempt, settings.retry_max_delay)
    return backoff * (1.0 - 0.25 * rand())


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """A one-line, tag-free excerpt of at most ``limit`` characters."""
    flat = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _decode_body(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def error_message(content: bytes, status: int) -> tuple[str, Any]:
    """Message and parsed body of an error answer, for both error shapes and non-JSON bodies."""
    data = _decode_body(content)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str) and err:
            return excerpt(err), data
        if isinstance(err, dict) and err.get("message"):
            return excerpt(str(err["message"])), data
        for key in ("message", "detail"):
            if isinstance(data.get(key), str) and data[key]:
                return excerpt(data[key]), data
        return excerpt(json.dumps(data)), data
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return httpx.codes.get_reason_phrase(status) or "no body", None
    return excerpt(text), excerpt(text)


_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def _redact(text: str, secret: str | None) -> str:
    """``text`` without the key: as written, in the escaped forms a ``repr`` of a str or of bytes
    gives it (a key with a stray newline is quoted as ``b'Bearer key\\n'`` by h11), stripped, and
    any ``Bearer`` token at all."""
    if secret:
        forms = {secret, secret.strip(), repr(secret)[1:-1], repr(secret.encode(errors="replace"))[2:-1]}
        for form in sorted((f for f in forms if f), key=len, reverse=True):
            text = text.replace(form, "[redacted]")
    return _BEARER.sub(r"\1[redacted]", text)


def error_from_response(
    spec: RequestSpec,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    attempts: int = 1,
    secret: str | None = None,
) -> APIStatusError:
    """The typed error for a non-accepted answer (the key is redacted from the whole body first,
    so an excerpt can never keep a cut-off piece of it)."""
    if secret:
        content = content.replace(secret.encode(), b"[redacted]")
    message, body = error_message(content, status)
    cls = _STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(
        spec.method,
        spec.where,
        status,
        message,
        request_id=request_id(headers),
        body=body,
        attempts=attempts,
    )


def connection_error(
    spec: RequestSpec, exc: Exception, *, attempts: int = 1, secret: str | None = None
) -> APIConnectionError:
    """Re-wrap a transport failure with only the method, path and a short reason."""
    reason = type(exc).__name__
    detail = excerpt(_redact(str(exc), secret), 120)
    if detail:
        reason = f"{reason}: {detail}"
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(spec.method, spec.where, reason, attempts=attempts)


def download_failure(spec: RequestSpec, response: httpx.Response, exc: Exception | None) -> Exception | None:
    """After streaming a body: the error to report, if the body is short of its Content-Length."""
    expected = response.headers.get("content-length")
    received = response.num_bytes_downloaded
    if expected is not None and expected.isdigit() and received < int(expected):
        return DownloadIncompleteError(spec.where, int(expected), received)
    return exc


@dataclass(frozen=True)
class _Verdict:
    retryable: bool
    check_created: bool = False


def _status_verdict(spec: RequestSpec, status: int, headers: Mapping[str, str]) -> _Verdict:
    told = should_retry_header(headers)
    if told is False:
        return _Verdict(False)
    if told is None and (status in spec.no_retry or not (status in RETRYABLE_STATUSES or status >= 500)):
        return _Verdict(False)
    if spec.retry is RetryMode.CREATE and status not in CREATE_REJECTED_STATUSES:
        return _Verdict(True, check_created=True)
    return _Verdict(True)


def _exc_verdict(spec: RequestSpec, exc: Exception) -> _Verdict:
    if spec.retry is RetryMode.CREATE and not isinstance(exc, PRE_SEND_ERRORS):
        return _Verdict(True, check_created=True)
    return _Verdict(True)


def decide(
    settings: ClientSettings,
    spec: RequestSpec,
    attempt: int,
    *,
    response: httpx.Response | None = None,
    exc: Exception | None = None,
    now: float | None = None,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Decide what follows attempt number ``attempt`` (from 0) of ``spec``.

    Pass either the answer (its body already read) or the exception the attempt raised
    (an :class:`httpx.TransportError` or a :class:`DownloadIncompleteError`).
    """
    secret = settings.api_key.get_secret_value()
    attempts = attempt + 1
    headers: Mapping[str, str] = {}
    if exc is not None:
        verdict = _exc_verdict(spec, exc)
        error: TogetherError = (
            exc
            if isinstance(exc, DownloadIncompleteError)
            else connection_error(spec, exc, attempts=attempts, secret=secret)
        )
        reason = type(exc).__name__
    elif response is not None:
        if is_accepted(spec, response.status_code):
            return Decision()
        headers = response.headers
        verdict = _status_verdict(spec, response.status_code, headers)
        error = error_from_response(
            spec, response.status_code, headers, response.content, attempts=attempts, secret=secret
        )
        reason = f"HTTP {response.status_code}"
    else:
        raise ValueError("decide() needs a response or an exception")
    retry = verdict.retryable and attempt < settings.max_retries
    # An ambiguous create waits before looking, so a request still in flight at the server can land.
    wait = retry or verdict.check_created
    delay = retry_delay(settings, attempt, headers, now=now, rand=rand) if wait else 0.0
    return Decision(error, retry, delay, verdict.check_created, reason)
