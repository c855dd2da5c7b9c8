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

Measured in the same process, on the same loop and batches, one after the other:

- **ours**: ``TogetherBatchTrigger``, all N;
- **to_thread**: the design of the Anthropic and common.ai providers' triggers: an SDK-style
  blocking client (here a blocking ``httpx.Client`` per trigger, GET + status check + typed model)
  called through ``asyncio.to_thread`` on every poll. The default executor runs
  ``min(32, CPUs + 4)`` polls at a time, so only the first ``TO_THREAD_SAMPLE`` triggers are run
  and their round time is scaled linearly to N;
- **floor**: the least any asyncio poller can do: one kept-alive asyncio stream per trigger, a
  hand-written ``GET``, the status line and ``Content-Length`` read, ``json.loads`` of the body. No
  provider code, no HTTP library;
- **blocking**: our trigger class with its client swapped for a blocking one (the sync
  ``TogetherClient.batches.retrieve`` called inside the coroutine, as the OpenAI provider's trigger
  does). It serialises the loop, so only the first ``BASELINE_SAMPLE`` triggers are run and scaled.

Reported per N and round: wall time of a round and CPU time of this process per poll for each
design, and ours against the floor and the to_thread design. Prints two tables and writes
``tests/benchmarks/results/trigger.json``. Asserts the round-time target; the CPU-per-poll target
(``TARGET_CPU_MS``, ``TARGET_FLOOR_RATIO``) is reported as met or not (see BENCHMARKS.md).
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
from urllib.parse import urlsplit

import pytest

from apb_bench_server import memory_kb, server_process

API_KEY = "bench-key"
# APB_TRIGGER_BENCH_COUNTS="100,1000" narrows a run while investigating.
COUNTS = tuple(int(c) for c in os.environ.get("APB_TRIGGER_BENCH_COUNTS", "100,1000,5000").split(","))
LATENCY_MS = 100.0
BASELINE_SAMPLE = 50
TO_THREAD_SAMPLE = 200
IDLE_GAP_S = 6.0
TARGET_N = 1000
TARGET_ROUND_S = 2.0
TARGET_RATIO = 50.0
TARGET_CPU_MS = 0.2
TARGET_FLOOR_RATIO = 4.0
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


def _sdk_style_retrieve(client: Any, batch_id: str) -> Any:
    """A blocking SDK call: GET, raise on an error status, parse into a typed model."""
    from airflow_provider_batch.client.models import BatchJob

    response = client.get(f"/batches/{batch_id}")
    response.raise_for_status()
    return BatchJob.from_wire(response.json())


def _to_thread_trigger_class(base_url: str) -> type:
    import httpx
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    tls = httpx.create_ssl_context()  # one CA load for the process, not one per trigger

    class ToThreadTrigger(BaseTrigger):
        """The peers' design: a blocking SDK-style client, each poll run in ``asyncio.to_thread``."""

        def __init__(self, batch_ids: list[str], poll_interval: float) -> None:
            super().__init__()
            self.batch_id, self.poll_interval = batch_ids[0], poll_interval
            self._client: httpx.Client | None = None

        def serialize(self) -> tuple[str, dict[str, Any]]:
            raise NotImplementedError  # never stored: this trigger only runs in the benchmark

        async def _get_client(self) -> httpx.Client:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, verify=tls, timeout=60
                )
            return self._client

        async def run(self) -> Any:
            client = await self._get_client()
            while True:
                job = await asyncio.to_thread(_sdk_style_retrieve, client, self.batch_id)
                self.log.info("batch %s: %s %.1f%%", job.id, job.status.value, job.progress)
                if job.status.is_terminal:
                    yield TriggerEvent({"status": job.status.value.lower(), "batch_id": job.id})
                    return
                await asyncio.sleep(self.poll_interval)

        async def cleanup(self) -> None:
            client, self._client = self._client, None
            if client is not None:
                client.close()

    return ToThreadTrigger


