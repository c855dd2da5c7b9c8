"""Worker-side I/O of the results task: download a batch's files and stream its rows.

Files are streamed to disk and read back line by line; a batch is reconciled in one pass
(:class:`~airflow_provider_batch.results.reconcile.BatchStream`). Nothing here is held whole in
memory except the per-request metadata of the sidecar manifest (one small dict per request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_batch.client import BatchJob, BatchStatus
from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.exceptions import TogetherBatchFilesMissingError
from airflow_provider_batch.inputs.split import read_span
from airflow_provider_batch.inputs.storage import fetch_to_local
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import ParsedFile, RunContext, iter_expected
from airflow_provider_batch.results.parse import LineDecoder
from airflow_provider_batch.results.reconcile import BatchStream
from airflow_provider_batch.vendors.base import BatchClient, BatchVendor

__all__ = [
    "BatchFiles",
    "diagnostics",
    "download_batch_files",
    "load_metadata",
    "open_stream",
    "reconcile_job",
    "recover_inputs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchFiles:
    """Local copies of one batch's input, output and error files (any may be absent: the input
    when it was deleted from the account, e.g. by ``delete_input_files=True``). The output and
    error files are in the shared envelope, or as the vendor wrote them when a decoder of the
    vendor's lines is given (:meth:`~airflow_provider_batch.vendors.base.BatchVendor.results_file`)."""

    job: BatchJob
    input_path: Path | None
    output_path: Path | None
    error_path: Path | None
    output_decode: LineDecoder | None = None
    error_decode: LineDecoder | None = None


def download_batch_files(
    client: BatchClient,
    job: BatchJob,
    dest: Path,
    local_input: Path | None = None,
    *,
    vendor: BatchVendor,
) -> BatchFiles:
    """Stream the input, output and error files of ``job`` into ``dest``.

    The input file comes back from the API rather than from the submitting worker's disk, so the
    results task can run on any worker. Output and error files get distinct local names because
    the API gives both the same server-side file name.

    :param local_input: the batch's requests re-read from the submit's input (see
        :func:`recover_inputs`), used when the vendor does not let input files be downloaded.
    :param vendor: the vendor of ``client``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not job.input_file_id and vendor.input_downloadable:
        # a vendor whose batches name no input file (Anthropic) reads none
        raise ValueError(f"batch {job.id} has no input_file_id")
    if job.status is BatchStatus.COMPLETED and not job.output_file_id and not job.error_file_id:
        raise TogetherBatchFilesMissingError(
            f"batch {job.id} is COMPLETED but exposes neither an output nor an error file, so none "
            "of its answers can be read; nothing was loaded. A retry reads them once the API "
            "exposes them.",
            batch_ids=[job.id],
        )
    input_path = _input_file(client, job, job.input_file_id or "", dest / "input.jsonl", local_input, vendor)
    output_path = error_path = output_decode = error_decode = None
    if job.output_file_id:
        output_path, output_decode = vendor.results_file(client, job.output_file_id, dest / "output.jsonl")
    if job.error_file_id:
        error_path, error_decode = vendor.results_file(client, job.error_file_id, dest / "errors.jsonl")
    log.info(
        "Batch %s (%s): downloaded %s%s%s",
        job.id,
        job.status.value,
        "the input file" if input_path else "no input file (deleted)",
        ", the output file" if output_path else ", no output file",
        " and the error file" if error_path else " and no error file",
    )
    return BatchFiles(job, input_path, output_path, error_path, output_decode, error_decode)


def _input_file(
    client: BatchClient,
    job: BatchJob,
    file_id: str,
    dest: Path,
    local_input: Path | None,
    vendor: BatchVendor,
) -> Path | None:
    """The batch's input file, or ``None`` when the account no longer has it (404): deleted once
    loaded (``delete_input_files=True``) or by hand. The answers and errors are still loaded
    from the output and error files; only the requests that got no line cannot be named.

    A vendor that never lets input files be downloaded (OpenAI: ``purpose=batch``) is not asked:
    its output and error files together name every request of the batch, unrun ones included.
    """
    if not vendor.input_downloadable:
        log.info(
            "Batch %s: %s does not let input files be downloaded; %s",
            job.id,
            vendor.display_name,
            "its requests were re-read from the submit's input"
            if local_input is not None
            else "every request is read from the output and error files, and none can be re-sent",
        )
        return local_input
    try:
        return client.files.content(file_id, dest)
    except NotFoundError:
        log.warning(
            "Batch %s: its input file %s is gone from the account (deleted after an earlier load?); "
            "every answer and error is loaded from the output and error files, but requests without "
            "any line are not listed as missing (rows an earlier load wrote for them are kept in merge "
            "mode), and none is re-sent as a follow-up",
            job.id,
            file_id,
        )
        return None


def load_metadata(path: Path | None) -> dict[str, dict[str, Any]]:
    """Read the builder's sidecar manifest: ``custom_id`` -> carried metadata columns."""
    if path is None or not path.exists():
        return {}
    metadata: dict[str, dict[str, Any]] = {}
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                entry = json.loads(raw)
                metadata[str(entry["custom_id"])] = dict(entry.get("meta") or {})
    return metadata


