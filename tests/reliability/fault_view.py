"""What a client retry log says about the faults the local server injected (shared by the
client-level and the pipeline-level fault storms)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

__all__ = ["client_view", "expected_view"]

#: How the client's retry log names what each injected fault kind did to it.
_CLIENT_VIEW = {
    "429": "429",
    "500": "500",
    "502": "502",
    "503": "503",
    "stall": "timeout",
    "reset": "cut",
    "truncate": "cut",
}


def client_view(records: list[logging.LogRecord]) -> Counter[str]:
    """Survived faults as the client saw them: one retry (or create look-up) WARNING each."""
    seen: Counter[str] = Counter()
    for record in records:
        if record.name != "airflow_provider_batch.client" or not isinstance(record.args, tuple):
            continue
        if len(record.args) != 7:
            continue
        reason = str(record.args[3])
        if reason.startswith("HTTP "):
            seen[reason.removeprefix("HTTP ")] += 1
        else:
            seen["timeout" if "Timeout" in reason else "cut"] += 1
    return seen


def expected_view(injected: Mapping[str, int]) -> Counter[str]:
    """The server's per-kind fault counters, named the way :func:`client_view` names them."""
    expected: Counter[str] = Counter()
    for kind, count in injected.items():
        expected[_CLIENT_VIEW[kind]] += count
    return expected
