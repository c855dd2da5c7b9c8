"""How long one polling round of N TogetherBatchTriggers takes in one event loop.

The local server runs in its own process with 100 ms of latency on every request. For N = 100,
1,000 and 5,000 triggers (watching 10 completed batches), the triggers are started (connection
lookup + client: the triggerer's start-up, timed separately) and then one polling round each is
timed until every trigger has yielded its event. The baseline is the pattern §2.1 of the anchors
describes (a synchronous client inside ``async run()``), at N = 100 only: it is serial, so it grows
by N x latency. Prints a table and writes ``tests/benchmarks/results/trigger.json``. Run with
``make bench`` or ``pytest tests/benchmarks/test_trigger_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client import ClientSettings, TogetherClient
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger
from tests.airflow.apb_airflow_helpers import server_process

API_KEY = "bench-key"
LATENCY_MS = 100
SIZES = (100, 1000, 5000)
BASELINE_N = 100
N_BATCHES = 10
RESULTS = Path(__file__).parent / "results" / "trigger.json"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with server_process(API_KEY, "--validating-seconds", "0.01", "--processing-seconds", "0.05") as url:
        yield url


def _completed_batches(base_url: str, tmp_path: Path) -> list[str]:
    ids = []
    with TogetherClient(ClientSettings(api_key=API_KEY, base_url=base_url)) as client:
        for n in range(N_BATCHES):
            path = tmp_path / f"in-{n}.jsonl"
            body = {"model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
                    "messages": [{"role": "user", "content": f"bench {n}"}]}
            path.write_text(json.dumps({"custom_id": "r0", "body": body}) + "\n")
            ids.append(client.batches.create(client.files.upload(path).id).job.id)
        while any(not client.batches.retrieve(b).status.is_terminal for b in ids):
            time.sleep(0.1)
    # Latency only now: set-up stays fast, every timed poll pays it.
    root = base_url.removesuffix("/v1")
    httpx.post(f"{root}/_control/config", json={"latency_ms": LATENCY_MS}).raise_for_status()
    return ids


async def _first_event(trigger: TogetherBatchTrigger) -> None:
    async for _ in trigger.run():
        return


async def _round(n: int, ids: list[str]) -> tuple[float, float]:
    triggers = [TogetherBatchTrigger(batch_ids=[ids[i % len(ids)]], poll_interval=3600) for i in range(n)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(t._get_client() for t in triggers))
        startup = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(_first_event(t) for t in triggers))
        return startup, time.perf_counter() - started
    finally:
        await asyncio.gather(*(t.cleanup() for t in triggers))


async def _blocking_round(n: int, ids: list[str], base_url: str) -> float:
    """The anti-pattern: a synchronous HTTP call inside each trigger's async run()."""
    client = TogetherClient(ClientSettings(api_key=API_KEY, base_url=base_url))

    async def blocking_trigger(batch_id: str) -> None:
        client.batches.retrieve(batch_id)
        await asyncio.sleep(0)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(blocking_trigger(ids[i % len(ids)]) for i in range(n)))
        return time.perf_counter() - started
    finally:
        client.close()


@pytest.mark.benchmark
@pytest.mark.timeout(900)
def test_trigger_polling_round(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOGETHER_DEFAULT",
        json.dumps({"conn_type": "together", "password": API_KEY, "host": server_url,
                    "extra": {"max_retries": 0}}),
    )
    ids = _completed_batches(server_url, tmp_path)
    rows: list[dict[str, Any]] = []
    for n in SIZES:
        startup, round_s = asyncio.run(_round(n, ids))
        rows.append({"flavour": "async trigger", "n": n, "startup_s": round(startup, 3),
                     "round_s": round(round_s, 3)})
    blocking = asyncio.run(_blocking_round(BASELINE_N, ids, server_url))
    rows.append({"flavour": "blocking (sync client in run())", "n": BASELINE_N, "startup_s": None,
                 "round_s": round(blocking, 3)})
    _report(rows)
    by_n = {r["n"]: r["round_s"] for r in rows if r["flavour"] == "async trigger"}
    serial_1000 = 1000 * LATENCY_MS / 1000
    # Goal on an idle machine: < 2 s. The hard bound only rules out serial polling, so a loaded
    # CI box does not fail the run; the table and results/trigger.json carry the real figures.
    assert by_n[1000] < serial_1000 / 10, f"one round of 1,000 triggers took {by_n[1000]:.2f} s"
    assert blocking > BASELINE_N * LATENCY_MS / 1000  # serial, as expected


def _report(rows: list[dict[str, Any]]) -> None:
    print(f"\nOne polling round, {LATENCY_MS} ms server latency, server in its own process:")
    print(f"{'flavour':34} {'N':>6} {'start-up s':>11} {'round s':>9}")
    for r in rows:
        startup = "-" if r["startup_s"] is None else f"{r['startup_s']:.2f}"
        print(f"{r['flavour']:34} {r['n']:>6} {startup:>11} {r['round_s']:>9.2f}")
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
            "latency_ms": LATENCY_MS}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
