"""A 10,000-request batch through the client while the local server faults 20 % of all requests.

Every route may answer 429 (with Retry-After), 500, 502 or 503, reset the connection, stall past
the client's read timeout, or (downloads) cut the body short. On top of the random 20 %, a script
makes sure the routes that are hit only once or twice get the nastiest kinds at least once (a
reset, a 500 and a stall on the create; a reset and a stall on the upload PUT; a truncated and a
reset download). The pipeline is the real one: upload → create → poll until terminal → download
output and error files. Retry waits go through a recorder that sleeps half the requested delay,
so the test stays fast.

What it proves: no request is lost or duplicated (every custom_id exactly once across output +
error files), exactly one batch is created for the input, and every fault the server injected was
seen and survived by the client (its retry log, per kind, matches the server's fault counters).
The figures go to ``fault_storm_<flavour>.json`` in the test's tmp dir and to stdout (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import AsyncTogetherClient, BatchStatus, ClientSettings, TogetherClient
from airflow_provider_batch.testing.server import FAULT_KINDS
from tests.client.helpers import call
from tests.reliability.fault_view import client_view, expected_view
from tests.reliability.leaks import SECRET

pytestmark = pytest.mark.timeout(120)

LINES = 10_000
BAD_MODEL_EVERY = 100  # these lines name an unknown model and land in the error file
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
READ_TIMEOUT = 0.5
STALL_SECONDS = 0.6  # > READ_TIMEOUT, so every stall becomes a client timeout
SLEEP_FRACTION = 0.5
#: Caps the backoff of the scripted fault runs (four in a row on the create) at ~1 s requested.
RETRY_MAX_DELAY = 1.0
POLL_SECONDS = 0.02
#: Scripted faults, consumed before any random one on the same route (in this order).
SCRIPT: tuple[tuple[str, str], ...] = (
    ("POST /v1/files", "503"),
    ("PUT /_uploads/{id}", "reset"),
    ("PUT /_uploads/{id}", "stall"),
    ("POST /v1/batches", "reset"),
    ("POST /v1/batches", "500"),
    ("POST /v1/batches", "429"),
    ("POST /v1/batches", "stall"),  # created late at the server: the client must find, not re-send
    ("GET /v1/batches/{id}", "stall"),
    ("GET /v1/files/{id}/content", "truncate"),
    ("GET /v1/files/{id}/content", "reset"),
)


class ScaledSleep:
    """Records every requested retry delay and really sleeps ``fraction`` of it.

    Half of the delay is still long enough for a request that stalled at the server to be over
    before the client acts again: ``STALL_SECONDS - READ_TIMEOUT`` (0.1 s) is less than half the
    shortest backoff (0.5 s × 0.75 jitter / 2 ≈ 0.19 s). That matters for the create (a stalled
    create lands late; the client must find it, not send another) and for the upload PUT.
    """

    def __init__(self, is_async: bool, fraction: float) -> None:
        self.requested: list[float] = []
        self._async, self._fraction = is_async, fraction

    def __call__(self, delay: float) -> Any:
        self.requested.append(delay)
        if self._async:
            return asyncio.sleep(delay * self._fraction)
        time.sleep(delay * self._fraction)
        return None


def write_input(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(LINES):
            model = "no-such/model" if n % BAD_MODEL_EVERY == 0 else MODEL
            messages = [{"role": "user", "content": f"ticket {n}"}]
            body = {"model": model, "messages": messages, "max_tokens": 16}
            handle.write(json.dumps({"custom_id": f"req-{n:05d}", "body": body}) + "\n")
    return path


async def run_pipeline(client: Any, source: Path, out_dir: Path) -> tuple[Any, list[Path]]:
    uploaded = await call(client.files.upload(source))
    job = (await call(client.batches.create(uploaded.id))).job
    while not job.status.is_terminal:
        await asyncio.sleep(POLL_SECONDS)
        job = await call(client.batches.retrieve(job.id))
    files = [
        await call(client.files.content(file_id, out_dir / f"{name}.jsonl"))
        for name, file_id in (("output", job.output_file_id), ("errors", job.error_file_id))
        if file_id
    ]
    return job, files


def make_client(flavour: str, base_url: str, sleep: ScaledSleep) -> Any:
    settings = ClientSettings(
        api_key=SECRET,
        base_url=base_url,
        timeout=READ_TIMEOUT,
        upload_timeout=READ_TIMEOUT,
        connect_timeout=2.0,
        max_retries=8,
        retry_max_delay=RETRY_MAX_DELAY,
    )
    cls = TogetherClient if flavour == "sync" else AsyncTogetherClient
    return cls(settings, sleep=sleep)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_fault_storm_pipeline(
    flavour: str, together_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = together_server
    original_key = server.config.api_key
    server.configure(
        api_key=SECRET,
        validating_seconds=0.1,
        processing_seconds=2.0,
        fault_rate=0.2,
        fault_kinds=FAULT_KINDS,
        stall_seconds=STALL_SECONDS,
        retry_after_seconds=0.2,
    )
    for route, kind in SCRIPT:
        server.inject(route, kind)
    sleep = ScaledSleep(flavour == "async", SLEEP_FRACTION)
    client = make_client(flavour, server.base_url, sleep)
    source = write_input(tmp_path / "requests.jsonl")
    started = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
            job, files = await run_pipeline(client, source, tmp_path)
    finally:
        server.configure(fault_rate=0.0, api_key=original_key)
        await call(client.close() if flavour == "sync" else client.aclose())
    wall = time.perf_counter() - started

    assert job.status is BatchStatus.COMPLETED and len(files) == 2
    ids = Counter(json.loads(line)["custom_id"] for path in files for line in path.read_text().splitlines())
    assert set(ids) == {f"req-{n:05d}" for n in range(LINES)}
    duplicates = sum(count - 1 for count in ids.values())
    assert duplicates == 0

    stats = server.stats()
    batches = [b for b in stats["batches"] if b["input_file_id"] == job.input_file_id]
    assert len(batches) == 1 and stats["batch_creates"] == 1

    injected: dict[str, int] = stats["faults_injected"]
    expected = expected_view(injected)
    survived = client_view(caplog.records)
    assert survived == expected, f"server injected {injected}, client survived {dict(survived)}"
    assert sum(injected.values()) > 0

    figures = {
        "flavour": flavour,
        "requests_in_batch": LINES,
        "error_lines": sum(1 for line in files[1].read_text().splitlines() if line),
        "http_requests": sum(stats["requests"].values()),
        "faults_scripted": len(SCRIPT),
        "faults_injected": dict(sorted(injected.items())),
        "faults_injected_total": sum(injected.values()),
        "faults_survived_by_client_view": dict(sorted(survived.items())),
        "faults_survived_total": sum(survived.values()),
        "duplicates": duplicates,
        "batches_created": len(batches),
        "retry_delay_requested_s": round(sum(sleep.requested), 3),
        "retry_delay_slept_s": round(sum(sleep.requested) * SLEEP_FRACTION, 3),
        "wall_seconds": round(wall, 2),
    }
    (tmp_path / f"fault_storm_{flavour}.json").write_text(json.dumps(figures, indent=2))
    print(f"\nfault storm ({flavour}): {json.dumps(figures)}")
