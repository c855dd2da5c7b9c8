"""Pure-function tests of the client core: request building, retry decisions, delays, error mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client._base import resolve_settings
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
    UnprocessableEntityError,
)

KEY = "sk-core-secret-0123456789"
SETTINGS = ClientSettings(
    api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=3, retry_base_delay=0.5, retry_max_delay=8.0
)
GET = core.RequestSpec("GET", "/batches/b-1")
CREATE = core.RequestSpec("POST", "/batches", json_body={"input_file_id": "f"}, retry=core.RetryMode.CREATE)
NOW = 1_800_000_000.0


def _response(status: int, headers: dict[str, str] | None = None, content: bytes = b"") -> httpx.Response:
    return httpx.Response(status, headers=headers, content=content, request=httpx.Request("GET", "http://x"))


# -- request building --------------------------------------------------------------------------


def test_build_request_joins_base_url_and_sets_auth_and_user_agent() -> None:
    request = core.build_request(SETTINGS, core.RequestSpec("POST", "/batches", json_body={"a": 1}))
    assert str(request.url) == "http://127.0.0.1:9/v1/batches"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == "airflow-provider-batch"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"a": 1}


def test_build_request_form_fields_are_urlencoded() -> None:
    spec = core.RequestSpec("POST", "/files", form={"purpose": "batch-api", "file_name": "a b.jsonl"})
    request = core.build_request(SETTINGS, spec)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == b"purpose=batch-api&file_name=a+b.jsonl"


def test_build_request_absolute_url_has_no_authorization() -> None:
    spec = core.RequestSpec(
        "PUT",
        "",
        url="http://store.local/up/f-1?sig=s3cret",
        body=lambda: iter([b"ab"]),
        headers={"Content-Length": "2"},
    )
    request = core.build_request(SETTINGS, spec)
    assert "authorization" not in request.headers
    assert request.headers["content-length"] == "2"
    assert "transfer-encoding" not in request.headers
    assert spec.where == "/up/f-1"  # never the presigned query string


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (core.TimeoutKind.API, {"connect": 10.0, "read": 60.0, "write": 60.0, "pool": 60.0}),
        (core.TimeoutKind.TRANSFER, {"connect": 10.0, "read": 600.0, "write": 600.0, "pool": 60.0}),
    ],
)
def test_build_request_has_explicit_split_timeout(kind: core.TimeoutKind, expected: dict[str, float]) -> None:
    request = core.build_request(SETTINGS, core.RequestSpec("GET", "/files", timeout=kind))
    assert request.extensions["timeout"] == expected


@pytest.mark.parametrize(("value", "quoted"), [("b-1", "b-1"), ("a/../b", "a%2F..%2Fb"), ("x y", "x%20y")])
def test_path_segment_quotes_ids(value: str, quoted: str) -> None:
    assert core.path_segment(value) == quoted


def test_path_segment_refuses_empty() -> None:
    with pytest.raises(ValueError):
        core.path_segment("")


# -- retry-after and delays --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW + 7, timezone.utc), usegmt=True)}, 7.0),
        ({"retry-after": "not a date"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert core.parse_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "headers", "rand", "expected"),
    [
        (0, {}, lambda: 0.0, 0.5),
        (1, {}, lambda: 0.0, 1.0),
        (3, {}, lambda: 0.0, 4.0),
        (10, {}, lambda: 0.0, 8.0),  # capped
        (1, {}, lambda: 1.0, 0.75),  # full jitter
        (0, {"retry-after": "2"}, lambda: 1.0, 2.0),  # server wait honoured, no jitter
        (0, {"retry-after": "60"}, lambda: 0.0, 60.0),  # exactly the cap
        (0, {"retry-after": "61"}, lambda: 0.0, 0.5),  # above the cap: backoff
        (0, {"retry-after": "0"}, lambda: 0.0, 0.5),
        (0, {"retry-after": "-3"}, lambda: 0.0, 0.5),
    ],
)
def test_retry_delay(attempt: int, headers: dict[str, str], rand, expected: float) -> None:
    assert core.retry_delay(SETTINGS, attempt, headers, now=NOW, rand=rand) == pytest.approx(expected)


def test_retry_delay_jitter_stays_in_range() -> None:
    delays = {core.retry_delay(SETTINGS, 2, {}) for _ in range(200)}
    assert all(1.5 <= d <= 2.0 for d in delays) and len(delays) > 1


# -- retry decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "retry"),
    [
        (200, {}, None),
        (400, {}, False),
        (401, {}, False),
        (404, {}, False),
        (408, {}, True),
        (409, {}, True),
        (422, {}, False),
        (429, {}, True),
        (500, {}, True),
        (502, {}, True),
        (503, {}, True),
        (504, {}, True),
        (500, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
        (429, {"x-should-retry": "FALSE"}, False),
    ],
)
def test_decide_on_status(status: int, headers: dict[str, str], retry: bool | None) -> None:
    decision = core.decide(SETTINGS, GET, 0, response=_response(status, headers))
    if retry is None:
        assert decision.error is None
    else:
        assert decision.retry is retry and decision.error is not None
        assert not decision.check_created


def test_decide_stops_when_budget_is_spent() -> None:
    assert core.decide(SETTINGS, GET, 2, response=_response(500)).retry
    last = core.decide(SETTINGS, GET, 3, response=_response(500))
    assert not last.retry and isinstance(last.error, InternalServerError) and last.error.attempts == 4


def test_decide_no_retry_statuses_are_answers() -> None:
    spec = core.RequestSpec("POST", "/files", no_retry=frozenset({409}))
    decision = core.decide(SETTINGS, spec, 0, response=_response(409, content=b'{"file_id": "f"}'))
    assert not decision.retry and isinstance(decision.error, ConflictError)


def test_decide_accepts_redirect_only_when_asked() -> None:
    assert core.decide(SETTINGS, GET, 0, response=_response(302)).error is not None
    spec = core.RequestSpec("POST", "/files", accept_redirect=True)
    assert core.decide(SETTINGS, spec, 0, response=_response(302)).error is None


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.ReadTimeout("timed out"), APITimeoutError),
        (httpx.RemoteProtocolError("peer closed"), APIConnectionError),
    ],
)
def test_decide_retries_transport_errors(exc: Exception, error_type: type) -> None:
    decision = core.decide(SETTINGS, GET, 0, exc=exc)
    assert decision.retry and type(decision.error) is error_type
    assert decision.reason == type(exc).__name__


@pytest.mark.parametrize(
    ("outcome", "retry", "check_created"),
    [
        (httpx.ConnectError("refused"), True, False),
        (httpx.ConnectTimeout("connect"), True, False),
        (httpx.PoolTimeout("pool"), True, False),
        (httpx.ReadTimeout("read"), True, True),
        (httpx.WriteTimeout("write"), True, True),
        (httpx.ReadError("reset"), True, True),
        (httpx.RemoteProtocolError("closed"), True, True),
        (429, True, False),
        (503, True, False),
        (500, True, True),
        (502, True, True),
        (504, True, True),
        (408, True, True),
        (400, False, False),
        (409, True, True),
    ],
)
def test_decide_for_create_only_resends_what_provably_did_not_land(
    outcome: object, retry: bool, check_created: bool
) -> None:
    if isinstance(outcome, int):
        decision = core.decide(SETTINGS, CREATE, 0, response=_response(outcome))
    else:
        decision = core.decide(SETTINGS, CREATE, 0, exc=outcome)  # type: ignore[arg-type]
    assert (decision.retry, decision.check_created) == (retry, check_created)


def test_decide_for_create_still_checks_when_budget_is_spent() -> None:
    decision = core.decide(SETTINGS, CREATE, 3, exc=httpx.ReadTimeout("read"))
    assert not decision.retry and decision.check_created


def test_decide_passes_download_incomplete_through() -> None:
    exc = DownloadIncompleteError("/files/f/content", 10, 4)
    decision = core.decide(SETTINGS, GET, 0, exc=exc)
    assert decision.retry and decision.error is exc


def test_decide_needs_an_outcome() -> None:
    with pytest.raises(ValueError):
        core.decide(SETTINGS, GET, 0)


# -- error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_error_class_by_status(status: int, cls: type) -> None:
    error = core.error_from_response(GET, status, {}, b"")
    assert type(error) is cls and error.status_code == status


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"error": "batch not found"}', "batch not found"),
        (b'{"error": {"message": "bad purpose", "type": "invalid_request_error"}}', "bad purpose"),
        (b'{"message": "plain message"}', "plain message"),
        (b'{"detail": "starlette detail"}', "starlette detail"),
        (b'{"other": 1}', '{"other": 1}'),
        (b"<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>", "502 Bad Gateway nginx"),
        (b"upstream exploded", "upstream exploded"),
        (b"", "Internal Server Error"),
    ],
)
def test_error_message_shapes(content: bytes, message: str) -> None:
    assert core.error_message(content, 500)[0] == message


def test_error_message_is_short_for_huge_bodies() -> None:
    message, body = core.error_message(b"<html>" + b"x" * 50_000 + b"</html>", 502)
    assert len(message) <= core.EXCERPT_LIMIT and message.endswith("…")
    assert len(body) <= core.EXCERPT_LIMIT


def test_error_names_method_path_status_and_request_id_but_never_the_key() -> None:
    content = json.dumps({"error": f"token {KEY} is bad"}).encode()
    error = core.error_from_response(GET, 401, {"x-request-id": "req-42"}, content, attempts=2, secret=KEY)
    text = str(error)
    assert "GET /batches/b-1" in text and "HTTP 401" in text and "req-42" in text and "2 attempt" in text
    assert KEY not in text and KEY not in repr(error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"x-request-id": "r-1", "cf-ray": "ray"}, "r-1"), ({"cf-ray": "8a-SJC"}, "8a-SJC"), ({}, None)],
)
def test_request_id(headers: dict[str, str], expected: str | None) -> None:
    assert core.request_id(httpx.Headers(headers)) == expected


def test_connection_error_keeps_only_method_path_reason() -> None:
    error = core.connection_error(GET, httpx.ConnectError(f"boom {KEY}"), attempts=5, secret=KEY)
    assert str(error).startswith("GET /batches/b-1 failed after 5 attempt(s): ConnectError")
    assert KEY not in str(error)


def test_download_failure_compares_with_content_length() -> None:
    short = httpx.Response(200, headers={"content-length": "10"}, stream=httpx.ByteStream(b"abcd"))
    short.read()
    error = core.download_failure(GET, short, None)
    assert isinstance(error, DownloadIncompleteError) and (error.expected, error.received) == (10, 4)
    full = httpx.Response(200, headers={"content-length": "4"}, stream=httpx.ByteStream(b"abcd"))
    full.read()
    assert core.download_failure(GET, full, None) is None
    unsized = httpx.Response(200, stream=httpx.ByteStream(b"abcd"))
    unsized.read()
    assert core.download_failure(GET, unsized, None) is None


# -- settings ----------------------------------------------------------------------------------


def test_resolve_settings_overrides_and_requires_a_key() -> None:
    with pytest.raises(ValueError):
        resolve_settings(None)
    settings = resolve_settings(SETTINGS, base_url="http://h/v1/")
    assert settings.base_url == "http://h/v1" and settings.max_retries == 3
    assert resolve_settings(SETTINGS) is SETTINGS
    assert KEY not in repr(resolve_settings(None, api_key=KEY))


def test_client_package_imports_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_batch.client; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
