"""The API key never escapes: every error path of both clients, checked in every place an operator
or a log shipper could see it.

Places checked: ``str``/``repr`` of the exception, ``traceback.format_exception`` (with the cause
chain) and a traceback that captures every frame's locals (as error trackers do), the reprs and
dumps of the client and its settings, and every log record at DEBUG, httpx and httpcore included.
httpx logs one INFO line per request (method, URL, status) and httpcore logs DEBUG trace events
that name the request method only; neither logs header values, and the key only travels in the
Authorization header (never in a URL), so neither can leak it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    DownloadIncompleteError,
    InternalServerError,
    NotFoundError,
    ResponseValidationError,
)
from tests.client.helpers import call
from tests.reliability.leaks import SECRET, assert_not_leaked, leaks_in

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def server(together_server: Any) -> Any:
    """The local server, accepting :data:`SECRET` for the length of one test."""
    original = together_server.config.api_key
    together_server.configure(api_key=SECRET)
    yield together_server
    together_server.configure(api_key=original)


@pytest.fixture
def client_at(make_client: Any) -> Callable[..., Any]:
    def factory(base_url: str, **fields: Any) -> Any:
        return make_client(base_url, **{"api_key": SECRET, "timeout": 2.0, "max_retries": 1, **fields})

    return factory


async def raised(thunk: Callable[[], Any], expected: type[BaseException]) -> Any:
    with pytest.raises(expected) as info:
        await call(thunk())
    return info.value


def assert_client_hides_key(client: Any, caplog: pytest.LogCaptureFixture, exc: BaseException) -> None:
    settings = client.settings
    views = {
        "repr(client)": repr(client),
        "str(client)": str(client),
        "repr(settings)": repr(settings),
        "str(settings)": str(settings),
        "settings.model_dump()": str(settings.model_dump()),
        "settings.model_dump_json()": settings.model_dump_json(),
    }
    assert {where: text for where, text in views.items() if leaks_in(text)} == {}
    assert_not_leaked(exc, caplog)
    assert caplog.records, "DEBUG capture is on, so the call must have logged something"


async def test_401(together_server, client_at, debug_logs) -> None:
    client = client_at(together_server.base_url)  # the server expects its own key, not SECRET
    exc = await raised(lambda: client.batches.list(), AuthenticationError)
    assert exc.status_code == 401
    assert_client_hides_key(client, debug_logs, exc)


async def test_404(server, client_at, debug_logs) -> None:
    client = client_at(server.base_url)
    exc = await raised(lambda: client.batches.retrieve("batch-does-not-exist"), NotFoundError)
    assert exc.status_code == 404
    assert_client_hides_key(client, debug_logs, exc)


async def test_500_five_times(server, client_at, sleeps, debug_logs) -> None:
    server.inject("GET /v1/batches/{id}", "500", times=5)
    client = client_at(server.base_url, max_retries=4)
    exc = await raised(lambda: client.batches.retrieve("any"), InternalServerError)
    assert exc.attempts == 5 and len(sleeps.delays) == 4
    assert server.stats()["faults_injected"] == {"500": 5}
    retry_lines = [r for r in debug_logs.records if r.name == "airflow_provider_batch.client"]
    assert len(retry_lines) == 4
    assert_client_hides_key(client, debug_logs, exc)


async def test_transport_failure(client_at, debug_logs) -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_at(f"http://127.0.0.1:{port}/v1")
    exc = await raised(lambda: client.files.list(), APIConnectionError)
    assert "ConnectError" in str(exc) and exc.attempts == 2
    assert_client_hides_key(client, debug_logs, exc)


async def test_timeout(server, client_at, debug_logs) -> None:
    server.inject("GET /v1/batches", "stall", times=1, seconds=1.0)
    client = client_at(server.base_url, timeout=0.2, max_retries=0)
    exc = await raised(lambda: client.batches.list(), APITimeoutError)
    assert "ReadTimeout" in str(exc)
    assert_client_hides_key(client, debug_logs, exc)


async def test_validation_error(hostile, client_at, debug_logs) -> None:
    client = client_at(hostile.url("missing-id"))
    exc = await raised(lambda: client.batches.retrieve("b-1"), ResponseValidationError)
    assert hostile.requests_for("missing-id")[0].authorization == f"Bearer {SECRET}"
    assert_client_hides_key(client, debug_logs, exc)


async def test_download_incomplete(server, client_at, tmp_path: Path, debug_logs) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"custom_id": "c{n}", "body": {{}}}}\n' for n in range(2000)))
    client = client_at(server.base_url)
    uploaded = await call(client.files.upload(source))
    server.inject("GET /v1/files/{id}/content", "truncate", times=2)
    dest = tmp_path / "copy.jsonl"
    exc = await raised(lambda: client.files.content(uploaded.id, dest), DownloadIncompleteError)
    assert exc.received < exc.expected and not dest.exists()
    assert_client_hides_key(client, debug_logs, exc)


async def test_key_with_a_stray_newline_works(server, client_at, debug_logs) -> None:
    """A key pasted with its trailing newline is stripped, so the call goes through."""
    client = client_at(server.base_url, api_key=SECRET + "\n", max_retries=0)
    with pytest.raises(NotFoundError) as info:
        await call(client.batches.retrieve("batch-does-not-exist"))
    assert_client_hides_key(client, debug_logs, info.value)


@pytest.mark.parametrize(
    "bad", [SECRET[:6] + "\n" + SECRET[6:], SECRET + "\u00e9", SECRET[:4] + " " + SECRET[4:]]
)
def test_key_a_header_cannot_carry_is_refused_without_quoting_it(bad: str) -> None:
    """h11 would refuse the header and quote it, key included, in its error and debug log: the
    settings refuse such a key first, naming the character's position only."""
    from pydantic import ValidationError

    from airflow_provider_batch.client import ClientSettings

    with pytest.raises(ValidationError) as info:
        ClientSettings(api_key=bad)
    text = str(info.value)
    assert "cannot carry" in text and "character" in text
    assert not leaks_in(text)
