"""Fixtures of the reliability tests: both client flavours (shared with ``tests/client``), the
hostile server, and DEBUG log capture on every logger (httpx and httpcore included)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.client.conftest import flavour, make_client, sleeps  # noqa: F401  (fixtures)
from tests.reliability.hostile import HostileServer
from tests.reliability.scenarios import BEHAVIOURS


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer(BEHAVIOURS).start()
    yield server
    server.stop()


@pytest.fixture
def hostile(hostile_server: HostileServer) -> HostileServer:
    """The hostile server with an empty request record."""
    hostile_server.seen.clear()
    return hostile_server


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG, so a header logged by httpx/httpcore would be seen."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "airflow_provider_batch"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog
