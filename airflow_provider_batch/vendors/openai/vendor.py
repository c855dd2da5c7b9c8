"""OpenAI's Batch API as a :class:`~airflow_provider_batch.vendors.base.BatchVendor`.

The pipeline talks to every vendor in the neutral models of :mod:`airflow_provider_batch.client.models`
(``BatchJob``, ``FileObject``). :class:`NeutralOpenAIClient` puts OpenAI's wire client behind them:

* statuses map onto :class:`~airflow_provider_batch.client.models.BatchStatus` (``finalizing`` is
  still running; ``cancelling`` is ``CANCELING``), and ``request_counts`` becomes ``progress``;
* a create carries ``metadata``: the input file id and the part's upload name, which holds the
  run's identity. A create whose answer was lost is found again by that metadata, never by content
  (:attr:`OpenAIVendor.recovery`), and ``batches.find_by_input_file`` is that search;
* input lines are ``{custom_id, method, url, body}``: :meth:`OpenAIVendor.wire_input` adds
  ``method`` and ``url`` to a line that lacks them, before upload.

Azure OpenAI's v1 API, Groq and self-hosted servers that copy the wire format work by setting the
connection's host; their limits are settable with the ``limits`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Generator, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._parse import delete_each
from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.client.models import (
    BatchCreateResponse,
    BatchJob,
    BatchStatus,
    FileCleanupReport,
    FileObject,
)
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.pricing import ModelPrice, PriceTable
from airflow_provider_batch.vendors._neutral import AsyncNeutralClient, NeutralClient
from airflow_provider_batch.vendors.base import BatchVendor, Recovery
from airflow_provider_batch.vendors.openai.client import (
    AsyncOpenAIClient,
    OpenAIClient,
    OpenAISettings,
)
from airflow_provider_batch.vendors.openai.client.models import (
    BATCH_CANCELLED,
    BATCH_EXPIRED,
    OpenAIBatch,
    OpenAIFile,
)
from airflow_provider_batch.vendors.openai.client.models import BatchStatus as OpenAIStatus

__all__ = ["ENDPOINTS", "METADATA_FILE", "METADATA_PART", "NeutralOpenAIClient", "OpenAIVendor"]

#: Endpoints OpenAI's Batch API takes (the client and the local server speak all of them).
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
#: Endpoints the pipeline validates, prices and reconciles on OpenAI (each has its entry in the
#: endpoint registry, :mod:`airflow_provider_batch.endpoints`).
PIPELINE_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")
#: Metadata keys a create carries: the input file (the key a lost create is found by) and the
#: part's upload name (``apb-<identity>-<sha>-pNNNN.jsonl``: whose batch this is, for a person).
METADATA_FILE, METADATA_PART = "apb_input_file", "apb_part"

_STATUS = {
    OpenAIStatus.VALIDATING: BatchStatus.VALIDATING,
    OpenAIStatus.IN_PROGRESS: BatchStatus.IN_PROGRESS,
    OpenAIStatus.FINALIZING: BatchStatus.IN_PROGRESS,
    OpenAIStatus.COMPLETED: BatchStatus.COMPLETED,
    OpenAIStatus.FAILED: BatchStatus.FAILED,
    OpenAIStatus.EXPIRED: BatchStatus.EXPIRED,
    OpenAIStatus.CANCELLING: BatchStatus.CANCELING,
    OpenAIStatus.CANCELLED: BatchStatus.CANCELLED,
}

# Batch prices are half of these (USD per 1M tokens, standard tier, as OpenAI published them in
# 2025); override them with the ``price_table`` extra or parameter.
_PRICES = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}

# Each line gains at most this many bytes when ``method`` and ``url`` are added (the longest
# endpoint); the part cutter keeps that much room per line under the 200 MB file limit.
_WIRE_OVERHEAD = len(b'"method":"POST","url":"/v1/chat/completions",')
_MAX_LINES = 50_000


def _utc(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=timezone.utc) if seconds is not None else None


def neutral_job(batch: OpenAIBatch) -> BatchJob:
    """An OpenAI batch in the neutral model (``progress``: answered share of ``request_counts``)."""
    counts = batch.request_counts
    progress = 0.0
    if counts is not None and counts.total:
        progress = round(100.0 * (counts.completed + counts.failed) / counts.total, 2)
    if batch.status is OpenAIStatus.COMPLETED:
        progress = 100.0
    error = None
    if batch.errors is not None and batch.errors.data:
        error = "; ".join(
            f"{e.code or 'error'}: {e.message or ''}" + (f" (line {e.line})" if e.line else "")
            for e in batch.errors.data[:5]
        )
    finished = batch.completed_at or batch.failed_at or batch.expired_at or batch.cancelled_at
    fields: dict[str, Any] = {
        "id": batch.id,
        "input_file_id": batch.input_file_id,
        "status": _STATUS.get(batch.status, batch.raw_status),
        "created_at": _utc(batch.created_at),
        "job_deadline": _utc(batch.expires_at),
        "endpoint": batch.endpoint,
        "progress": progress,
        "model_id": batch.model,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "error": error,
        "completed_at": _utc(finished),
        "request_counts": batch.request_counts.model_dump() if batch.request_counts else None,
        "metadata": batch.metadata,
    }
    return BatchJob.from_wire(fields)  # an unknown status keeps its string for the poll log


def neutral_file(file: OpenAIFile) -> FileObject:
    fields = {"id": file.id, "created_at": file.created_at, "filename": file.filename}
    fields.update(bytes=file.bytes, purpose=file.purpose, processing_status=file.status)
    return FileObject.model_validate(fields)


class _Files:
    def __init__(self, client: OpenAIClient, names: dict[str, str]) -> None:
        self._c, self._names = client, names

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        purpose: str = "batch",
        filename: str | None = None,
        dedupe: bool = False,
        on_file_id: Callable[[str], None] | None = None,
    ) -> FileObject:
        """Upload a batch input; OpenAI assigns the id with the answer, so ``on_file_id`` is called
        then. ``purpose`` is always ``batch``; ``dedupe`` does not exist here (every upload is new)."""
        del purpose, dedupe
        uploaded = self._c.files.upload(path, purpose="batch", filename=filename)
        self._names[uploaded.id] = filename or Path(path).name
        if on_file_id is not None:
            on_file_id(uploaded.id)
        return neutral_file(uploaded)

    def retrieve(self, file_id: str) -> FileObject:
        return neutral_file(self._c.files.retrieve(file_id))

    def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        return self._c.files.content(file_id, dest)

    def delete(self, file_id: str) -> Any:
        return self._c.files.delete(file_id)

    def delete_many(self, file_ids: Iterable[str]) -> FileCleanupReport:
        return delete_each(self._c.files.delete, file_ids)

    def iter(self) -> Generator[FileObject, None, None]:
        """Files are not listed on OpenAI's path: a lost create is found by batch metadata."""
        yield from ()


