"""Fixtures for the client tests: both client flavours behind one calling convention.

Every test that takes ``flavour`` runs once with :class:`TogetherClient` and once with
:class:`AsyncTogetherClient`; ``await call(client.batches.retrieve(...))`` works for both.
"""

from __future__ import annotations

import asyncio
import inspect
import time
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
    """``make_client(base_url, transport=None, real_sleep=False, **settings)`` → a client of the
    current flavour; it sleeps through ``sleeps`` (recording, not waiting) unless ``real_sleep``."""
    opened: list[Any] = []

    def factory(
        base_url: str, transport: httpx.BaseTransport | None = None, *, real_sleep: bool = False, **fields: Any
    ) -> Any:
        settings = ClientSettings(api_key=fields.pop("api_key", API_KEY), base_url=base_url, **fields)
        if flavour == "sync":
            http = httpx.Client(transport=transport) if transport is not None else None
            sleep: Any = time.sleep if real_sleep else sleeps
            client: Any = TogetherClient(settings, http_client=http, sleep=sleep)
        else:
            ahttp = httpx.AsyncClient(transport=transport) if transport is not None else None  # type: ignore[arg-type]
            asleep: Any = asyncio.sleep if real_sleep else sleeps
            client = AsyncTogetherClient(settings, http_client=ahttp, sleep=asleep)
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


@pytest.fixture(scope="session")
def local_server() -> Any:
    """One local Together-compatible server for the session, with fast batch timings."""
    from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig

    config = ServerConfig(api_key=API_KEY, validating_seconds=0.05, processing_seconds=0.2, cancel_seconds=0.05)
    with LocalTogetherServer(config) as server:
        yield server


@pytest.fixture
def server(local_server: Any) -> Any:
    """The session server, emptied, with its start-up configuration and no faults."""
    local_server.reset()
    local_server.restore_defaults()
    yield local_server
    local_server.clear_faults()
