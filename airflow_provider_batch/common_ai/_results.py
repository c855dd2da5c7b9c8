"""A vendor's output and error files -> common.ai ``RawResultItem`` objects, each request exactly once.

Every vendor's client hands them over in the shared envelope; the answer is read the endpoint's
way (chat ``choices``, Messages ``content`` blocks). Successes are in the output file and per-request
failures in the error file, in any order. A request that never ran (an expired or cancelled batch)
is an error line the vendor names as such (:attr:`BatchVendor.unrun_error_statuses`: OpenAI,
Anthropic), yielded ``expired`` / ``cancelled``; Together writes **nothing** for it. So after both
files the requests not seen are yielded too, with the batch's own ending: ``expired`` for an
EXPIRED batch, ``cancelled`` for a CANCELLED one, and an ``errored`` item with
``type: "missing_result"`` otherwise (a finished batch that lost a line).

Both files are streamed to disk and read line by line; only the set of request indexes already
yielded stays in memory.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from airflow.providers.common.ai.batch.base import RawResultItem

from airflow_provider_batch.client.models import BatchJob, BatchStatus
from airflow_provider_batch.common_ai._recovery import key_of
from airflow_provider_batch.common_ai._requests import custom_id_for, index_from_custom_id
from airflow_provider_batch.ledger import LedgerError, SubmissionLedger
from airflow_provider_batch.results.models import ParsedLine
from airflow_provider_batch.results.parse import ParsedFile, iter_jsonl
from airflow_provider_batch.vendors.base import BatchVendor

__all__ = ["Expected", "expected_from_ledger", "iter_batch_results"]

log = logging.getLogger(__name__)

_UNREPORTED: dict[BatchStatus, Literal["expired", "cancelled"]] = {
    BatchStatus.EXPIRED: "expired",
    BatchStatus.CANCELLED: "cancelled",
}
#: A vendor's neutral row status of a request that never ran -> common.ai's provider status.
_UNRUN_ROWS: dict[str, Literal["expired", "cancelled"]] = {"expired": "expired", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Expected:
    """The requests a batch was submitted with: ``<key>-0`` ... ``<key>-<count - 1>``."""

    key: str
    count: int


def expected_from_ledger(ledger: SubmissionLedger | None, batch_id: str) -> Expected | None:
    """What the submission ledger recorded for ``batch_id`` at submit time, if it has the row."""
    if ledger is None:
        return None
    try:
        record = ledger.by_batch(batch_id)
    except LedgerError as exc:
        log.warning("common.ai batch %s: the submission ledger cannot be read (%s)", batch_id, exc)
        return None
    key = key_of(record) if record is not None else None
    if record is None or key is None or record.request_count is None:
        return None
    return Expected(key, record.request_count)


def _expected_from_input(
    client: Any, job: BatchJob, workdir: Path, vendor: BatchVendor | None
) -> Expected | None:
    """Fallback: read the batch's own input file (``<key>-<index>`` custom_ids, one per line),
    where the vendor lets it be downloaded again."""
    if not job.input_file_id or (vendor is not None and not vendor.input_downloadable):
        return None
    path = client.files.content(job.input_file_id, workdir / "input.jsonl")
    key: str | None = None
    count = 0
    for line in iter_jsonl(path):
        custom_id = line.value.get("custom_id") if isinstance(line.value, dict) else None
        if isinstance(custom_id, str) and key is None and index_from_custom_id(custom_id) is not None:
            key = custom_id.rpartition("-")[0]
        count += 1
    return Expected(key, count) if key is not None else None


def _usage(line: ParsedLine) -> dict[str, int] | None:
    """The line's usage, or ``None`` when it is unknown (not finite in the file)."""
    if line.prompt_tokens is None or line.completion_tokens is None:
        return None
    return {"input_tokens": line.prompt_tokens, "output_tokens": line.completion_tokens}


