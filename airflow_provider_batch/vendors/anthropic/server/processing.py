"""The worker of one Message Batch: answer its requests, run the shared processing clock, then write
the results file.

The clock is the shared server's (``testing/server/processing.py``: start, cancel, expiry, forced
statuses and reset), fed an empty answer set so that it only decides *when* the batch ends and
how far it got (``frozen_progress``). The results are written here, after it: the first ``done``
requests of a seeded processing order get their answer, the others ``canceled`` (a canceled
batch), ``expired`` (an expired one) or an ``api_error`` (a batch forced to ``FAILED`` from the
control plane, which Anthropic's API has no status for). Only then is the batch ``ended``.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from typing import Any

from airflow_provider_batch.testing.server.config import DEFAULT_MODELS
from airflow_provider_batch.testing.server.processing import Prepared, _drive, _drop
from airflow_provider_batch.testing.server.store import Store
from airflow_provider_batch.vendors.anthropic.server.answers import (
    ANTHROPIC_MODELS,
    CacheState,
    answer,
    errored,
    fail_once_code,
    marker_error_type,
)
from airflow_provider_batch.vendors.anthropic.server.records import AnthropicBatchRecord

__all__ = ["catalog", "start_anthropic_worker"]

#: What a request that never ran becomes, by the shared clock's terminal status.
_UNRUN = {"CANCELLED": "canceled", "EXPIRED": "expired"}


def catalog(store: Store) -> dict[str, tuple[int, int]]:
    """Model -> (context window, most output tokens): Anthropic's models, unless the server's
    ``models`` were changed (then those, with a 200k window and 64k output)."""
    if tuple(store.config.models) == DEFAULT_MODELS:
        return ANTHROPIC_MODELS
    return {m: ANTHROPIC_MODELS.get(m, (200_000, 64_000)) for m in store.config.models}


def start_anthropic_worker(store: Store, record: AnthropicBatchRecord) -> threading.Thread:
    """Start the daemon thread that drives ``record`` to ``ended`` and writes its results."""
    name = f"msgbatch-{record.id[-8:]}"
    thread = threading.Thread(target=_run, args=(store, record), name=name, daemon=True)
    thread.start()
    return thread


def _run(store: Store, record: AnthropicBatchRecord) -> None:
    answers: Prepared | None = None
    try:
        answers, custom_ids = _prepare(store, record)
        _drive(store, record, Prepared(scratch=answers.scratch), None)
        _finalize(store, record, answers, custom_ids)
    except Exception as exc:  # never leave a client polling a batch that cannot end
        with store.lock:
            record.status, record.error = "FAILED", f"internal error: {type(exc).__name__}: {exc}"
            record.counts = {"succeeded": 0, "errored": record.total, "canceled": 0, "expired": 0}
    finally:
        with store.lock:
            record.ended_at = record.completed_at or time.time()
            record.finalized.set()
        record.finished.set()
        if answers is not None:
            answers.scratch.unlink(missing_ok=True)


def _prepare(store: Store, record: AnthropicBatchRecord) -> tuple[Prepared, list[str]]:
    """Every request's result line on disk (``spans``: offset, length, errored), and its custom_id."""
    source = store.get_file(record.input_file_id)
    if source is None:
        raise RuntimeError(f"the requests of batch {record.id} are gone")
    models = catalog(store)
    cache = CacheState()
    answers = Prepared(scratch=store.root / f"{record.id}-{uuid.uuid4().hex}.scratch")
    custom_ids: list[str] = []
    with source.path.open("rb") as reader, answers.scratch.open("wb") as scratch:
        for raw in reader:
            request = json.loads(raw)
            custom_id, params = request["custom_id"], request.get("params")
            marked = b"[[fail" in raw  # markers are rare: search for them only where they can be
            code = fail_once_code(params) if marked else None
            if code is not None and store.first_sight(custom_id):
                kind = marker_error_type(code, transient=True)
                line, ok = errored(custom_id, kind, f"simulated transient failure: {code}"), False
            else:
                line, ok, _ = answer(custom_id, params, models, cache, batch_id=record.id, marked=marked)
            for path in store.config.omit_line_fields:  # a difference injected for the doctor's tests
                _drop(line, path.split("."))
            data = (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
            answers.spans.append((scratch.tell(), len(data), not ok))
            custom_ids.append(custom_id)
            scratch.write(data)
    return answers, custom_ids


def _finalize(store: Store, record: AnthropicBatchRecord, answers: Prepared, custom_ids: list[str]) -> None:
    """Write the results of a batch the clock has ended, and its counts."""
    with store.lock:
        if not store.is_current(record):
            return  # the store was reset while this batch ran
        results = store.get_file(record.output_file_id or "")
        if record.error_file_id:  # the shared clock's second file: Anthropic has one results file
            store.delete_file(record.error_file_id)
        record.error_file_id = None
    if results is None:  # a forced FAILED delivers no files on the shared clock
        results = store.new_file(f"{record.id}_results.jsonl", "batch-results", "jsonl")
    status = record.status
    done = math.floor(record.total * (record.frozen_progress or 0.0) / 100.0)
    order = list(range(record.total))
    random.Random(f"{store.config.seed}:{record.input_sha256}").shuffle(order)
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    size = 0
    with answers.scratch.open("rb") as scratch, results.path.open("wb") as out:
        for index in order[:done]:
            offset, length, failed = answers.spans[index]
            scratch.seek(offset)
            out.write(scratch.read(length))
            counts["errored" if failed else "succeeded"] += 1
            size += length
        for index in order[done:]:
            custom_id = custom_ids[index]
            if status in _UNRUN:
                line: dict[str, Any] = {"custom_id": custom_id, "result": {"type": _UNRUN[status]}}
                counts[_UNRUN[status]] += 1
            else:  # forced FAILED: the unfinished requests fail with a server error
                line = errored(custom_id, "api_error", "the batch failed before this request ran")
                counts["errored"] += 1
            data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            out.write(data)
            size += len(data)
    store.finish_upload(results, size, None, record.total, client_upload=False)
    with store.lock:
        results.purpose = "batch-results"
        record.results_file_id, record.counts = results.id, counts