def open_stream(
    files: BatchFiles,
    metadata: dict[str, dict[str, Any]],
    *,
    prices: PriceTable,
    endpoint: str | None,
    run: RunContext,
    vendor: BatchVendor,
) -> BatchStream:
    """The one-pass reconciliation of a downloaded batch against its own input file."""
    job = files.job
    expected = iter_expected(files.input_path, metadata) if files.input_path is not None else None
    endpoint = job.endpoint or endpoint
    return BatchStream(
        expected,
        ParsedFile(files.output_path, "output", endpoint, files.output_decode),
        ParsedFile(files.error_path, "error", endpoint, files.error_decode),
        batch_id=job.id,
        batch_status=job.status.value,
        prices=prices,
        endpoint=endpoint,
        submitted_at=job.created_at,
        completed_at=job.completed_at,
        run=run,
        metadata=metadata,
        vendor=vendor,
    )


def reconcile_job(
    client: BatchClient,
    job: BatchJob,
    dest: Path,
    metadata: dict[str, dict[str, Any]],
    *,
    prices: PriceTable,
    endpoint: str | None,
    run: RunContext,
    local_input: Path | None = None,
    vendor: BatchVendor,
) -> tuple[BatchStream, BatchFiles]:
    """Download ``job``'s files into ``dest`` and open its one-pass reconciliation."""
    files = download_batch_files(client, job, dest, local_input, vendor=vendor)
    return open_stream(files, metadata, prices=prices, endpoint=endpoint, run=run, vendor=vendor), files


def diagnostics(streams: Sequence[BatchStream]) -> dict[str, Any]:
    """Duplicate, unknown and unreadable line counts over all batches, with a few examples, and
    how many answers have unknown usage."""
    diags = [s.diagnostics for s in streams]
    examples = [
        sample
        for d in diags
        for sample in d.invalid_samples[:3] + d.duplicate_samples[:3] + d.unknown_samples[:3]
    ]
    return {
        "duplicate_ids": sum(d.duplicates for d in diags),
        "unknown_ids": sum(d.unknown_ids for d in diags),
        "invalid_lines": sum(d.invalid_lines for d in diags),
        "usage_unknown": sum(d.usage_unknown for d in diags),
        "examples": examples[:10],
    }


def recover_inputs(
    client: Any, manifest: SubmitManifest, work_dir: Path, *, aws_conn_id: str | None, vendor: BatchVendor
) -> dict[str, Path]:
    """Batch id -> its requests, re-read from the submit's ``input_path`` by each part's byte span
    and proven by its SHA-256, for a vendor that does not let input files be downloaded (OpenAI).

    Empty for every other vendor, and for a batch whose bytes are no longer there (the input was
    overwritten or removed): its answers and errors still load from the output and error files;
    only its follow-ups are not possible, which the log says.
    """
    records = [r for r in manifest.batches if r.input_span is not None and r.input_sha256]
    if vendor.input_downloadable or not records or not manifest.input_path:
        return {}
    try:
        local = fetch_to_local(manifest.input_path, work_dir / "submitted", aws_conn_id=aws_conn_id)
    except (OSError, ValueError) as exc:
        log.warning("The submit's input %s cannot be read again (%s): no follow-up is possible",
                    manifest.input_path, exc)  # fmt: skip
        return {}
    found: dict[str, Path] = {}
    (work_dir / "submitted").mkdir(parents=True, exist_ok=True)
    for record in records:
        assert record.input_span is not None and record.input_sha256 is not None
        dest = work_dir / "submitted" / f"part-{record.part:04d}.jsonl"
        path = read_span(local, record.input_span, record.input_sha256, dest)
        if path is None:
            log.warning(
                "Batch %s: the submit's input %s no longer holds its requests (changed since the "
                "submit): no follow-up is possible",
                record.batch_id,
                manifest.input_path,
            )
        else:
            found[record.batch_id] = path
    return found
