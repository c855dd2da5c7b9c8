"""A trigger's HTTP connection outlives the idle poll interval, so the next round reuses it.

httpx drops idle connections after 5 s by default; a trigger polling every 6 s must still send its
next poll over the same TCP connection (seen from the kernel's socket table, not from httpx).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.hooks._client_pool import KEEPALIVE_CAP_S, polling_limits
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger


@pytest.fixture
def vendor_server(together_server: Any) -> Any:
    """Not parametrised over vendors: ``make_batch`` creates its batches on Together's server."""
    return together_server


GAP_S = 6.0
_ESTABLISHED = "01"


def _client_ports(server_port: int) -> set[int]:
    """Local ports of this host's established IPv4 connections to ``server_port`` on loopback."""
    ports: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == _ESTABLISHED and int(remote.split(":")[1], 16) == server_port:
            ports.add(int(local.split(":")[1], 16))
    return ports


async def _poll_once(trigger: TogetherBatchTrigger) -> str:
    async for event in trigger.run():
        return str(event.payload["status"])
    raise AssertionError("trigger ended without an event")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
async def test_next_round_reuses_the_connection_after_a_poll_interval(
    together_conn: str, together_server: Any, make_batch: Any
) -> None:
    batch_id = make_batch(1)
    while together_server.batches()[0]["status"] != "COMPLETED":
        await asyncio.sleep(0.05)
    trigger = TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=GAP_S)
    others = _client_ports(together_server.port)
    try:
        assert await _poll_once(trigger) == "completed"
        first = _client_ports(together_server.port) - others
        await asyncio.sleep(GAP_S)
        assert await _poll_once(trigger) == "completed"
        second = _client_ports(together_server.port) - others
    finally:
        await trigger.cleanup()
    assert len(first) == 1
    assert second == first


@pytest.mark.parametrize(
    ("poll_interval", "expiry"),
    [(None, httpx.Limits().keepalive_expiry), (0.05, 10.05), (30.0, 40.0), (3600.0, KEEPALIVE_CAP_S)],
)
def test_keepalive_expiry_follows_the_poll_interval(poll_interval: float | None, expiry: float) -> None:
    assert polling_limits(poll_interval).keepalive_expiry == pytest.approx(expiry)
