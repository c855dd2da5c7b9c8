"""Speed and memory goals of the local server (run with ``-m benchmark``; not in the default run)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import httpx
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import Api, chat_line

pytestmark = pytest.mark.benchmark


async def _raw_get(port: int, path: str, key: str) -> int:
    """One HTTP/1.1 GET on its own connection (a bare client, so the figure is the server's)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split()[1])


def test_thousand_concurrent_polls_with_latency(api: Api, together_server: LocalTogetherServer) -> None:
    job = api.submit([chat_line("a")])
    together_server.configure(latency_ms=100)
    path = f"/v1/batches/{job['id']}"

    async def poll_all() -> list[int]:
        return await asyncio.gather(
            *(_raw_get(together_server.port, path, together_server.api_key) for _ in range(1000))
        )

    started = time.perf_counter()
    codes = asyncio.run(poll_all())
    elapsed = time.perf_counter() - started
    print(f"\n1000 concurrent polls at latency_ms=100: {elapsed:.2f} s")
    assert codes == [200] * 1000
    assert elapsed < 2.0


def test_hundred_megabyte_upload_and_download_stay_streamed(
    api: Api, together_server: LocalTogetherServer
) -> None:
    line = (
        b'{"custom_id": "########", "body": {"model": "m", "messages": [{"role": "user", "content": "'
        + b"x" * 900
        + b'"}]}}\n'
    )
    count = 100 * 1024**2 // len(line)

    def chunks():
        for i in range(count):
            yield line.replace(b"########", b"%08d" % i)

    tracemalloc.start()
    start = api.http.post("/v1/files", data={"purpose": "batch-api", "file_name": "big.jsonl"})
    put = httpx.put(
        start.headers["location"],
        content=chunks(),
        headers={"Content-Length": str(count * len(line))},
        timeout=120,
        verify=False,
    )
    assert put.status_code == 200
    size = 0
    with api.http.stream("GET", f"/v1/files/{start.headers['x-together-file-id']}/content") as response:
        for chunk in response.iter_bytes():
            size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\n{size / 1024**2:.0f} MB up and down; traced peak {peak / 1024**2:.1f} MB (client + server)")
    assert size == count * len(line)
    assert peak < 20 * 1024**2