class _Batches:
    def __init__(self, client: OpenAIClient, names: dict[str, str]) -> None:
        self._c, self._names = client, names

    def create(
        self,
        input_file_id: str,
        endpoint: str = "/v1/chat/completions",
        *,
        known_batch_ids: Collection[str] = (),
        **_ignored: Any,
    ) -> BatchCreateResponse:
        metadata = {METADATA_FILE: input_file_id}
        if input_file_id in self._names:
            metadata[METADATA_PART] = self._names[input_file_id][:512]
        batch = self._c.batches.create(
            input_file_id,
            endpoint,
            metadata=metadata,
            identity_key=METADATA_FILE,
            known_batch_ids=known_batch_ids,
        )
        return BatchCreateResponse(job=neutral_job(batch))

    def retrieve(self, batch_id: str) -> BatchJob:
        return neutral_job(self._c.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchJob:
        return neutral_job(self._c.batches.cancel(batch_id))

    def iter(self) -> Generator[BatchJob, None, None]:
        for batch in self._c.batches.iter():
            yield neutral_job(batch)

    def find_by_input_file(self, input_file_id: str) -> list[BatchJob]:
        """The batches a create made on ``input_file_id``, by the metadata it carries (newest first,
        stopping at batches older than the file)."""
        try:
            created = self._c.files.retrieve(input_file_id).created_at
        except NotFoundError:
            created = None
        found = self._c.batches.find_by_metadata(METADATA_FILE, input_file_id, created_after=created)
        return [neutral_job(b) for b in found]


class NeutralOpenAIClient(NeutralClient):
    """OpenAI's wire client behind the neutral ``files`` / ``batches`` the pipeline uses."""

    def __init__(self, settings: ClientSettings) -> None:
        super().__init__(OpenAIClient(settings))
        names: dict[str, str] = {}
        self.files = _Files(self._wire, names)
        self.batches = _Batches(self._wire, names)


class AsyncNeutralOpenAIClient(AsyncNeutralClient):
    """What the trigger needs of an asyncio client: poll and cancel, in the neutral model."""

    def __init__(self, settings: ClientSettings, *, http_client: Any = None) -> None:
        super().__init__(AsyncOpenAIClient(settings, http_client=http_client), neutral_job)


class _WireLine(msgspec.Struct):
    method: Any = None
    url: Any = None


_decode_wire = msgspec.json.Decoder(_WireLine).decode


def _wire_line(raw: bytes, prefix: bytes) -> bytes:
    """``raw`` (one JSON object) with ``method`` and ``url`` first, when it has neither (a line is
    decoded only when those words appear in it at all)."""
    if b'"method"' in raw or b'"url"' in raw:
        head = _decode_wire(raw)
        if head.method is not None or head.url is not None:
            return raw
    stripped = raw.lstrip()
    rest = stripped[1:].lstrip()
    return b"{" + prefix + (b"," if not rest.startswith(b"}") else b"") + rest


def _wire_chunk(chunk: bytes, prefix: bytes) -> bytes:
    """Whole lines of a validated input, each with ``method`` and ``url`` added: in one pass over
    the bytes when every line starts with ``{`` and none names either key, else line by line."""
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    simple = (
        chunk.startswith(b"{")
        and chunk.count(b"\n{") == chunk.count(b"\n") - 1
        and b'"method"' not in chunk
        and b'"url"' not in chunk
        and b"\r" not in chunk
        and b"{}" not in chunk
    )
    if simple:
        head = b"{" + prefix + b","
        return head + chunk[1:-1].replace(b"\n{", b"\n" + head) + b"\n"
    lines = (raw.rstrip(b"\r") for raw in chunk.split(b"\n"))
    return b"".join(_wire_line(line, prefix) + b"\n" for line in lines if line.strip())


class OpenAIVendor(BatchVendor):
    """OpenAI's Batch API: upload with ``purpose="batch"``, create with ``completion_window="24h"``
    and the run's identity in ``metadata``; 50,000 requests and 200 MB per file."""

    name: ClassVar[str] = "openai"
    display_name: ClassVar[str] = "OpenAI"
    conn_types: ClassVar[tuple[str, ...]] = ("openai",)
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    recovery: ClassVar[Recovery] = "metadata"
    endpoints: ClassVar[tuple[str, ...]] = PIPELINE_ENDPOINTS
    upload_purpose: ClassVar[str] = "batch"
    #: "Not allowed to download files of purpose: batch"; unrun requests get error-file lines.
    input_downloadable: ClassVar[bool] = False
    #: An expired or cancelled batch names each request that never ran by an error-file line.
    unrun_error_statuses: ClassVar[Mapping[str, str]] = {
        BATCH_EXPIRED: "expired",
        BATCH_CANCELLED: "cancelled",
    }
    limits: ClassVar[BatchLimits] = BatchLimits(
        max_lines=_MAX_LINES,
        max_bytes=200 * 1024**2 - _MAX_LINES * _WIRE_OVERHEAD,
        max_line_bytes=10 * 1024**2,
        max_custom_id_len=512,
    )
    prices: ClassVar[PriceTable] = PriceTable(
        batch_discount=0.5,
        source="https://openai.com/api/pricing/",
        as_of="2025",
        models={m: ModelPrice(input_per_1m=i, output_per_1m=o) for m, (i, o) in _PRICES.items()},
    )

    def client(self, settings: ClientSettings) -> NeutralOpenAIClient:
        client = NeutralOpenAIClient(_openai(settings))
        client.vendor = self
        return client

    def async_client(self, settings: ClientSettings, *, http_client: Any = None) -> AsyncNeutralOpenAIClient:
        return AsyncNeutralOpenAIClient(_openai(settings), http_client=http_client)

    def server_app(self, controller: Any) -> Any:
        from airflow_provider_batch.vendors.openai.server import build_app

        return build_app(controller)

    def emulation_models(self) -> tuple[str, ...]:
        from airflow_provider_batch.vendors.openai.server.answers import OPENAI_MODELS

        return tuple(OPENAI_MODELS)

    def doctor_probe(self, conn_id: str) -> Any:
        from airflow_provider_batch.vendors.openai.doctor import OpenAIProbe

        return OpenAIProbe(conn_id)

    def default_console_url(self, base_url: str, batch_id: str) -> str:
        """OpenAI's dashboard for api.openai.com; elsewhere the base URL without ``/v1``, plus
        ``/batches/{batch_id}`` (set ``console_url_template`` for Azure or a self-hosted server)."""
        if "api.openai.com" in base_url:
            return f"https://platform.openai.com/batches/{batch_id}"
        root = base_url.rstrip("/").removesuffix("/v1")
        return f"{root}/batches/{batch_id}"

    def wire_input(self, source: Path, endpoint: str) -> Path:
        """``source`` as OpenAI reads it: every line gets ``"method": "POST"`` and ``"url"`` unless
        it names them (streamed, about 1 MiB at a time, into a sibling file)."""
        prefix = b'"method":"POST","url":' + msgspec.json.encode(endpoint)
        target = source.with_name(source.stem + ".openai.jsonl")
        with source.open("rb") as src, target.open("wb") as dst:
            carry = b""
            while block := src.read(1 << 20):  # 1 MiB at a time: memory stays flat
                cut = block.rfind(b"\n") + 1
                if not cut:
                    carry += block
                    continue
                dst.write(_wire_chunk(carry + block[:cut], prefix))
                carry = block[cut:]
            if carry.strip():
                dst.write(_wire_chunk(carry, prefix))
        return target


def _openai(settings: ClientSettings) -> OpenAISettings:
    return OpenAISettings.model_validate(settings.model_dump())
