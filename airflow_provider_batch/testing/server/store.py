"""State of the local server: files on disk, batch records, counters. Thread-safe."""

from __future__ import annotations

import hashlib
import random
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from airflow_provider_batch.testing.server.config import ServerConfig
from airflow_provider_batch.testing.server.records import TERMINAL, BatchRecord, FileRecord

__all__ = ["BATCH_ENDPOINTS", "Store"]

BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations")


#: Shared by every seeded batch: they are finished and have no worker to wake.
_SEEDED_WAKE = threading.Event()
_SEEDED_FINISHED = threading.Event()
_SEEDED_FINISHED.set()


class Store:
    """Files, batches and statistics of one server instance.

    :param config: the live configuration (read at each use, so run-time changes apply).
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._own_dir = config.data_dir is None
        self.root = Path(config.data_dir or tempfile.mkdtemp(prefix="together-local-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._init_state()
        if config.seed_files:
            self.seed_history(config.seed_files)

    def _init_state(self) -> None:
        self.files: dict[str, FileRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.uploads = 0
        self.batch_creates = 0
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.fail_once_seen: set[str] = set()

    @staticmethod
    def new_uuid() -> str:
        """A random UUID4, never the seed's: ids are unique across resets and restarts, so rows kept
        in a warehouse between test runs never collide."""
        return str(uuid.uuid4())

    @property
    def user_id(self) -> str:
        return hashlib.sha256(f"user:{self.config.seed}".encode()).hexdigest()[:24]

    # -- files ---------------------------------------------------------------------------

    def new_file(self, filename: str, purpose: str, file_type: str) -> FileRecord:
        """Register a file whose bytes are still to come."""
        file_id = "file-" + self.new_uuid()
        record = FileRecord(
            id=file_id,
            filename=filename,
            purpose=purpose,
            file_type=file_type or "jsonl",
            created_at=int(time.time()),
            path=self.root / f"{file_id}.data",
            upload_token=secrets.token_hex(16),
        )
        with self.lock:
            self.files[file_id] = record
        return record

    def finish_upload(
        self, record: FileRecord, size: int, sha256: str | None, lines: int, *, client_upload: bool = True
    ) -> None:
        """Mark a file readable once its bytes are on disk (``client_upload`` counts it in stats)."""
        with self.lock:
            record.bytes, record.sha256, record.line_count = size, sha256, lines
            record.uploaded = True
            self.uploads += int(client_upload)

    def get_file(self, file_id: str) -> FileRecord | None:
        with self.lock:
            return self.files.get(file_id)

    def list_files(self) -> list[FileRecord]:
        with self.lock:
            return sorted(self.files.values(), key=lambda f: f.created_at)

    def by_checksum(self, sha256: str) -> FileRecord | None:
        """The uploaded file with this SHA-256, if any."""
        with self.lock:
            return next((f for f in self.files.values() if f.uploaded and f.sha256 == sha256), None)

    def delete_file(self, file_id: str) -> bool:
        with self.lock:
            record = self.files.pop(file_id, None)
        if record is None:
            return False
        record.path.unlink(missing_ok=True)
        for part, _ in record.parts.values():
            part.unlink(missing_ok=True)
        return True

    # -- batches -------------------------------------------------------------------------

    def unusable_reason(self, input_file_id: str) -> str | None:
        """Why a file cannot feed a batch (``None`` when it can)."""
        record = self.get_file(input_file_id)
        if record is None:
            return f"input file {input_file_id} not found"
        if record.purpose != "batch-api":
            return f"input file {input_file_id} has purpose {record.purpose!r}, expected 'batch-api'"
        if not record.uploaded:
            return f"input file {input_file_id} has not been uploaded"
        return None

    def new_batch(self, input_file_id: str, endpoint: str) -> BatchRecord:
        """Record a new batch in ``VALIDATING``; the caller starts its worker."""
        now = time.time()
        with self.lock:
            record = BatchRecord(
                id=self.new_uuid(),
                user_id=self.user_id,
                input_file_id=input_file_id,
                file_size_bytes=self.files[input_file_id].bytes,
                input_sha256=self.files[input_file_id].sha256 or "",
                endpoint=endpoint,
                created_at=now,
                deadline=now + self.config.completion_window_seconds,
                processing_seconds=self.config.processing_seconds,
            )
            self.batches[record.id] = record
            self.batch_creates += 1
        return record

    def is_current(self, record: BatchRecord) -> bool:
        """``False`` once the store was reset after ``record`` was created."""
        with self.lock:
            return self.batches.get(record.id) is record

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        with self.lock:
            return self.batches.get(batch_id)

    def list_batches(self) -> list[BatchRecord]:
        """Newest first."""
        with self.lock:
            return sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)

    def request_cancel(self, record: BatchRecord) -> bool:
        """Move a live batch to ``CANCELING``; ``False`` if it is already terminal."""
        with self.lock:
            if record.status in TERMINAL:
                return False
            if record.status != "CANCELING":
                now = time.time()
                record.frozen_progress = round(record.fraction_done(now) * 100.0, 2)
                record.cancel_requested_at = now
                record.status = "CANCELING"
        record.wake.set()
        return True

    def force_status(self, record: BatchRecord, status: str, timeout: float = 10.0) -> None:
        """Ask the batch's worker to end the batch in ``status`` now, and wait until it has."""
        if status not in TERMINAL:
            raise ValueError(f"can only force a terminal status, one of {sorted(TERMINAL)}")
        with self.lock:
            record.forced_status = status
        record.wake.set()
        if not record.finished.wait(timeout):
            raise TimeoutError(f"batch {record.id} did not reach {status} within {timeout} s")

    # -- seeded history ------------------------------------------------------------------

    def seed_history(self, files: int) -> None:
        """Add an account history of ``files`` files: ``files // 3`` COMPLETED batches with their
        input, output and error files, plus ``files % 3`` lone inputs, one second apart, ending an
        hour ago. The files hold no bytes (their content answers 404) and count as neither uploads
        nor batch creates in :meth:`stats`."""
        rng = random.Random(secrets.randbits(128))  # random ids, like every other id (fast to draw)
        start = time.time() - 3600 - files
        # One absent path and one token for all: they have no bytes and take no upload.
        self._history = (self.root / "history-without-bytes.data", secrets.token_hex(16))
        with self.lock:
            for index in range(files - files % 3, files):
                self._seed_file(rng, self._seed_name(rng), "batch-api", start + index)
            for index in range(0, files - files % 3, 3):
                self._seed_batch(rng, start + index)

    @staticmethod
    def _seed_name(rng: random.Random) -> str:
        """A name shaped like the provider's uploads: ``apb-<identity>-<content hash>-p0001.jsonl``."""
        return f"apb-{rng.getrandbits(48):012x}-{rng.getrandbits(64):016x}-p0001.jsonl"

    def _seed_file(self, rng: random.Random, name: str, purpose: str, at: float) -> FileRecord:
        file_id = f"file-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        path, token = self._history
        record = FileRecord(
            id=file_id,
            filename=name,
            purpose=purpose,
            file_type="jsonl",
            created_at=int(at),
            path=path,
            upload_token=token,
            bytes=1000 + rng.randrange(9000),
            line_count=10,
            uploaded=True,
        )
        self.files[file_id] = record
        return record

    def _seed_batch(self, rng: random.Random, at: float) -> None:
        batch_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        source = self._seed_file(rng, self._seed_name(rng), "batch-api", at)
        output = self._seed_file(rng, f"batch_{batch_id}_output.jsonl", "batch-generated", at + 2)
        errors = self._seed_file(rng, f"batch_{batch_id}_error.jsonl", "batch-generated", at + 2)
        record = BatchRecord(
            id=batch_id,
            user_id=self.user_id,
            input_file_id=source.id,
            file_size_bytes=source.bytes,
            endpoint=BATCH_ENDPOINTS[0],
            created_at=at,
            deadline=at + self.config.completion_window_seconds,
            status="COMPLETED",
            model_id=self.config.models[0],
            output_file_id=output.id,
            error_file_id=errors.id,
            completed_at=at + 2,
            started_at=at,
            frozen_progress=100.0,
            wake=_SEEDED_WAKE,
            finished=_SEEDED_FINISHED,
        )
        self.batches[record.id] = record

    # -- stats and reset -----------------------------------------------------------------

    def count_request(self, template: str) -> None:
        with self.lock:
            self.requests[template] += 1

    def first_sight(self, custom_id: str) -> bool:
        """True the first time a ``[[fail-once:…]]`` line with this ``custom_id`` is processed
        (per server, until :meth:`reset`); later batches carrying it get a normal answer."""
        with self.lock:
            if custom_id in self.fail_once_seen:
                return False
            self.fail_once_seen.add(custom_id)
            return True

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1

    def stats(self) -> dict[str, Any]:
        """Counters and batch summaries (see the package docs for the keys)."""
        with self.lock:
            return {
                "uploads": self.uploads,
                "batch_creates": self.batch_creates,
                "batches": [b.summary() for b in sorted(self.batches.values(), key=lambda b: b.created_at)],
                "files": len(self.files),
                "requests": dict(self.requests),
                "faults_injected": dict(self.faults),
            }

    def reset(self) -> None:
        """Forget every file, batch and counter; running batches are abandoned."""
        with self.lock:
            for batch in self.batches.values():
                batch.forced_status = "CANCELLED"
                batch.wake.set()
            paths = [f.path for f in self.files.values()]
            self._init_state()
        for path in paths:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the data directory if this store created it."""
        self.reset()
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
