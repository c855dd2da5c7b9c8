"""Fixtures for the Airflow-facing tests: connections to the local server, inputs, batches, DB.

``vendor_conn``, ``vendor_client`` and ``make_batch`` follow ``vendor_server`` (tests/conftest.py):
a test using them runs once per vendor. ``together_conn`` and ``sync_client`` stay on Together, for
the tests of Together's own wire and connection form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import ClientSettings, TogetherClient
from airflow_provider_batch.vendors import vendor_named

from apb_airflow_helpers import set_connection, write_input


@pytest.fixture
def together_conn(monkeypatch: pytest.MonkeyPatch, together_server: Any) -> str:
    """``together_default`` pointing at the local server, without client-side retries, so every
    injected fault reaches the code under test."""
    return set_connection(monkeypatch, together_server, max_retries=0, poll_interval=0.05)


@pytest.fixture
def vendor_conn(monkeypatch: pytest.MonkeyPatch, vendor_server: Any) -> str:
    """``together_default`` of the vendor's type (``together`` or ``openai``) pointing at its local
    server, without client-side retries, so every injected fault reaches the code under test."""
    return set_connection(monkeypatch, vendor_server, max_retries=0, poll_interval=0.05)


@pytest.fixture
def sync_client(together_server: Any) -> Iterator[TogetherClient]:
    settings = ClientSettings(
        api_key=together_server.api_key, base_url=together_server.base_url, max_retries=0
    )
    with TogetherClient(settings) as client:
        yield client


@pytest.fixture
def vendor_client(vendor_server: Any) -> Iterator[Any]:
    """The vendor's neutral synchronous client (``files`` / ``batches``) on its local server."""
    settings = ClientSettings(api_key=vendor_server.api_key, base_url=vendor_server.base_url, max_retries=0)
    with vendor_named(vendor_server.vendor).client(settings) as client:
        yield client


@pytest.fixture
def make_batch(tmp_path: Path, vendor_server: Any, vendor_client: Any):  # type: ignore[no-untyped-def]
    """Upload a distinct input in the vendor's wire format and create a batch on it; returns the
    batch id."""
    counter = iter(range(10_000))
    vendor = vendor_named(vendor_server.vendor)
    endpoint = vendor.endpoints[0]

    def _make(lines: int = 2) -> str:
        n = next(counter)
        path = vendor.wire_input(write_input(tmp_path / f"in-{n}.jsonl", lines, tag=f"-{n}"), endpoint)
        uploaded = vendor_client.files.upload(path, purpose=vendor.upload_purpose)
        return str(vendor_client.batches.create(uploaded.id, endpoint).job.id)

    return _make


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the SQLite metadata DB of the test AIRFLOW_HOME once per session."""
    from airflow.utils import db

    db.initdb()
