"""What a vendor supplies to the doctor: a :class:`VendorProbe` (its steps on the real API) and
its :class:`~airflow_provider_batch.doctor.expectations.VendorExpectations`.

The run itself (:mod:`airflow_provider_batch.doctor._run`) is the same for every vendor: it calls
these steps in order, times them, and checks what they return against the expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_batch.doctor.expectations import VendorExpectations

__all__ = ["BatchSeen", "Exchange", "Plan", "UploadSeen", "VendorProbe"]


@dataclass(frozen=True)
class Exchange:
    """One HTTP request of a step: method, where (query strings never kept), answer status."""

    method: str
    where: str
    status: int | None


@dataclass(frozen=True)
class Plan:
    """The batch the doctor will submit: its lines, model, endpoint and estimated cost."""

    model: str
    endpoint: str
    lines: list[dict[str, Any]]
    estimated_usd: float | None
    price_note: str = ""

    @property
    def custom_ids(self) -> list[str]:
        return [str(line["custom_id"]) for line in self.lines]


@dataclass(frozen=True)
class UploadSeen:
    """What the upload returned: the file id, the requests made, and what the API says of the file."""

    file_id: str
    flow: list[str]
    exchanges: list[Exchange]
    reported: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSeen:
    """One look at the batch: its status exactly as sent, and its file ids."""

    batch_id: str
    status: str
    progress: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    warning: str | None = None


class VendorProbe(Protocol):
    """The steps of one vendor. Errors are raised (the run reports them with the step's name)."""

    expectations: VendorExpectations
    base_url: str

    def secrets(self) -> list[str]:
        """Values that must never be printed (the API key)."""
        ...

    def plan(self, model: str | None, max_tokens: int) -> Plan:
        """The two tiny requests and their estimated cost (no request is sent)."""
        ...

    def upload(self, path: Path) -> UploadSeen: ...

    def create(self, file_id: str, plan: Plan) -> BatchSeen: ...

    def retrieve(self, batch_id: str) -> BatchSeen: ...

    def cancel(self, batch_id: str) -> BatchSeen: ...

    def download(self, file_id: str, dest: Path) -> list[Exchange]: ...

    def cleanup(self, file_ids: list[str]) -> str:
        """Delete the files the run made, best effort; says what happened."""
        ...

    def close(self) -> None: ...
