"""Fixtures for the client tests: both client flavours behind one calling convention.

Every test that takes ``flavour`` runs once with :class:`TogetherClient` and once with
:class:`AsyncTogetherClient`; ``await call(client.batches.retrieve(...))`` (from ``helpers``)
works for both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client import AsyncTogetherClient, ClientSettings, TogetherClient
from tests.client.helpers import API_KEY, SleepRecorder


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
        base_url: str,
        transport: httpx.BaseTransport | None = None,
        *,
        real_sleep: bool = False,
        **fields: Any,
    ) -> Any:
        settings = ClientSettings(api_key=fields.pop("api_key", API_KEY), base_url=base_url, **fields)
        if flavour == "sync":
            http = httpx.Client(transport=transport) if transport is not None else None
            sleep: Any = time.sleep if real_sleep else sleeps
            client: Any = TogetherClient(settings, http_client=http, sleep=sleep)
        else:
            atransport: Any = transport
            ahttp = httpx.AsyncClient(transport=atransport) if transport is not None else None
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


@pytest.fixture
def server(together_server: Any) -> Any:
    """The local Together-compatible server (the provider's own pytest fixture), emptied per test."""
    return together_server


@pytest.fixture
def connect(server: Any, make_client: Any) -> Any:
    """``connect(transport=None, **settings)`` → a client of the current flavour for ``server``."""

    def factory(transport: Any = None, **fields: Any) -> Any:
        return make_client(server.base_url, transport, **{"api_key": server.api_key, **fields})

    return factory
