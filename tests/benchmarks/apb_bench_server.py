"""Shared by the benchmarks (imported by module name): the local server in its own process, memory."""

from __future__ import annotations

from airflow_provider_batch.testing.server import server_process

__all__ = ["memory_kb", "server_process"]


def memory_kb(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``...)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")
