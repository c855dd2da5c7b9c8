"""TogetherBatchHook: connection -> ClientSettings, console URLs, prices, secret masking."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import Connection

from airflow_provider_batch.client import DEFAULT_BASE_URL
from airflow_provider_batch.hooks.together import TogetherBatchHook, console_url_for

from apb_airflow_helpers import write_input


@pytest.fixture
def vendor_server(together_server: Any) -> Any:
    """Together's hook: ``make_batch`` creates its batches on Together's server."""
    return together_server


KEY = "tk-hook-secret-0123456789"


def _conn(host: str | None = None, port: int | None = None, **extra: object) -> Connection:
    return Connection(
        conn_id="together_test",
        conn_type="together",
        host=host,
        port=port,
        password=KEY,
        extra=json.dumps(extra) if extra else None,
    )


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, DEFAULT_BASE_URL),
        ("", None, DEFAULT_BASE_URL),
        ("api.together.ai", None, "https://api.together.ai/v1"),
        ("127.0.0.1", 8765, "https://127.0.0.1:8765/v1"),
        ("http://127.0.0.1:8765/v1", None, "http://127.0.0.1:8765/v1"),
        ("http://127.0.0.1:8765/v1/", None, "http://127.0.0.1:8765/v1"),
        ("https://proxy.example/", None, "https://proxy.example/v1"),
        ("https://proxy.example/together/v1", None, "https://proxy.example/together/v1"),
    ],
)
def test_base_url_from_host(host: str | None, port: int | None, expected: str) -> None:
    assert TogetherBatchHook.settings_from_connection(_conn(host, port)).base_url == expected


def test_extras_are_parsed() -> None:
    settings = TogetherBatchHook.settings_from_connection(_conn(timeout="12.5", max_retries=2))
    assert (settings.timeout, settings.max_retries, settings.verify) == (12.5, 2, True)
    assert settings.api_key.get_secret_value() == KEY
    assert KEY not in repr(settings)


def test_upload_timeout_and_retry_cap_extras() -> None:
    settings = TogetherBatchHook.settings_from_connection(_conn(upload_timeout="3", retry_max_delay=1.5))
    assert (settings.upload_timeout, settings.retry_max_delay) == (3.0, 1.5)
    defaults = TogetherBatchHook.settings_from_connection(_conn())
    assert (defaults.upload_timeout, defaults.retry_max_delay) == (600.0, 8.0)


@pytest.mark.parametrize("value", [False, "false", "False", "0", "no"])
def test_tls_off_only_explicitly_and_with_a_warning(value: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.hooks.together"):
        settings = TogetherBatchHook.settings_from_connection(_conn(verify_tls=value))
    assert settings.verify is False
    assert any("TLS certificate verification is OFF" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("extra", [{}, {"verify_tls": True}, {"verify_tls": "true"}])
def test_tls_on_by_default(extra: dict[str, object]) -> None:
    assert TogetherBatchHook.settings_from_connection(_conn(**extra)).verify is True


def test_missing_key_is_refused() -> None:
    conn = Connection(conn_id="x", conn_type="together", host="api.together.ai")
    with pytest.raises(ValueError, match="no API key"):
        TogetherBatchHook.settings_from_connection(conn)


def test_key_is_registered_with_the_secrets_masker() -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    TogetherBatchHook.settings_from_connection(_conn())
    assert KEY not in str(redact(f"header Authorization: Bearer {KEY}"))


@pytest.mark.parametrize(
    ("base_url", "template", "expected"),
    [
        ("https://api.together.ai/v1", None, "https://api.together.ai/batches/b-1"),
        ("http://127.0.0.1:9/v1", None, "http://127.0.0.1:9/batches/b-1"),
        ("https://proxy/x", None, "https://proxy/x/batches/b-1"),
        ("https://api.together.ai/v1", "https://console/{batch_id}/view", "https://console/b-1/view"),
    ],
)
def test_console_url_for(base_url: str, template: str | None, expected: str) -> None:
    assert console_url_for(base_url, "b-1", template) == expected


def test_connection_derived_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "together",
        "password": KEY,
        "host": "http://127.0.0.1:1/v1",
        "extra": {
            "console_url_template": "https://ui.example/b/{batch_id}",
            "poll_interval": "7",
            "price_table": json.dumps({"models": {"m/x": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}),
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_HOOKTEST", json.dumps(conn))
    hook = TogetherBatchHook("together_hooktest")
    assert hook.console_url("b-9") == "https://ui.example/b/b-9"
    assert hook.poll_interval() == 7.0
    prices = hook.price_table()
    assert prices.price("m/x").output_per_1m == 2.0
    assert prices.price("meta-llama/Llama-3.3-70B-Instruct-Turbo") is not None  # defaults kept


async def test_async_lookup_does_not_use_the_sync_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOGETHER_ASYNCTEST", json.dumps({"conn_type": "together", "password": KEY})
    )

    def _forbidden(*_: object, **__: object) -> None:
        raise AssertionError("sync connection lookup inside the event loop")

    monkeypatch.setattr(TogetherBatchHook, "get_connection", classmethod(_forbidden))
    hook = TogetherBatchHook("together_asynctest")
    conn = await hook.aconnection()
    assert conn.password == KEY


def test_test_connection_reads_the_batch_list(together_conn: str, make_batch: object) -> None:
    hook = TogetherBatchHook(together_conn)
    assert hook.test_connection() == (True, "Connected; the account has no batches yet.")
    make_batch()  # type: ignore[operator]
    assert hook.test_connection() == (True, "Connected; batches are visible.")


def test_test_connection_costs_the_same_on_an_account_of_125000_files(
    together_conn: str, together_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """125,000 files and 41,666 batches: the batch list alone is 23 MB. The Test button reads its
    first chunk and hangs up."""
    together_server.controller.store.seed_history(125_000)
    received: list[int] = []
    iter_bytes = httpx.Response.iter_bytes

    def counted(response: httpx.Response, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for chunk in iter_bytes(response, *args, **kwargs):
            received.append(len(chunk))
            yield chunk

    monkeypatch.setattr(httpx.Response, "iter_bytes", counted)
    started = time.perf_counter()
    assert TogetherBatchHook(together_conn).test_connection() == (True, "Connected; batches are visible.")
    assert sum(received) < 256 * 1024, f"read {sum(received)} bytes of the batch list"
    assert time.perf_counter() - started < 30  # a guard against a hang, not a timing


def test_delete_files_is_best_effort(together_conn: str, sync_client: Any, tmp_path: Path) -> None:
    paths = [write_input(tmp_path / f"in-{n}.jsonl", 1, tag=f"-{n}") for n in range(2)]
    ids = [sync_client.files.upload(path).id for path in paths]
    report = TogetherBatchHook(together_conn).delete_files([*ids, ids[0], "file-unknown"])
    assert (report.deleted, report.missing, report.failed, report.ok) == (ids, ["file-unknown"], {}, True)
    assert [f.id for f in sync_client.files.iter()] == []


def test_test_connection_reports_a_wrong_key(
    monkeypatch: pytest.MonkeyPatch, together_server: object
) -> None:
    base_url = together_server.base_url  # type: ignore[attr-defined]
    conn = {"conn_type": "together", "password": "wrong-key", "host": base_url}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_WRONG", json.dumps(conn))
    ok, message = TogetherBatchHook("together_wrong").test_connection()
    assert not ok and "AuthenticationError" in message and "HTTP 401" in message
    assert "wrong-key" not in message
