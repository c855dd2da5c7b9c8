"""Together Batch API input limits and the endpoints it takes (reference §7).

The endpoints themselves (paths, request checks, answer shapes) live in
:mod:`airflow_provider_batch.endpoints`; ``SUPPORTED_ENDPOINTS`` are those Together's batch API
takes, the default wherever no vendor is named.

Limits are a value object so tests and callers can shrink them (``BatchLimits(max_lines=3)``)
without touching module globals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_batch.endpoints import AUDIO_TRANSCRIPTIONS, AUDIO_TRANSLATIONS, CHAT_COMPLETIONS

__all__ = [
    "AUDIO_ENDPOINTS",
    "CHAT_ENDPOINT",
    "SUPPORTED_ENDPOINTS",
    "BatchLimits",
    "check_endpoint",
]

CHAT_ENDPOINT = CHAT_COMPLETIONS
AUDIO_ENDPOINTS = (AUDIO_TRANSCRIPTIONS, AUDIO_TRANSLATIONS)
SUPPORTED_ENDPOINTS = (CHAT_ENDPOINT, *AUDIO_ENDPOINTS)


def check_endpoint(endpoint: str, supported: Collection[str] = SUPPORTED_ENDPOINTS) -> None:
    """Raise ``ValueError`` unless ``endpoint`` is in ``supported`` (Together's by default: pass
    the vendor's ``endpoints`` otherwise)."""
    if endpoint not in supported:
        expected = ", ".join(supported)
        raise ValueError(f"unsupported endpoint {endpoint!r}; expected one of {expected}")


@dataclass(frozen=True)
class BatchLimits:
    """Per-batch limits enforced before upload.

    :param max_lines: most requests in one batch input file.
    :param max_bytes: largest input file, in bytes (newlines included).
    :param max_line_bytes: largest single request line, in bytes (its newline excluded).
    :param max_custom_id_len: longest ``custom_id``, in characters.
    :param custom_id_pattern: a regular expression every ``custom_id`` must match in full
        (``None``: any characters).
    """

    max_lines: int = 50_000
    max_bytes: int = 100 * 1024**2
    max_line_bytes: int = 10 * 1024**2
    max_custom_id_len: int = 64
    custom_id_pattern: str | None = None

    def merged(self, fields: Mapping[str, Any]) -> BatchLimits:
        """These limits with ``fields`` replaced (numbers as integers; a pattern as text, or
        ``None`` for any ``custom_id``)."""
        changes: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "custom_id_pattern":
                changes[name] = None if value is None else str(value)
            else:
                changes[name] = int(value)
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        for name in ("max_lines", "max_bytes", "max_line_bytes", "max_custom_id_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"BatchLimits.{name} must be >= 1")
