"""In-memory records of files and batches, and their wire JSON."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_batch.core.status import TERMINAL_STATUS_NAMES

__all__ = ["TERMINAL", "BatchRecord", "FileRecord", "rfc3339"]

TERMINAL = TERMINAL_STATUS_NAMES


def rfc3339(epoch: float | None) -> str | None:
    """``2026-01-01T10:00:00.123456Z`` for an epoch time, ``None`` for ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FileRecord:
    """One stored file: an upload (possibly still pending) or a batch's output or error file."""

    id: str
    filename: str
    purpose: str
    file_type: str
    created_at: int
    path: Path
    upload_token: str = ""
    bytes: int = 0
    line_count: int = 0
    sha256: str | None = None
    uploaded: bool = False
    parts: dict[int, tuple[Path, str]] = field(default_factory=dict)
    upload_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The FileResponse of §4.1 (PascalCase ``FileType``, ``LineCount``, ``Processed``)."""
        return {
            "id": self.id,
            "object": "file",
            "created_at": self.created_at,
            "filename": self.filename,
            "bytes": self.bytes,
            "purpose": self.purpose,
            "FileType": self.file_type,
            "LineCount": self.line_count,
            "Processed": self.uploaded,
            "processing_status": "COMPLETED" if self.uploaded else "PENDING",
        }


@dataclass
class BatchRecord:
    """One batch and the bookkeeping its worker thread needs."""

    id: str
    user_id: str
    input_file_id: str
    file_size_bytes: int
    endpoint: str
    created_at: float
    deadline: float
    status: str = "VALIDATING"
    model_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    completed_at: float | None = None
    started_at: float | None = None
    processing_seconds: float = 1.0
    input_sha256: str = ""
    frozen_progress: float | None = None
    cancel_requested_at: float | None = None
    forced_status: str | None = None
    wake: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def fraction_done(self, now: float) -> float:
        """Share of requests finished at ``now`` (0 while validating, time-proportional after)."""
        if self.frozen_progress is not None:
            return self.frozen_progress / 100.0
        if self.started_at is None:
            return 0.0
        if self.processing_seconds <= 0:
            return 1.0
        return min(max((now - self.started_at) / self.processing_seconds, 0.0), 1.0)

    def to_json(self, now: float) -> dict[str, Any]:
        """The 14-key BatchJob of §3.1."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "input_file_id": self.input_file_id,
            "file_size_bytes": self.file_size_bytes,
            "status": self.status,
            "job_deadline": rfc3339(self.deadline),
            "created_at": rfc3339(self.created_at),
            "endpoint": self.endpoint,
            "progress": round(self.fraction_done(now) * 100.0, 2),
            "model_id": self.model_id,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "error": self.error,
            "completed_at": rfc3339(self.completed_at),
        }

    def summary(self) -> dict[str, Any]:
        """The short form listed by ``stats()``."""
        return {
            "id": self.id,
            "input_file_id": self.input_file_id,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
        }
