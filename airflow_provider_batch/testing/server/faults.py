"""Fault choice: one-shot scripted faults first, then seeded random ones."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_batch.testing.server.config import FAULT_KINDS, ServerConfig
from airflow_provider_batch.testing.server.routing import download_templates

__all__ = ["CONTENT_TEMPLATE", "FaultInjector", "ScriptedFault"]

CONTENT_TEMPLATE = "GET /v1/files/{id}/content"


@dataclass
class ScriptedFault:
    """A fault to inject on the next ``times`` requests matching ``route`` (a template or ``"*"``)."""

    route: str
    kind: str
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        downloads = download_templates()
        if self.kind == "truncate" and self.route not in ("*", *downloads):
            raise ValueError(f"'truncate' only applies to {' or '.join(map(repr, downloads))}")


class FaultInjector:
    """Decides which request gets which fault.

    :param config: the live configuration (``fault_rate``, ``fault_kinds``, ``seed``).
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Drop scripted faults and re-seed the random choice."""
        with self._lock:
            self.script: list[ScriptedFault] = []
            self.rng = random.Random(f"faults:{self.config.seed}")

    def add(self, fault: ScriptedFault) -> None:
        with self._lock:
            self.script.append(fault)

    def choose(self, template: str | None) -> tuple[str, dict[str, Any]] | None:
        """The fault for a request on ``template``, or ``None``."""
        with self._lock:
            for fault in self.script:
                if fault.route in ("*", template) and self._applies(fault.kind, template):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.script.remove(fault)
                    return fault.kind, dict(fault.params)
            if self.config.fault_rate <= 0 or self.rng.random() >= self.config.fault_rate:
                return None
            kinds = [k for k in self.config.fault_kinds if self._applies(k, template)]
            return (self.rng.choice(kinds), {}) if kinds else None

    @staticmethod
    def _applies(kind: str, template: str | None) -> bool:
        return kind != "truncate" or template in download_templates()
