"""A thousand triggers share one event loop: a polling round of all of them is not serialised.

The server runs in its own process (a thread in this one would fight the triggers for the GIL and
measure that instead). Precise figures and the blocking baseline are in
``tests/benchmarks/test_trigger_bench.py``; this check's bound still fails any serial poller
(100 s here) but tolerates a loaded CI machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_batch.client import ClientSettings, TogetherClient
from airflow_provider_batch.events import BatchEvent, EventStatus
from airflow_provider_batch.testing.server import ControlClient, server_process
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

from apb_airflow_helpers import write_input

N_TRIGGERS = 1000
N_BATCHES = 10
LATENCY_S = 0.1
SERIAL_S = N_TRIGGERS * LATENCY_S
KEY = "concurrency-key"


@pytest.fixture
def slow_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with server_process(KEY, "--validating-seconds", "0.01", "--processing-seconds", "0.05") as base_url:
        conn = {"conn_type": "together", "password": KEY, "host": base_url, "extra": {"max_retries": 0}}
        monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_DEFAULT", json.dumps(conn))
        yield base_url


def _completed_batches(base_url: str, tmp_path: Path) -> list[str]:
    with TogetherClient(ClientSettings(api_key=KEY, base_url=base_url)) as client:
        paths = [write_input(tmp_path / f"{n}.jsonl", 1, tag=str(n)) for n in range(N_BATCHES)]
        uploads = [client.files.upload(path) for path in paths]
        ids = [client.batches.create(f.id).job.id for f in uploads]
        while not all(client.batches.retrieve(b).status.is_terminal for b in ids):
            time.sleep(0.05)
    # Latency only now: set-up stays fast, every poll of the round pays it.
    ControlClient(base_url, KEY).configure(latency_ms=LATENCY_S * 1000)
    return ids


async def _first_event(trigger: TogetherBatchTrigger) -> BatchEvent:
    async for event in trigger.run():
        return BatchEvent.from_payload(event.payload)
    raise AssertionError("trigger ended without an event")


@pytest.mark.timeout(180)
async def test_one_round_of_1000_triggers_is_concurrent(slow_server: str, tmp_path: Path) -> None:
    ids = await asyncio.to_thread(_completed_batches, slow_server, tmp_path)
    triggers = [
        TogetherBatchTrigger(batch_ids=[ids[i % N_BATCHES]], poll_interval=3600) for i in range(N_TRIGGERS)
    ]
    try:
        await asyncio.gather(*(t._get_client() for t in triggers))  # triggerer start-up, not a round
        started = time.perf_counter()
        events = await asyncio.gather(*(_first_event(t) for t in triggers))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(t.cleanup() for t in triggers))

    assert [e.status for e in events] == [EventStatus.COMPLETED] * N_TRIGGERS
    print(f"\n{N_TRIGGERS} triggers, one polling round at {LATENCY_S * 1000:.0f} ms latency: {elapsed:.2f} s")
    assert LATENCY_S <= elapsed < SERIAL_S / 10