class _FloorPoller:
    """The least an asyncio poller can do: a kept-alive stream, a hand-written GET, ``json.loads``.

    Plain HTTP/1.1 against the local server only (no TLS, no chunked bodies, no retries).
    """

    def __init__(self, base_url: str, batch_id: str) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.request = (
            f"GET {url.path}/batches/{batch_id} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {API_KEY}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> None:
        self.streams = await asyncio.open_connection(self.host, self.port)

    async def poll(self) -> str:
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, _, headers = head.partition(b"\r\n")
        if status_line.split()[1] != b"200":
            raise AssertionError(status_line)
        length = next(
            int(v)
            for k, _, v in (h.partition(b":") for h in headers.split(b"\r\n"))
            if k.lower() == b"content-length"
        )
        return str(json.loads(await reader.readexactly(length))["status"]).lower()

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def _floor_round(pollers: list[_FloorPoller]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    statuses = await asyncio.gather(*(p.poll() for p in pollers))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert set(statuses) == {"completed"}, sorted(set(statuses))
    return {"wall_s": wall, "cpu_s": cpu}


async def _measure_floor(base_url: str, batch_ids: list[str]) -> dict[str, Any]:
    pollers = [_FloorPoller(base_url, b) for b in batch_ids]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(p.open() for p in pollers))
        startup = time.perf_counter() - started
        cold = await _floor_round(pollers)
        await asyncio.sleep(IDLE_GAP_S)
        steady = await _floor_round(pollers)
    finally:
        for poller in pollers:
            poller.close()
    return {"n": len(batch_ids), "startup_s": startup, "cold": cold, "steady": steady}


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


async def _drive(n: int, ids_file: str, base_url: str) -> dict[str, Any]:
    from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

    batch_ids = json.loads(Path(ids_file).read_text())[:n]
    assert len(batch_ids) == n, f"only {len(batch_ids)} batches for N={n}"
    await _measure(TogetherBatchTrigger, batch_ids[:2])  # lazy imports and first-use set-up
    ours = await _measure(TogetherBatchTrigger, batch_ids)
    floor = await _measure_floor(base_url, batch_ids)
    to_thread = await _measure(_to_thread_trigger_class(base_url), batch_ids[:TO_THREAD_SAMPLE])
    blocking = await _measure(_blocking_trigger_class(), batch_ids[:BASELINE_SAMPLE])
    return {"ours": ours, "floor": floor, "to_thread": to_thread, "baseline": blocking}


def drive(n: str, ids_file: str, base_url: str) -> dict[str, Any]:
    """Measure N triggers in this process (the connection comes from the environment)."""
    return asyncio.run(_drive(int(n), ids_file, base_url))


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
        [sys.executable, __file__, str(n), str(ids_file), base_url],
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


def _cpu_ms(measured: dict[str, Any], phase: str) -> float:
    return float(measured[phase]["cpu_s"]) * 1000 / int(measured["n"])


def _scaled_round(measured: dict[str, Any], phase: str, n: int) -> float:
    return float(measured[phase]["wall_s"]) * n / int(measured["n"])


def summarise(run: dict[str, Any], phase: str) -> dict[str, Any]:
    """One table row for ``phase`` (cold/steady): our round and CPU per poll against the floor, the
    to_thread design and the blocking trigger (the sampled ones scaled linearly to N)."""
    ours, floor, to_thread, base = run["ours"], run["floor"], run["to_thread"], run["baseline"]
    n = ours["n"]
    cpu, floor_cpu, thread_cpu = _cpu_ms(ours, phase), _cpu_ms(floor, phase), _cpu_ms(to_thread, phase)
    base_round = _scaled_round(base, phase, n)
    return {
        "n": n,
        "round": phase,
        "round_s": round(ours[phase]["wall_s"], 3),
        "cpu_ms_per_poll": round(cpu, 3),
        "kb_per_trigger": round(ours["rss_growth_kb"] / n, 1),
        "startup_s": round(ours["startup_s"], 3),
        "floor_round_s": round(floor[phase]["wall_s"], 3),
        "floor_cpu_ms_per_poll": round(floor_cpu, 3),
        "cpu_vs_floor": round(cpu / floor_cpu, 1),
        "to_thread_sample": to_thread["n"],
        "to_thread_round_s": round(_scaled_round(to_thread, phase, n), 2),
        "to_thread_cpu_ms_per_poll": round(thread_cpu, 3),
        "cpu_vs_to_thread": round(cpu / thread_cpu, 2),
        "baseline_sample": base["n"],
        "baseline_extrapolated": base["n"] < n,
        "baseline_round_s": round(base_round, 2),
        "baseline_cpu_ms_per_poll": round(_cpu_ms(base, phase), 3),
        "ratio": round(base_round / ours[phase]["wall_s"], 1),
        "cpu_target_met": cpu <= TARGET_CPU_MS and cpu <= TARGET_FLOOR_RATIO * floor_cpu,
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
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}. One polling round "
        f"at {LATENCY_MS:.0f} ms latency (* = first {BASELINE_SAMPLE} or {TO_THREAD_SAMPLE} polls timed, "
        "scaled linearly to N)"
    )
    print(
        f"{'N':>5} {'round':>6} {'round s':>8} {'KB/trig':>7} {'start s':>7} {'floor s':>8} "
        f"{'to_thread s':>12} {'blocking s':>11} {'x blocking':>10}"
    )
    for r in rows:
        t_star = "*" if r["to_thread_sample"] < r["n"] else " "
        b_star = "*" if r["baseline_extrapolated"] else " "
        print(
            f"{r['n']:>5} {r['round']:>6} {r['round_s']:>8} {r['kb_per_trigger']:>7} {r['startup_s']:>7} "
            f"{r['floor_round_s']:>8} {r['to_thread_round_s']:>11}{t_star} "
            f"{r['baseline_round_s']:>10}{b_star} {r['ratio']:>10}"
        )
    print(
        f"\nCPU ms per poll (target: ours <= {TARGET_CPU_MS} ms and <= {TARGET_FLOOR_RATIO:.0f}x the floor)\n"
        f"{'N':>5} {'round':>6} {'ours':>7} {'floor':>7} {'to_thread':>9} {'blocking':>8} "
        f"{'x floor':>7} {'x to_thread':>11} {'met':>4}"
    )
    for r in rows:
        print(
            f"{r['n']:>5} {r['round']:>6} {r['cpu_ms_per_poll']:>7} {r['floor_cpu_ms_per_poll']:>7} "
            f"{r['to_thread_cpu_ms_per_poll']:>9} {r['baseline_cpu_ms_per_poll']:>8} {r['cpu_vs_floor']:>7} "
            f"{r['cpu_vs_to_thread']:>11} {'yes' if r['cpu_target_met'] else 'no':>4}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg(),
        "latency_ms": LATENCY_MS,
        "baseline_sample": BASELINE_SAMPLE,
        "to_thread_sample": TO_THREAD_SAMPLE,
        "target": (
            f"N={TARGET_N}: steady round < {TARGET_ROUND_S} s and >= {TARGET_RATIO}x the blocking trigger; "
            f"CPU per poll <= {TARGET_CPU_MS} ms and <= {TARGET_FLOOR_RATIO}x the floor"
        ),
        "note": (
            "server in its own process; one fresh triggerer process per N; cold = first round "
            f"(new connections; the floor's are opened before it), steady = next round after a "
            f"{IDLE_GAP_S:.0f} s idle gap (the poll interval); memory = RSS growth / N with the triggers "
            "and their clients alive; to_thread and blocking rounds time the first "
            f"{TO_THREAD_SAMPLE} and {BASELINE_SAMPLE} polls and scale linearly"
        ),
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    print(RESULT_PREFIX + json.dumps(drive(*sys.argv[1:4])))
