"""The worker thread of one batch: validate and answer the input line by line, then let simulated
time pass and deliver the output and error files.

Answers go to a scratch file as they are computed; only their offsets stay in memory. At the end
the first ``k`` requests of a seeded processing order are copied to the output or error file, so
the lines come out shuffled against the input and a partial end (expired, cancelled) delivers
exactly the requests finished so far.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_batch.testing.server.records import BatchRecord, FileRecord
from airflow_provider_batch.testing.server.responder import error_line, fail_once_code, respond
from airflow_provider_batch.testing.server.store import Store

__all__ = ["start_batch_worker"]

_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"((?:[^"\\]|\\.){0,256})"')
_CHUNK = 1 << 20


class ValidationFailed(Exception):
    """The input file breaks a batch rule; the batch ends ``FAILED``."""


@dataclass
class Prepared:
    """Answers of every request, on disk, with their offsets."""

    scratch: Path
    spans: list[tuple[int, int, bool]] = field(default_factory=list)
    models: Counter[str] = field(default_factory=Counter)


def start_batch_worker(store: Store, record: BatchRecord) -> threading.Thread:
    """Start the daemon thread that drives ``record`` to a terminal status."""
    thread = threading.Thread(target=_run, args=(store, record), name=f"batch-{record.id[:8]}", daemon=True)
    thread.start()
    return thread


def _run(store: Store, record: BatchRecord) -> None:
    prepared: Prepared | None = None
    try:
        prepared = _prepare(store, record)
        error = None
    except ValidationFailed as exc:
        error = f"validation failed: {exc}"
    except OSError as exc:
        error = f"error reading input file: {exc}"
    except Exception as exc:  # a responder bug must end the batch, not hang it
        error = f"internal error: {type(exc).__name__}: {exc}"
    try:
        _drive(store, record, prepared, error)
    except Exception as exc:  # never leave a client polling a batch that cannot end
        with store.lock:
            if store.is_current(record):
                record.status, record.error = "FAILED", f"internal error: {type(exc).__name__}: {exc}"
                record.completed_at = time.time()
    finally:
        record.finished.set()
        if prepared is not None:
            prepared.scratch.unlink(missing_ok=True)


def _wait_until(record: BatchRecord, moment: float) -> None:
    """Sleep until ``moment`` or until the batch is woken (cancel, force, reset)."""
    delay = moment - time.time()
    if delay > 0 and record.wake.wait(delay):
        record.wake.clear()


def _interrupted(record: BatchRecord) -> bool:
    return record.forced_status is not None or record.cancel_requested_at is not None


def _drive(store: Store, record: BatchRecord, prepared: Prepared | None, error: str | None) -> None:
    config = store.config
    while not _interrupted(record) and time.time() < min(
        record.created_at + config.validating_seconds, record.deadline
    ):
        _wait_until(record, min(record.created_at + config.validating_seconds, record.deadline))
    if prepared is None or error is not None:
        _finish(store, record, None, record.forced_status or "FAILED", error=error)
        return
    if not _interrupted(record) and time.time() < record.deadline:
        with store.lock:
            record.started_at = time.time()
            record.status = "IN_PROGRESS"
    while True:
        now = time.time()
        if record.forced_status is not None:
            _finish(store, record, prepared, record.forced_status)
            return
        if record.cancel_requested_at is not None:
            end = record.cancel_requested_at + config.cancel_seconds
            if now >= end:
                _finish(store, record, prepared, "CANCELLED")
                return
            _wait_until(record, end)
            continue
        if now >= record.deadline:
            with store.lock:
                record.frozen_progress = round(record.fraction_done(record.deadline) * 100.0, 2)
            _finish(store, record, prepared, "EXPIRED")
            return
        done_at = (record.started_at or now) + record.processing_seconds
        if now >= done_at:
            _finish(store, record, prepared, "COMPLETED")
            return
        _wait_until(record, min(done_at, record.deadline))


def _finish(
    store: Store, record: BatchRecord, prepared: Prepared | None, status: str, error: str | None = None
) -> None:
    with store.lock:
        if not store.is_current(record):
            return  # the store was reset while this batch ran
        if status == "COMPLETED":
            record.frozen_progress = 100.0
        elif record.frozen_progress is None:
            record.frozen_progress = round(record.fraction_done(time.time()) * 100.0, 2)
        deliver = prepared is not None and status != "FAILED"
        if deliver:
            name = f"batch_{record.id}"
            output = store.new_file(f"{name}_output.jsonl", "batch-generated", "jsonl")
            errors = store.new_file(f"{name}_error.jsonl", "batch-generated", "jsonl")
    if deliver and prepared is not None:
        done = math.floor(len(prepared.spans) * record.frozen_progress / 100.0)
        _deliver(store, record, prepared, done, output, errors)
    with store.lock:
        if deliver:
            record.output_file_id, record.error_file_id = output.id, errors.id
        record.error = (error or "batch failed") if status == "FAILED" else None
        record.status = status
        record.completed_at = time.time()


def _deliver(
    store: Store, record: BatchRecord, prepared: Prepared, done: int, output: FileRecord, errors: FileRecord
) -> None:
    order = list(range(len(prepared.spans)))
    random.Random(f"{store.config.seed}:{record.input_sha256}").shuffle(order)
    counts = {True: 0, False: 0}
    sizes = {True: 0, False: 0}
    with prepared.scratch.open("rb") as scratch, output.path.open("wb") as out, errors.path.open("wb") as err:
        for index in order[:done]:
            offset, length, is_error = prepared.spans[index]
            scratch.seek(offset)
            (err if is_error else out).write(scratch.read(length))
            counts[is_error] += 1
            sizes[is_error] += length
    store.finish_upload(output, sizes[False], None, counts[False], client_upload=False)
    store.finish_upload(errors, sizes[True], None, counts[True], client_upload=False)


def _prepare(store: Store, record: BatchRecord) -> Prepared:
    source = store.get_file(record.input_file_id)
    if source is None:
        raise ValidationFailed(f"input file {record.input_file_id} was deleted")
    prepared = Prepared(scratch=store.root / f"{record.id}-{uuid.uuid4().hex}.scratch")
    created = int(record.created_at)
    with source.path.open("rb") as reader, prepared.scratch.open("wb") as scratch:
        seen: set[str] = set()
        total = 0
        for number, raw, oversized in _lines(reader, store.config.max_line_bytes):
            total += len(raw)
            if total > store.config.max_bytes:
                raise ValidationFailed(f"line {number}: input file exceeds {store.config.max_bytes} bytes")
            if not raw.strip() and not oversized:
                continue
            if len(seen) >= store.config.max_lines:
                raise ValidationFailed(f"line {number}: more than {store.config.max_lines} requests")
            if oversized:
                match = _CUSTOM_ID.search(raw[:4096])
                custom_id = json.loads(b'"' + match.group(1) + b'"') if match else f"line-{number}"
                seen.add(custom_id)
                answer = error_line(custom_id, "error reading input file", "invalid_request")
            else:
                line = _parse_line(store, number, raw, seen)
                prepared.models[str(line["body"].get("model"))] += 1
                answer = _answer(store, record, line, created)
            _append(scratch, prepared, answer, store.config.omit_line_fields)
    if prepared.models:
        record.model_id = prepared.models.most_common(1)[0][0]
    return prepared


def _answer(store: Store, record: BatchRecord, line: dict[str, Any], created: int) -> dict[str, Any]:
    code = fail_once_code(line, record.endpoint)
    if code is not None and store.first_sight(str(line["custom_id"])):
        return error_line(str(line["custom_id"]), f"simulated transient failure: {code}", code)
    return respond(line, record.endpoint, store.config.models, batch_id=record.id, created=created)


def _append(scratch: IO[bytes], prepared: Prepared, answer: dict[str, Any], omit: tuple[str, ...]) -> None:
    is_error = "error" in answer
    for path in omit:
        _drop(answer, path.split("."))
    data = (json.dumps(answer, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    prepared.spans.append((scratch.tell(), len(data), is_error))
    scratch.write(data)


def _drop(value: Any, path: list[str]) -> None:
    """Remove the key at ``path`` (dotted, split) from nested dicts, if it is there."""
    for key in path[:-1]:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value.pop(path[-1], None)


def _lines(reader: IO[bytes], limit: int) -> Any:
    """Yield ``(number, bytes, oversized)``; an oversized line yields its first ``limit`` bytes."""
    number = 0
    while True:
        raw = reader.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):
                rest = reader.readline(_CHUNK)
            yield number, raw[:limit], True
        else:
            yield number, raw, False


def _parse_line(store: Store, number: int, raw: bytes, seen: set[str]) -> dict[str, Any]:
    try:
        line = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(f"line {number}: not valid JSON ({exc})") from None
    if not isinstance(line, dict):
        raise ValidationFailed(f"line {number}: expected a JSON object")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise ValidationFailed(f"line {number}: custom_id must be a non-empty string")
    if len(custom_id) > store.config.max_custom_id_len:
        raise ValidationFailed(
            f"line {number}: custom_id is longer than {store.config.max_custom_id_len} characters"
        )
    if custom_id in seen:
        raise ValidationFailed(f"line {number}: duplicate custom_id {custom_id!r}")
    seen.add(custom_id)
    if not isinstance(line.get("body"), dict):
        raise ValidationFailed(f"line {number}: body must be a JSON object")
    return line
