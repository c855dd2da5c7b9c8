"""The worker of one OpenAI batch: check and answer the input, run the shared processing clock, then
write the output and error files.

The clock is the shared server's (``testing/server/processing.py``: validating, in progress, cancel,
expiry, forced statuses and reset), fed an empty answer set so that it only decides *when* the
batch ends and how far it got (``frozen_progress``). The files are written here, after it, while
the wire shows ``finalizing``: the first ``done`` requests of a seeded processing order are
answered (output file, or error file for a 400), the rest get a ``batch_expired`` or
``batch_cancelled`` line in the error file.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from typing import IO, Any

from airflow_provider_batch.testing.server.processing import Prepared, _drive, _drop, _lines
from airflow_provider_batch.testing.server.records import FileRecord
from airflow_provider_batch.testing.server.responder import fail_once_code
from airflow_provider_batch.testing.server.store import Store
from airflow_provider_batch.vendors.openai.server.answers import (
    OPENAI_MODELS,
    Answer,
    answer,
    failed_line,
    unrun_line,
)
from airflow_provider_batch.vendors.openai.server.records import OpenAIBatchRecord
from airflow_provider_batch.vendors.openai.server.validation import (
    EMPTY_FILE,
    FILE_TOO_LARGE,
    TOO_MANY_REQUESTS,
    Invalid,
    LineChecker,
)

__all__ = ["catalog", "start_openai_worker"]

_UNRUN_CODE = {"EXPIRED": "batch_expired", "CANCELLED": "batch_cancelled"}


class _Answers(Prepared):
    """The answers on disk, plus what the files and counts need: ids, tokens, processing order."""

    def __init__(self, scratch: Any) -> None:
        super().__init__(scratch=scratch)
        self.custom_ids: list[str] = []
        self.tokens: list[tuple[int, int]] = []


def catalog(store: Store) -> dict[str, int]:
    """Model -> context window: OpenAI's models, unless the server's ``models`` were changed."""
    from airflow_provider_batch.testing.server.config import DEFAULT_MODELS

    if tuple(store.config.models) == DEFAULT_MODELS:
        return OPENAI_MODELS
    return dict.fromkeys(store.config.models, 128000)


def start_openai_worker(store: Store, record: OpenAIBatchRecord) -> threading.Thread:
    """Start the daemon thread that drives ``record`` to a terminal status and writes its files."""
    thread = threading.Thread(target=_run, args=(store, record), name=f"oai-{record.id[6:14]}", daemon=True)
    thread.start()
    return thread


def _run(store: Store, record: OpenAIBatchRecord) -> None:
    answers: _Answers | None = None
    error: str | None = None
    try:
        answers = _prepare(store, record)
    except Invalid as exc:
        record.errors, error = [exc.item()], exc.message
    except Exception as exc:  # an unreadable file or a responder bug must end the batch, not hang it
        record.errors = [Invalid("internal_error", f"{type(exc).__name__}: {exc}").item()]
        error = record.errors[0]["message"]
    try:
        clock = Prepared(scratch=answers.scratch) if answers is not None else None
        _drive(store, record, clock, error)  # the shared clock; writes two empty files at the end
        if answers is not None:
            _finalize(store, record, answers)
    except Exception as exc:  # never leave a client polling a batch that cannot end
        with store.lock:
            record.status, record.error = "FAILED", f"internal error: {type(exc).__name__}: {exc}"
            record.errors = [Invalid("internal_error", record.error).item()]
    finally:
        with store.lock:
            record.ended_at = record.completed_at or time.time()
            record.finalized.set()
        record.finished.set()
        if answers is not None:
            answers.scratch.unlink(missing_ok=True)


def _prepare(store: Store, record: OpenAIBatchRecord) -> _Answers:
    source = store.get_file(record.input_file_id)
    if source is None:
        raise Invalid("file_not_found", f"input file {record.input_file_id} was deleted")
    config = store.config
    models = catalog(store)
    checker = LineChecker(record.endpoint, set(models), config.max_custom_id_len)
    answers = _Answers(scratch=store.root / f"{record.id}-{uuid.uuid4().hex}.scratch")
    total = 0
    with source.path.open("rb") as reader, answers.scratch.open("wb") as scratch:
        for number, raw, oversized in _lines(reader, config.max_line_bytes):
            total += len(raw)
            if total > config.max_bytes or oversized:
                raise Invalid(
                    FILE_TOO_LARGE, f"The input file is larger than {config.max_bytes} bytes.", number
                )
            if not raw.strip():
                continue
            if len(checker.seen) >= config.max_lines:
                message = f"The input file has more than {config.max_lines} requests."
                raise Invalid(TOO_MANY_REQUESTS, message, number)
            line = checker.check(number, raw)
            context = models[str(line["body"]["model"])]
            result = transient(store, record, line) or answer(
                line, record.endpoint, context, batch_id=record.id, created=int(record.created_at)
            )
            _append(scratch, answers, result, config.omit_line_fields)
    if not answers.spans:
        raise Invalid(EMPTY_FILE, "The input file holds no requests.")
    _count(store, record, answers, checker.model)
    return answers


def transient(store: Store, record: OpenAIBatchRecord, line: dict[str, Any]) -> Answer | None:
    """A ``[[fail-once:CODE]]`` line's first sight on this server: a 500 error-file line with that
    code (the shared control plane's marker; later batches carrying it get a normal answer)."""
    code = fail_once_code(line, record.endpoint)
    if code is None or not store.first_sight(str(line["custom_id"])):
        return None
    return failed_line(record.id, str(line["custom_id"]), 500, f"simulated transient failure: {code}", code)


def _append(
    scratch: IO[bytes],
    answers: _Answers,
    result: tuple[dict[str, Any], bool, int, int],
    omit: tuple[str, ...] = (),
) -> None:
    line, is_error, prompt, completion = result
    answers.custom_ids.append(line["custom_id"])
    for path in omit:  # ``omit_line_fields``: a difference injected for the doctor's tests
        _drop(line, path.split("."))
    data = (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    answers.spans.append((scratch.tell(), len(data), is_error))
    answers.tokens.append((prompt, completion))
    scratch.write(data)


def _order(store: Store, record: OpenAIBatchRecord, size: int) -> list[int]:
    order = list(range(size))
    random.Random(f"{store.config.seed}:{record.input_sha256}").shuffle(order)
    return order


def _count(store: Store, record: OpenAIBatchRecord, answers: _Answers, model: str | None) -> None:
    prefix = [0]
    for index in _order(store, record, len(answers.spans)):
        prefix.append(prefix[-1] + int(answers.spans[index][2]))
    with store.lock:
        record.model_id, record.total, record.failed_prefix = model, len(answers.spans), prefix


def _finalize(store: Store, record: OpenAIBatchRecord, answers: _Answers) -> None:
    """Write both files of a batch the clock has ended (unless it failed or the store was reset)."""
    with store.lock:
        if not store.is_current(record):
            return
        if record.status == "FAILED":  # forced: no files, like a failed batch on the live API
            record.errors = record.errors or [Invalid("batch_failed", record.error or "batch failed").item()]
            return
        record.finalizing_at = time.time()
        output, errors = (
            store.get_file(record.output_file_id or ""),
            store.get_file(record.error_file_id or ""),
        )
    if output is None or errors is None:
        return
    done = math.floor(len(answers.spans) * (record.frozen_progress or 0.0) / 100.0)
    tally = _write(store, record, answers, done, output, errors)
    with store.lock:
        record.counts = (tally["output"], tally["failed"])
        record.usage = _usage(answers, tally["answered"])
        for file, lines in ((output, tally["output"]), (errors, tally["errors"])):
            file.purpose = "batch_output"
            if not lines:
                store.files.pop(file.id, None)
        record.output_file_id = output.id if tally["output"] else None
        record.error_file_id = errors.id if tally["errors"] else None


def _write(
    store: Store,
    record: OpenAIBatchRecord,
    answers: _Answers,
    done: int,
    output: FileRecord,
    errors: FileRecord,
) -> dict[str, Any]:
    order = _order(store, record, len(answers.spans))
    unrun = _UNRUN_CODE.get(record.status, "batch_expired")
    tally: dict[str, Any] = {"output": 0, "errors": 0, "failed": 0, "answered": order[:done]}
    sizes = {"output": 0, "errors": 0}
    with answers.scratch.open("rb") as scratch, output.path.open("wb") as out, errors.path.open("wb") as err:
        for index in order[:done]:
            offset, length, is_error = answers.spans[index]
            scratch.seek(offset)
            (err if is_error else out).write(scratch.read(length))
            key = "errors" if is_error else "output"
            tally[key] += 1
            tally["failed"] += int(is_error)
            sizes[key] += length
        for index in order[done:]:
            line = unrun_line(record.id, answers.custom_ids[index], unrun)
            data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            err.write(data)
            tally["errors"] += 1
            sizes["errors"] += len(data)
    store.finish_upload(output, sizes["output"], None, tally["output"], client_upload=False)
    store.finish_upload(errors, sizes["errors"], None, tally["errors"], client_upload=False)
    return tally


def _usage(answers: _Answers, answered: list[int]) -> dict[str, Any]:
    prompt = sum(answers.tokens[i][0] for i in answered)
    completion = sum(answers.tokens[i][1] for i in answered)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