def _item(line: ParsedLine, custom_id: str, index: int, vendor: BatchVendor | None) -> RawResultItem:
    unrun = _UNRUN_ROWS.get(vendor.unrun_error_statuses.get(line.error_code or "", "")) if vendor else None
    if line.succeeded:
        return RawResultItem(
            custom_id=custom_id,
            index=index,
            provider_status="success",
            model=line.model,
            usage=_usage(line),
            finish_reason=line.finish_reason,
            error=None,
            raw=line.response_text,
        )
    return RawResultItem(
        custom_id=custom_id,
        index=index,
        provider_status=unrun or "errored",
        model=line.model,
        usage=None,
        finish_reason=line.finish_reason,
        error={
            "type": unrun or "provider_error",
            "message": line.error_message,
            "provider_code": line.error_code,
            "stage": "provider",
        },
        raw=None,
    )


def _unreported(job: BatchJob, custom_id: str, index: int) -> RawResultItem:
    status = _UNREPORTED.get(job.status)
    if status is not None:
        kind: str = status
        message = f"batch {job.id} ended {job.status.value} before this request ran"
    else:
        kind = "missing_result"
        message = (
            f"batch {job.id} ({job.status.value}) has no line for this request in its output or error file"
        )
    return RawResultItem(
        custom_id=custom_id,
        index=index,
        provider_status=status or "errored",
        model=None,
        usage=None,
        finish_reason=None,
        error={"type": kind, "message": message, "provider_code": None, "stage": "provider"},
        raw=None,
    )


def _index(custom_id: str, expected: Expected | None) -> int | None:
    """The request index of a result line, or ``None`` when the line is not one of ours."""
    if expected is not None and custom_id.rpartition("-")[0] != expected.key:
        return None
    return index_from_custom_id(custom_id)


def _iter_file(client: Any, job: BatchJob, file_id: str, kind: Literal["output", "error"], workdir: Path,
               expected: Expected | None, seen: set[int], vendor: BatchVendor | None,
               endpoint: str | None) -> Iterator[RawResultItem]:  # fmt: skip
    path = client.files.content(file_id, workdir / f"{kind}.jsonl")
    for line in ParsedFile(path, kind, endpoint):
        if line.custom_id is None:
            log.warning("common.ai batch %s: unreadable line %d of the %s file %s: %s",
                        job.id, line.line_no, kind, file_id, line.problem)  # fmt: skip
            continue
        index = _index(line.custom_id, expected)
        if index is None:  # a foreign custom_id: common.ai drops index -1 as out of range, and counts it
            yield _item(line, line.custom_id, -1, vendor)
            continue
        if index in seen:
            log.warning("common.ai batch %s: %s appears more than once; keeping the first line",
                        job.id, line.custom_id)  # fmt: skip
            continue
        seen.add(index)
        yield _item(line, line.custom_id, index, vendor)


def iter_batch_results(
    client: Any,
    job: BatchJob,
    expected: Expected | None,
    *,
    vendor: BatchVendor | None = None,
    endpoint: str | None = None,
) -> Iterator[RawResultItem]:
    """Every request of a finished batch, once: output lines, error lines, then the unreported.

    :param client: the vendor's synchronous client.
    :param job: the batch, as just retrieved.
    :param expected: the submitted requests; ``None`` reads them from the batch's input file
        (where ``vendor`` lets it be downloaded).
    :param vendor: the batch's vendor (which error lines name requests that never ran; ``None``:
        none do, and the input file can be read).
    :param endpoint: the batch's endpoint, whose answer shape the lines hold (``None``: by shape).
    """
    seen: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="apb-commonai-results-") as tmp:
        workdir = Path(tmp)
        if expected is None:
            expected = _expected_from_input(client, job, workdir, vendor)
        files: tuple[tuple[str | None, Literal["output", "error"]], ...] = (
            (job.output_file_id, "output"), (job.error_file_id, "error"),
        )  # fmt: skip
        for file_id, kind in files:
            if file_id:
                yield from _iter_file(client, job, file_id, kind, workdir, expected, seen, vendor, endpoint)
        if expected is None:
            log.warning("common.ai batch %s: the submitted requests are unknown; requests without a "
                        "line are left for common.ai to mark missing", job.id)  # fmt: skip
            return
        for index in range(expected.count):
            if index not in seen:
                yield _unreported(job, custom_id_for(expected.key, index), index)
