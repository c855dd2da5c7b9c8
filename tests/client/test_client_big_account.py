"""An account with 125,000 files (41,666 batches' inputs, outputs and errors) on the local server
in its own process. Its file list is 34.8 MB, over the 32 MiB a JSON answer may have, so reading
it whole fails (``ResponseTooLargeError``, as every ``files.list()`` did before the lists were
streamed); the streamed calls read it with flat memory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from airflow_provider_batch.client import ClientSettings, ResponseTooLargeError, TogetherClient
from airflow_provider_batch.testing import server_process
from airflow_provider_batch.vendors.together.client import _ops as ops

API_KEY = "big-account-key"
FILES = 125_000
#: Peak-RSS growth allowed while streaming all 125,000 files (34.8 MB on the wire; holding them
#: all, as ``files.list()`` does, takes hundreds of MB).
RSS_BUDGET_MB = 24
REPO_ROOT = Path(__file__).resolve().parents[2]

_COUNT_FILES = """
import asyncio, json, sys
from airflow_provider_batch.client import AsyncTogetherClient, TogetherClient

def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

async def count(flavour, base_url, key):
    if flavour == "sync":
        with TogetherClient(api_key=key, base_url=base_url) as client:
            return sum(1 for _ in client.files.iter())
    async with AsyncTogetherClient(api_key=key, base_url=base_url) as client:
        return sum([1 async for _ in client.files.iter()])

before = peak_kb()
seen = asyncio.run(count(*sys.argv[1:4]))
print(json.dumps({"files": seen, "rss_growth_mb": (peak_kb() - before) / 1024}))
"""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with server_process(API_KEY, "--seed-files", str(FILES)) as url:
        yield url


def test_reading_the_file_list_whole_hits_the_body_cap(base_url: str) -> None:
    """What ``files.list()`` did before: one body, parsed at once."""
    with (
        TogetherClient(api_key=API_KEY, base_url=base_url) as client,
        pytest.raises(ResponseTooLargeError, match="max_response_bytes"),
    ):
        client._call(ops.file_list(), ops.parse_batch)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_every_file_streams_through_with_flat_memory(base_url: str, flavour: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_FILES, flavour, base_url, API_KEY],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["files"] == FILES and result["rss_growth_mb"] < RSS_BUDGET_MB, result


def test_find_by_input_file_among_41666_batches(base_url: str) -> None:
    """One streamed pass; only the match becomes a model (both clients: ``test_client_stream``)."""
    with TogetherClient(api_key=API_KEY, base_url=base_url) as client, closing(client.batches.iter()) as jobs:
        job = next(jobs)
        found = client.batches.find_by_input_file(str(job.input_file_id))
    assert [b.id for b in found] == [job.id] and found[0].status.is_terminal


def test_default_caps() -> None:
    settings = ClientSettings(api_key="x")
    assert (settings.max_response_bytes, settings.max_list_element_bytes) == (32 * 2**20, 2**20)
