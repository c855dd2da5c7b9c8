"""Triggerer concurrency: N ``TogetherBatchTrigger`` instances polling in one event loop.

The local server runs in its own process with 100 ms of injected latency; each N runs in a fresh
process (this file, run as a script) that holds only triggers. Every trigger watches one batch of
its own, and every batch is already ``COMPLETED``, so ``trigger.run()`` polls exactly once and
yields its event: one polling round is "all N ``run()`` generators have yielded", through the real
trigger code (connection lookup, client, retrieve, ``PollTracker``, logging, event).

Two rounds are measured on the same trigger objects: *cold* (the first: every trigger opens its
connection) and *steady* (the next one, after an idle gap of one poll interval, ``IDLE_GAP_S``,
longer than httpx's default 5 s keep-alive expiry, as between real polling rounds). Client
construction (triggerer start-up) is timed apart and is not part of a round.

Baseline: the same trigger class with its client swapped for a blocking one (the sync
``TogetherClient.batches.retrieve`` called inside the coroutine, as peer providers' triggers do).
It serialises the loop, so for N > 50 only the first 50 triggers are run and their round time is
extrapolated linearly to N. Prints a table and writes ``tests/benchmarks/results/trigger.json``.
Run with ``make bench`` or ``pytest tests/benchmarks/test_trigger_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apb_bench_server import memory_kb, server_process

API_KEY = "bench-key"
# APB_TRIGGER_BENCH_COUNTS="100,1000" narrows a run while investigating.
COUNTS = tuple(int(c) for c in os.environ.get("APB_TRIGGER_BENCH_COUNTS", "100,1000,5000").split(","))
LATENCY_MS = 100.0
BASELINE_SAMPLE = 50
IDLE_GAP_S = 6.0
TARGET_N = 1000
TARGET_ROUND_S = 2.0
TARGET_RATIO = 50.0
RESULTS = Path(__file__).parent / "results" / "trigger.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "RESULT "


# -- the triggerer side, run in a fresh process ----------------------------------------------------


class _BlockingBatches:
    """``client.batches`` of a peer-style trigger: an ``async def`` that makes a blocking call."""

    def __init__(self, sync_client: Any) -> None:
        self._sync = sync_client

    async def retrieve(self, batch_id: str) -> Any:
        return self._sync.batches.retrieve(batch_id)


class _BlockingClient:
    def __init__(self, sync_client: Any) -> None:
        self._sync = sync_client
        self.batches = _BlockingBatches(sync_client)

    async def aclose(self) -> None:
        self._sync.close()


def _blocking_trigger_class() -> type:
    from airflow_provider_batch.hooks.together import TogetherBatchHook
    from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

    class BlockingPeerTrigger(TogetherBatchTrigger):
        """Our trigger with the blocking client a peer trigger uses (sync HTTP in the loop)."""

        async def _get_client(self) -> Any:
            if self._client is None:
                self._client = _BlockingClient(TogetherBatchHook(self.together_conn_id).get_conn())
            return self._client

    return BlockingPeerTrigger


async def _one_event(trigger: Any) -> str:
    async for event in trigger.run():
        return str(event.payload["status"])
    raise AssertionError("trigger ended without an event")


async def _round(triggers: list[Any]) -> dict[str, float]:
    """One polling round of every trigger: wall seconds and CPU seconds of this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    statuses = await asyncio.gather(*(_one_event(t) for t in triggers))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    bad = [s for s in statuses if s != "completed"]
    if bad:
        raise AssertionError(f"{len(bad)} trigger(s) did not complete: {sorted(set(bad))}")
    return {"wall_s": wall, "cpu_s": cpu}


async def _measure(cls: type, batch_ids: list[str]) -> dict[str, Any]:
    """Start-up, a cold and a steady round, and RSS growth for one trigger per batch id."""
    gc.collect()
    rss0 = memory_kb("VmRSS")
    triggers = [cls(batch_ids=[b], poll_interval=IDLE_GAP_S) for b in batch_ids]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(t._get_client() for t in triggers))  # triggerer start-up, not a round
        startup = time.perf_counter() - started
        cold = await _round(triggers)
        await asyncio.sleep(IDLE_GAP_S)
        steady = await _round(triggers)
        gc.collect()
        rss_growth_kb = memory_kb("VmRSS") - rss0
    finally:
        await asyncio.gather(*(t.cleanup() for t in triggers))
    return {
        "n": len(batch_ids),
        "startup_s": startup,
        "cold": cold,
        "steady": steady,
        "rss_growth_kb": rss_growth_kb,
    }


async def _drive(n: int, ids_file: str) -> dict[str, Any]:
    from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

    batch_ids = json.loads(Path(ids_file).read_text())[:n]
    assert len(batch_ids) == n, f"only {len(batch_ids)} batches for N={n}"
    await _measure(TogetherBatchTrigger, batch_ids[:2])  # lazy imports and first-use set-up
    ours = await _measure(TogetherBatchTrigger, batch_ids)
    blocking = await _measure(_blocking_trigger_class(), batch_ids[:BASELINE_SAMPLE])
    return {"ours": ours, "baseline": blocking}


def drive(n: str, ids_file: str) -> dict[str, Any]:
    """Measure N triggers in this process (the connection comes from the environment)."""
    return asyncio.run(_drive(int(n), ids_file))


# -- the benchmark ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    # Thousands of batches and connections take a while to wind down.
    with server_process(API_KEY, "--validating-seconds", "0", "--processing-seconds", "0") as url:
        yield url


async def _create_batches(base_url: str, input_path: Path, count: int) -> list[str]:
    from airflow_provider_batch.client import AsyncTogetherClient, BatchStatus

    gate = asyncio.Semaphore(32)

    async def create(client: AsyncTogetherClient, file_id: str) -> str:
        async with gate:
            return (await client.batches.create(file_id)).job.id

    async with AsyncTogetherClient(api_key=API_KEY, base_url=base_url) as client:
        file_id = (await client.files.upload(input_path)).id
        ids = await asyncio.gather(*(create(client, file_id) for _ in range(count)))
        while True:
            done = {b.id for b in await client.batches.list() if b.status is BatchStatus.COMPLETED}
            if done.issuperset(ids):
                return list(ids)
            await asyncio.sleep(0.2)


def _configure(base_url: str, **fields: Any) -> None:
    from airflow_provider_batch.testing.server import ControlClient

    ControlClient(base_url, API_KEY).configure(**fields)


def _run_triggerer(n: int, base_url: str, ids_file: Path) -> dict[str, Any]:
    conn = {"conn_type": "together", "password": API_KEY, "host": base_url, "extra": {"max_retries": 0}}
    env = {**os.environ, "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(conn)}
    done = subprocess.run(
        [sys.executable, __file__, str(n), str(ids_file)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    assert lines, done.stdout[-2000:]
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def summarise(run: dict[str, Any], phase: str) -> dict[str, Any]:
    """One table row: our round for ``phase`` (cold/steady) against the extrapolated blocking one."""
    ours, base = run["ours"], run["baseline"]
    n, sample = ours["n"], base["n"]
    base_round = base[phase]["wall_s"] * n / sample
    return {
        "n": n,
        "round": phase,
        "round_s": round(ours[phase]["wall_s"], 3),
        "cpu_ms_per_poll": round(ours[phase]["cpu_s"] * 1000 / n, 3),
        "kb_per_trigger": round(ours["rss_growth_kb"] / n, 1),
        "startup_s": round(ours["startup_s"], 3),
        "baseline_sample": sample,
        "baseline_extrapolated": sample < n,
        "baseline_round_s": round(base_round, 2),
        "baseline_cpu_ms_per_poll": round(base[phase]["cpu_s"] * 1000 / sample, 3),
        "ratio": round(base_round / ours[phase]["wall_s"], 1),
    }


@pytest.mark.benchmark
@pytest.mark.timeout(1800)
def test_trigger_concurrency(server_url: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT / "tests" / "airflow"))
    from apb_airflow_helpers import write_input

    source = write_input(tmp_path / "in.jsonl", 1)
    ids = asyncio.run(_create_batches(server_url, source, max(COUNTS)))
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(ids))
    _configure(server_url, latency_ms=LATENCY_MS)

    rows: list[dict[str, Any]] = []
    for n in COUNTS:
        run = _run_triggerer(n, server_url, ids_file)
        rows += [summarise(run, "cold"), summarise(run, "steady")]
    _report(rows)
    for row in rows:
        if row["n"] == TARGET_N and row["round"] == "steady":
            assert row["round_s"] < TARGET_ROUND_S, row
            assert row["ratio"] >= TARGET_RATIO, row


def _report(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'N':>5} {'round':>6} {'round s':>8} {'CPU ms/poll':>11} {'KB/trigger':>10} "
        f"{'start-up s':>10} {'baseline s':>11} {'ratio':>7}"
    )
    print(
        f"\nOne polling round at {LATENCY_MS:.0f} ms latency (baseline: blocking sync retrieve in the "
        f"coroutine; * = first {BASELINE_SAMPLE} polls timed, extrapolated linearly to N)\n" + header
    )
    for r in rows:
        star = "*" if r["baseline_extrapolated"] else " "
        print(
            f"{r['n']:>5} {r['round']:>6} {r['round_s']:>8} {r['cpu_ms_per_poll']:>11} "
            f"{r['kb_per_trigger']:>10} {r['startup_s']:>10} {r['baseline_round_s']:>10}{star} "
            f"{r['ratio']:>7}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "latency_ms": LATENCY_MS,
        "baseline_sample": BASELINE_SAMPLE,
        "target": f"N={TARGET_N}: steady round < {TARGET_ROUND_S} s and >= {TARGET_RATIO}x the baseline",
        "note": (
            "server in its own process; one fresh triggerer process per N; cold = first round "
            f"(new connections), steady = next round after a {IDLE_GAP_S:.0f} s idle gap (the poll "
            "interval); memory = RSS growth / N with the triggers and their clients alive; baseline "
            f"rounds marked extrapolated time the first {BASELINE_SAMPLE} polls and scale linearly"
        ),
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    print(RESULT_PREFIX + json.dumps(drive(*sys.argv[1:3])))
