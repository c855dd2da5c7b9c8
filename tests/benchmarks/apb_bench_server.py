"""Shared by the benchmarks (imported by module name): the local server in its own process, memory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["memory_kb", "server_process"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def memory_kb(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``...)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


@contextlib.contextmanager
def server_process(api_key: str, *options: str, stop_timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m airflow_provider_batch.testing.server`` on a free port; yields its base URL.

    :param api_key: the key the server requires.
    :param options: further command-line options, e.g. ``"--processing-seconds", "0"``.
    :param stop_timeout: seconds to wait after SIGTERM before killing it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_batch.testing.server", "--port", "0", "--api-key", api_key,
         *options],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY "), f"server did not start: {line!r}"
        yield line.split(" ", 1)[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
