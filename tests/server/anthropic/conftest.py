"""Fixtures of the Anthropic emulation tests: the local server speaking Anthropic
(``anthropic_server`` from the provider's pytest plugin), requests, and polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import poll_status

MODEL = "claude-haiku-4-5"
VERSION = "2023-06-01"


def request(custom_id: str, text: str, model: str = MODEL, **params: Any) -> dict[str, Any]:
    """One entry of a create's ``requests``."""
    body = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": text}], **params}
    return {"custom_id": custom_id, "params": {k: v for k, v in body.items() if v is not None}}


def poll(
    read: Callable[[], Any], until: Iterable[str] = ("ended",), timeout: float = 20.0
) -> tuple[Any, list[str]]:
    """Read a batch (SDK object or JSON) until its ``processing_status`` is in ``until``; returns it
    and the statuses seen, in order."""

    def status(batch: Any) -> str:
        return str(batch["processing_status"] if isinstance(batch, dict) else batch.processing_status)

    return poll_status(read, status, until, timeout)


def wait_for_progress(
    server: LocalTogetherServer, batch_id: str, share: float, timeout: float = 10.0
) -> None:
    """Wait until the server has answered ``share`` of the batch's requests (it shows nothing of it:
    Anthropic's counts move only when the batch ends)."""
    record = server.controller.store.get_batch(batch_id)
    assert record is not None
    give_up = time.monotonic() + timeout
    while record.fraction_done(time.time()) < share:
        assert time.monotonic() < give_up, f"batch {batch_id} did not reach {share:.0%}"
        time.sleep(0.02)


@pytest.fixture
def server(anthropic_server: LocalTogetherServer) -> LocalTogetherServer:
    return anthropic_server


@pytest.fixture
def http(server: LocalTogetherServer) -> Iterator[httpx.Client]:
    """A plain HTTP client that authenticates as the provider's client does (``x-api-key``)."""
    headers = {"x-api-key": server.api_key, "anthropic-version": VERSION}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client
