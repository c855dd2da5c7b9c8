"""Fixtures for the Airflow-facing tests: connections to the local server, inputs, batches, DB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import ClientSettings, TogetherClient

from apb_airflow_helpers import set_connection, write_input


@pytest.fixture
def together_conn(monkeypatch: pytest.MonkeyPatch, together_server: Any) -> str:
    """``together_default`` pointing at the local server, without client-side retries, so every
    injected fault reaches the code under test."""
    return set_connection(monkeypatch, together_server, max_retries=0, poll_interval=0.05)


@pytest.fixture
def sync_client(together_server: Any) -> Iterator[TogetherClient]:
    settings = ClientSettings(
        api_key=together_server.api_key, base_url=together_server.base_url, max_retries=0
    )
    with TogetherClient(settings) as client:
        yield client


@pytest.fixture
def make_batch(tmp_path: Path, sync_client: TogetherClient):  # type: ignore[no-untyped-def]
    """Upload a distinct input and create a batch on it; returns the batch id."""
    counter = iter(range(10_000))

    def _make(lines: int = 2) -> str:
        n = next(counter)
        path = write_input(tmp_path / f"in-{n}.jsonl", lines, tag=f"-{n}")
        uploaded = sync_client.files.upload(path, purpose="batch-api")
        return sync_client.batches.create(uploaded.id, "/v1/chat/completions").job.id

    return _make


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the SQLite metadata DB of the test AIRFLOW_HOME once per session."""
    from airflow.utils import db

    db.initdb()
