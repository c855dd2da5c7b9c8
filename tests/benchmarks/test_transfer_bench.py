"""Upload/download throughput and client memory, 10 MB and 100 MB batch files.

The local server runs in its own process, and each transfer runs in a fresh client process
(this file, run as a script), so the peak-RSS growth measured (``VmHWM`` after the transfer minus
``VmHWM`` just before it) is the client's alone. Prints a table and writes
``tests/benchmarks/results/transfer.json``. Run with ``make bench`` or
``pytest tests/benchmarks/test_transfer_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apb_bench_server import memory_kb, server_process

API_KEY = "bench-key"
MB = 10**6
SIZES_MB = (10, 100)
MEMORY_BUDGET_MB = 64.0
RESULTS = Path(__file__).parent / "results" / "transfer.json"
REPO_ROOT = Path(__file__).resolve().parents[2]


def write_batch_file(path: Path, size: int) -> Path:
    """A valid batch JSONL of about ``size`` bytes (lines of ~4 KB, written a line at a time)."""
    pad = "x" * 4000
    written, n = 0, 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < size:
            body = {
                "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": f"q{n} {pad}"}],
            }
            line = json.dumps({"custom_id": f"req-{n}", "body": body}) + "\n"
            written += handle.write(line)
            n += 1
    return path


# -- the client side, run in a fresh process -----------------------------------------------------


async def _transfer(flavour: str, op: str, base_url: str, target: str) -> str:
    from airflow_provider_batch.client import AsyncTogetherClient, TogetherClient

    if flavour == "sync":
        with TogetherClient(api_key=API_KEY, base_url=base_url) as client:
            if op == "upload":
                return client.files.upload(target).id
            file_id, dest = target.split("=", 1)
            return str(client.files.content(file_id, dest))
    async with AsyncTogetherClient(api_key=API_KEY, base_url=base_url) as aclient:
        if op == "upload":
            return (await aclient.files.upload(target)).id
        file_id, dest = target.split("=", 1)
        return str(await aclient.files.content(file_id, dest))


def drive(flavour: str, op: str, base_url: str, target: str) -> dict[str, Any]:
    """One transfer in this process: seconds taken and peak-RSS growth in MB."""
    import airflow_provider_batch.client  # noqa: F401  (imports are not the transfer's memory)

    before = memory_kb("VmHWM")
    started = time.perf_counter()
    result = asyncio.run(_transfer(flavour, op, base_url, target))
    seconds = time.perf_counter() - started
    return {"result": result, "seconds": seconds, "rss_growth_mb": (memory_kb("VmHWM") - before) * 1024 / MB}


# -- the benchmark ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with server_process(API_KEY) as url:
        yield url


def _run_client(flavour: str, op: str, base_url: str, target: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, flavour, op, base_url, target],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark
def test_transfer_throughput_and_memory(server_url: str, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = []
    for size_mb in SIZES_MB:
        source = write_batch_file(tmp_path / f"batch-{size_mb}mb.jsonl", size_mb * MB)
        size = source.stat().st_size
        for flavour in ("sync", "async"):
            # Each flavour uploads its own copy: identical bytes would be answered with the existing file.
            copy = tmp_path / f"{flavour}-{source.name}"
            shutil.copyfile(source, copy)
            with open(copy, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"custom_id": f"{flavour}-marker", "body": {}}) + "\n")
            up = _run_client(flavour, "upload", server_url, str(copy))
            dest = tmp_path / f"{flavour}-{size_mb}.out"
            down = _run_client(flavour, "download", server_url, f"{up['result']}={dest}")
            assert dest.stat().st_size == copy.stat().st_size
            for op, run in (("upload", up), ("download", down)):
                rows.append(
                    {
                        "size_mb": round(size / MB, 1),
                        "client": flavour,
                        "op": op,
                        "seconds": round(run["seconds"], 3),
                        "mb_per_s": round(size / MB / run["seconds"], 1),
                        "rss_growth_mb": round(run["rss_growth_mb"], 1),
                    }
                )
            copy.unlink()
            dest.unlink()
        source.unlink()
    _report(rows)
    for row in rows:
        if row["size_mb"] >= 100:
            assert row["rss_growth_mb"] < MEMORY_BUDGET_MB, row


def _report(rows: list[dict[str, Any]]) -> None:
    header = f"{'size MB':>8} {'client':>6} {'op':>8} {'seconds':>8} {'MB/s':>8} {'RSS growth MB':>14}"
    print("\n" + header)
    for r in rows:
        print(
            f"{r['size_mb']:>8} {r['client']:>6} {r['op']:>8} {r['seconds']:>8} {r['mb_per_s']:>8} "
            f"{r['rss_growth_mb']:>14}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "note": "server in its own process; one client process per row",
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    print(json.dumps(drive(*sys.argv[1:5])))
