"""A thousand triggers share one event loop: a polling round of all of them is not serialised.

The precise figures (and the blocking baseline) are in ``tests/benchmarks/test_trigger_bench.py``;
this functional check uses a bound that still fails for any serial poller (100 s here) but
tolerates a loaded CI machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_batch.events import BatchEvent, EventStatus
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

N_TRIGGERS = 1000
N_BATCHES = 20
LATENCY_S = 0.1
SERIAL_S = N_TRIGGERS * LATENCY_S


async def _first_event(trigger: TogetherBatchTrigger) -> BatchEvent:
    async for event in trigger.run():
        return BatchEvent.from_payload(event.payload)
    raise AssertionError("trigger ended without an event")


@pytest.mark.timeout(180)
async def test_one_round_of_1000_triggers_is_concurrent(
    together_conn: str, together_server: Any, make_batch: Any
) -> None:
    ids = [make_batch(1) for _ in range(N_BATCHES)]
    while any(b["status"] != "COMPLETED" for b in together_server.batches()):
        await asyncio.sleep(0.05)
    triggers = [TogetherBatchTrigger(batch_ids=[ids[i % N_BATCHES]], poll_interval=3600) for i in range(N_TRIGGERS)]
    try:
        await asyncio.gather(*(t._get_client() for t in triggers))  # triggerer start-up, not a round
        together_server.configure(latency_ms=LATENCY_S * 1000)
        before = together_server.stats()["requests"].get("GET /v1/batches/{id}", 0)
        started = time.perf_counter()
        events = await asyncio.gather(*(_first_event(t) for t in triggers))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(t.cleanup() for t in triggers))

    assert [e.status for e in events] == [EventStatus.COMPLETED] * N_TRIGGERS
    assert together_server.stats()["requests"]["GET /v1/batches/{id}"] - before == N_TRIGGERS
    print(f"\n{N_TRIGGERS} triggers, one polling round at {LATENCY_S * 1000:.0f} ms latency: {elapsed:.2f} s")
    assert elapsed < SERIAL_S / 10
