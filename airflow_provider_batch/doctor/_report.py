"""What the doctor found: findings grouped in steps, and how they are printed (text or JSON).

Every string that leaves this module goes through a :class:`Redactor`, so a secret (the API key)
that slipped into an error message is replaced before anything is printed.
"""

from __future__ import annotations

import enum
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Redactor", "Report", "Severity", "Step", "StepAbort", "StepRunner", "step_text"]


class Severity(str, enum.Enum):
    """How much a finding matters.

    ``WARN``: differs from what the provider expects, but a pipeline would still run and load
    correct rows. ``FAIL``: a pipeline would break, hang, or load wrong rows or spend.
    """

    OK = "OK"
    INFO = "INFO"
    WARN = "WARN"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One observation; ``severity`` says whether it differs from the provider's expectations."""

    severity: Severity
    message: str


@dataclass
class Step:
    """One step of the run (upload, create, wait, ...), with its duration and what it saw."""

    name: str
    title: str
    seconds: float | None = None
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, severity: Severity, message: str) -> None:
        self.findings.append(Finding(severity, message))

    def info(self, message: str) -> None:
        self.add(Severity.INFO, message)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)


_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


class Redactor:
    """Replaces each secret, as written or escaped (``repr``), and any bearer token with ``***``.

    :param secrets: the values never to print (the API key); shorter than 4 characters are ignored.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        forms = set(self._forms)
        for secret in secrets:
            if secret and len(secret) >= 4:
                forms.update({secret, repr(secret)[1:-1], repr(secret.encode())[2:-1], secret.strip()})
                forms.update({urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)})
        self._forms = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return _BEARER.sub(r"\1***", text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


@dataclass
class Report:
    """Everything one doctor run saw: a vendor's batch (``vendor`` … ``estimated_usd``; ``None``
    when only a warehouse is checked), a warehouse (``warehouse``: its connection and scratch
    tables), or both."""

    vendor: str | None
    conn_id: str | None
    base_url: str | None
    model: str | None
    estimated_usd: float | None
    steps: list[Step] = field(default_factory=list)
    warehouse: dict[str, Any] | None = None

    def findings(self, severity: Severity) -> list[Finding]:
        return [f for step in self.steps for f in step.findings if f.severity is severity]

    @property
    def exit_code(self) -> int:
        """0 when nothing would break a pipeline, 1 on any FAIL."""
        return 1 if self.findings(Severity.FAIL) else 0

    def to_json(self, redact: Redactor) -> str:
        body = {
            "vendor": self.vendor,
            "conn_id": self.conn_id,
            "base_url": self.base_url,
            "model": self.model,
            "estimated_usd": self.estimated_usd,
            "warehouse": self.warehouse,
            "steps": [
                {
                    "name": s.name,
                    "title": s.title,
                    "seconds": s.seconds,
                    "findings": [{"severity": f.severity.value, "message": f.message} for f in s.findings],
                    "data": s.data,
                }
                for s in self.steps
            ],
            "fail": len(self.findings(Severity.FAIL)),
            "warn": len(self.findings(Severity.WARN)),
            "exit_code": self.exit_code,
        }
        return json.dumps(redact.value(body), indent=2, default=str)

    def summary_text(self) -> str:
        fails, warns = len(self.findings(Severity.FAIL)), len(self.findings(Severity.WARN))
        verdict = "would break a pipeline" if fails else "nothing that would break a pipeline"
        return f"Result: {fails} FAIL, {warns} WARN: {verdict} (exit {self.exit_code})"


def step_text(step: Step, number: int) -> str:
    """A step as printed, one finding a line, its severity first."""
    took = f" ({step.seconds:.2f} s)" if step.seconds is not None else ""
    lines = [f"[{number}] {step.title}{took}"]
    for finding in step.findings:
        lines.append(f"    {finding.severity.value:<4}  {finding.message}")
    return "\n".join(lines)


class StepAbort(Exception):
    """A step failed; the run stops (the FAIL is already in the report)."""


@dataclass
class StepRunner:
    """Runs steps: each is timed, added to ``report`` and emitted when it ends; an exception in a
    step becomes a FAIL naming the step, then :class:`StepAbort`."""

    report: Report
    emit: Callable[[Step], None]
    clock: Callable[[], float]
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, title: str) -> Iterator[Step]:
        step = Step(name, title)
        started = self.clock()
        try:
            yield step
        except StepAbort:
            raise
        except Exception as exc:  # reported with the step's name; secrets are redacted on output
            step.add(Severity.FAIL, f"{name} failed: {type(exc).__name__}: {exc}")
            raise StepAbort from exc
        finally:
            step.seconds = round(self.clock() - started, 3)
            self.timings.setdefault(name, step.seconds)
            self.report.steps.append(step)
            self.emit(step)
