"""Fixtures for the client tests: both client flavours behind one calling convention.

Every test that takes ``flavour`` runs once with :class:`TogetherClient` and once with
:class:`AsyncTogetherClient`; ``await call(client.batches.retrieve(...))`` works for both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client import AsyncTogetherClient, ClientSettings, TogetherClient

API_KEY = "sk-test-client-key-6f1d2c"


async def call(value: Any) -> Any:
    """Await ``value`` when the async client produced it; pass sync results through."""
    return await value if inspect.isawaitable(value) else value


class SleepRecorder:
    """Stands in for ``time.sleep`` / ``asyncio.sleep``: records delays, never waits."""

    def __init__(self, is_async: bool) -> None:
        self.delays: list[float] = []
        self._async = is_async

    def __call__(self, delay: float) -> Any:
        self.delays.append(delay)
        if self._async:
            return _done()
        return None


async def _done() -> None:
    return None


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sleeps(flavour: str) -> SleepRecorder:
    return SleepRecorder(flavour == "async")


ClientFactory = Callable[..., Any]


@pytest.fixture
async def make_client(flavour: str, sleeps: SleepRecorder) -> Any:
    """``make_client(base_url, transport=None, **settings)`` → a client of the current flavour."""
    opened: list[Any] = []

    def factory(base_url: str, transport: httpx.BaseTransport | None = None, **fields: Any) -> Any:
        settings = ClientSettings(api_key=API_KEY, base_url=base_url, **fields)
        if flavour == "sync":
            http = httpx.Client(transport=transport) if transport is not None else None
            client: Any = TogetherClient(settings, http_client=http, sleep=sleeps)
        else:
            ahttp = httpx.AsyncClient(transport=transport) if transport is not None else None  # type: ignore[arg-type]
            client = AsyncTogetherClient(settings, http_client=ahttp, sleep=sleeps)
        opened.append((client, transport is not None))
        return client

    yield factory
    for client, external in opened:
        http = client._http
        if isinstance(client, TogetherClient):
            client.close()
            if external:
                http.close()
        else:
            await client.aclose()
            if external:
                await http.aclose()
