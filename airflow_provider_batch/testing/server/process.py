"""Run the local server as its own process, with its documented command line."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

__all__ = ["server_process"]


@contextlib.contextmanager
def server_process(api_key: str, *options: str, stop_timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m airflow_provider_batch.testing.server`` on a free loopback port.

    Useful when the server must not share the test process (its own GIL for timings, or other
    processes such as an Airflow triggerer talking to it). Yields its base URL (``…/v1``).

    :param api_key: the key the server requires.
    :param options: further command-line options, e.g. ``"--processing-seconds", "0"``.
    :param stop_timeout: seconds to wait after SIGTERM before killing it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_batch.testing.server",
         "--host", "127.0.0.1", "--port", "0", "--api-key", api_key, *options],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"the local server did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
