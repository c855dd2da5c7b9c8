"""Anthropic's Message Batches API as a :class:`~airflow_provider_batch.vendors.base.BatchVendor`.

The pipeline talks to every vendor through ``files`` and ``batches`` in the neutral models.
:class:`NeutralAnthropicClient` puts Anthropic's inline API behind them:

* ``files.upload`` sends nothing: it stages the part as the create's body
  (``{"requests": [{custom_id, params}]}``) beside the part and names it with an id derived from the
  part's upload name (so a retry stages it again under the same id); ``batches.create`` sends it;
* ``processing_status`` maps onto :class:`~airflow_provider_batch.client.models.BatchStatus`:
  ``in_progress`` is running (``CANCELING`` once ``cancel_initiated_at`` is set), ``canceling`` is
  ``CANCELING``, ``ended`` is ``CANCELLED`` after a cancel (or with canceled requests), ``EXPIRED``
  when requests expired, else
  ``COMPLETED``; the five request counts become ``progress`` and ``request_counts``;
* an ended batch's ``output_file_id`` is ``results:<batch id>``: ``files.content`` streams its
  ``results_url`` into the shared envelope (succeeded: a 200 response; errored: the error type as
  code and its HTTP status; canceled / expired: ``batch_cancelled`` / ``batch_expired``, which
  :attr:`~AnthropicVendor.unrun_error_statuses` turns into ``cancelled`` / ``expired`` rows).
  The results task does not write that envelope: :meth:`AnthropicVendor.results_file` keeps the
  lines as Anthropic writes them and :func:`decode_result` reads each into a parsed line.

A create whose answer was lost cannot be found by metadata or input file: :attr:`recovery` is
``"ledger"`` (see :mod:`airflow_provider_batch.idempotency`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.errors import NotFoundError
from airflow_provider_batch.client.models import (
    BatchCreateResponse,
    BatchJob,
    BatchStatus,
    FileCleanupReport,
    FileObject,
)
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results.models import ParsedLine
from airflow_provider_batch.results.parse import (
    LineDecoder,
    decode_answered,
    decode_result_line,
    unreadable_line,
)
from airflow_provider_batch.vendors._neutral import AsyncNeutralClient, NeutralClient
from airflow_provider_batch.vendors.anthropic.client import (
    AnthropicClient,
    AnthropicSettings,
    AsyncAnthropicClient,
    MessageBatch,
    write_create_body,
)
from airflow_provider_batch.vendors.anthropic.client.models import CANCELING, ENDED
from airflow_provider_batch.vendors.anthropic.custom_ids import CUSTOM_ID_PATTERN
from airflow_provider_batch.vendors.anthropic.prices import ANTHROPIC_PRICES
from airflow_provider_batch.vendors.base import BatchVendor, Recovery

__all__ = [
    "MESSAGES",
    "RESULTS_PREFIX",
    "AnthropicVendor",
    "NeutralAnthropicClient",
    "decode_result",
    "neutral_job",
    "write_envelope",
]

#: The one endpoint Anthropic's batches run.
MESSAGES = "/v1/messages"
#: ``output_file_id`` of an ended batch: its results, read through ``files.content``.
RESULTS_PREFIX = "results:"
#: Input ids the staging gives a part (``inline:`` + its upload name).
STAGED_PREFIX = "inline:"

#: HTTP status of each error type Anthropic reports for a request (unknown types: 500).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_UNRUN = {"canceled": "batch_cancelled", "expired": "batch_expired"}


def neutral_status(batch: MessageBatch) -> BatchStatus:
    """``processing_status`` (+ ``cancel_initiated_at`` and the counts) as a neutral status."""
    status = batch.processing_status
    if status == ENDED:
        if batch.cancel_initiated_at is not None or batch.request_counts.canceled:
            return BatchStatus.CANCELLED  # only a cancel leaves requests canceled
        if batch.request_counts.expired:
            return BatchStatus.EXPIRED
        return BatchStatus.COMPLETED
    if status == CANCELING or batch.cancel_initiated_at is not None:
        return BatchStatus.CANCELING
    if status == "in_progress":
        return BatchStatus.IN_PROGRESS
    return BatchStatus.UNKNOWN


def neutral_job(batch: MessageBatch) -> BatchJob:
    """An Anthropic batch in the neutral model."""
    counts = batch.request_counts
    total = counts.total
    status = neutral_status(batch)
    progress = round(100.0 * (total - counts.processing) / total, 2) if total else 0.0
    if batch.processing_status == ENDED:
        progress = 100.0
    fields: dict[str, Any] = {
        "id": batch.id,
        "status": status,
        "created_at": batch.created_at,
        "job_deadline": batch.expires_at,
        "endpoint": MESSAGES,
        "progress": progress,
        "output_file_id": f"{RESULTS_PREFIX}{batch.id}" if batch.processing_status == ENDED else None,
        "completed_at": batch.ended_at,
        "request_counts": {**counts.model_dump(), "total": total},
    }
    if status not in (BatchStatus.UNKNOWN,):
        return BatchJob.model_validate(fields)
    return BatchJob.from_wire({**fields, "status": batch.processing_status})


# -- results -------------------------------------------------------------------------------------


class _Result(msgspec.Struct):
    type: str
    message: msgspec.Raw = msgspec.Raw(b"null")
    error: Any = None


class _ResultLine(msgspec.Struct):
    custom_id: str
    result: _Result


_decode_result = msgspec.json.Decoder(_ResultLine).decode
_encode = msgspec.json.Encoder().encode
_BLOCK_LINES = 1024  # envelope lines joined per write


def _envelope(raw: bytes) -> bytes:
    return _envelope_of(_decode_result(raw))


def _envelope_of(line: _ResultLine) -> bytes:
    result, cid = line.result, _encode(line.custom_id)
    if result.type == "succeeded":
        return b'{"custom_id":' + cid + b',"response":{"status_code":200,"body":' + result.message + b"}}"
    if result.type in _UNRUN:
        code = _UNRUN[result.type]
        message = f"the request was not run: the batch was {result.type}"
        return b'{"custom_id":' + cid + b',"error":' + _encode({"code": code, "message": message}) + b"}"
    outer: dict[str, Any] = result.error if isinstance(result.error, dict) else {}
    nested = outer.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else outer
    kind = str(inner.get("type") or result.type)
    error = {"code": kind, "message": str(inner.get("message") or kind)}
    body = {"type": "error", "error": {"type": kind, "message": error["message"]}}
    response = {"status_code": _ERROR_STATUS.get(kind, 500), "body": body}
    return _encode({"custom_id": line.custom_id, "response": response, "error": error})


def write_envelope(source: Path, dest: Path) -> int:
    """Rewrite a results JSONL (``{custom_id, result: {type, ...}}``) into the shared envelope
    ``{custom_id, response: {status_code, body}, error}``, written in blocks of lines. Returns the lines."""
    count = 0
    temp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    with source.open("rb") as src, temp.open("wb") as out:
        block: list[bytes] = []
        for raw in src:
            if raw.strip():
                block.append(_envelope(raw))
                if len(block) == _BLOCK_LINES:
                    block.append(b"")
                    out.write(b"\n".join(block))
                    count += _BLOCK_LINES
                    block = []
        if block:
            block.append(b"")
            out.write(b"\n".join(block))
            count += len(block) - 1
    os.replace(temp, dest)
    return count


def decode_result(raw: bytes, line_no: int, endpoint: str | None) -> ParsedLine | None:
    """One line of a results file as Anthropic writes it, read straight into a parsed line (the
    :data:`~airflow_provider_batch.results.parse.LineDecoder` of this vendor): a succeeded
    request's ``message`` is read once, as the body of a 200 response; anything else (errors,
    unrun requests, an answer off the fast path) is read as its envelope line is. A blank line
    holds no record (``None``); a line that is not a result line comes back unreadable."""
    if not raw.strip():
        return None
    try:
        line = _decode_result(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        return unreadable_line(raw, line_no, f"not a Message Batches result line: {exc}")
    result = line.result
    if result.type == "succeeded":
        parsed = decode_answered(line.custom_id, 200, result.message, line_no, endpoint)
        if parsed is not None:
            return parsed
    return decode_result_line(_envelope_of(line), line_no, endpoint)


# -- the neutral facade --------------------------------------------------------------------------


class _Staged:
    """Create bodies staged in this process: input id -> (body path, size, request count), and
    the batches created from them here (batch id -> input id: a batch does not name its input)."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[Path, int, int]] = {}
        self.inputs: dict[str, str] = {}

    def job(self, batch: MessageBatch) -> BatchJob:
        job = neutral_job(batch)
        input_id = self.inputs.get(batch.id)
        return job if input_id is None else job.model_copy(update={"input_file_id": input_id})


def staged_id(filename: str) -> str:
    """The input id of a part staged under its upload name (the same on every try)."""
    stem = filename.removesuffix(".jsonl")
    if len(STAGED_PREFIX) + len(stem) > 120:
        stem = hashlib.sha256(stem.encode()).hexdigest()[:64]
    return STAGED_PREFIX + stem


class _Files:
    def __init__(self, client: AnthropicClient, staged: _Staged) -> None:
        self._c, self._s = client, staged

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        purpose: str = "batch",
        filename: str | None = None,
        dedupe: bool = False,
        on_file_id: Callable[[str], None] | None = None,
    ) -> FileObject:
        """Stage a part as the body of its create (nothing is sent: requests go inline)."""
        del purpose, dedupe
        source = Path(path)
        file_id = staged_id(filename or source.name)
        if on_file_id is not None:
            on_file_id(file_id)
        body = source.with_name(source.stem + ".anthropic.json")
        count = write_create_body(source, body)
        size = body.stat().st_size
        self._s.bodies[file_id] = (body, size, count)
        return FileObject(id=file_id, filename=filename or source.name, bytes=size, Processed=True)

    def retrieve(self, file_id: str) -> FileObject:
        if file_id not in self._s.bodies:
            raise NotFoundError("GET", f"/files/{file_id}", 404, "staged only in the process that staged it")
        body, size, _ = self._s.bodies[file_id]
        return FileObject(id=file_id, filename=body.name, bytes=size, Processed=True)

    def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """An ended batch's results (``results:<batch id>``) in the shared envelope, at ``dest``."""
        target = Path(dest)
        raw = self.results(file_id, target.with_name(target.name + ".anthropic"))
        try:
            write_envelope(raw, target)
        finally:
            raw.unlink(missing_ok=True)
        return target

    def results(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """An ended batch's results (``results:<batch id>``) as Anthropic writes them, at ``dest``
        (read by :func:`decode_result`)."""
        if not file_id.startswith(RESULTS_PREFIX):
            raise NotFoundError("GET", f"/files/{file_id}", 404, "Anthropic keeps no input files")
        target = Path(dest)
        self._c.batches.results(file_id[len(RESULTS_PREFIX) :], target)
        return target

    def delete_many(self, file_ids: Iterable[str]) -> FileCleanupReport:
        """Staged bodies are removed locally; results live with their batch (kept 29 days)."""
        report = FileCleanupReport()
        for file_id in dict.fromkeys(file_ids):
            staged = self._s.bodies.pop(file_id, None)
            if staged is not None:
                staged[0].unlink(missing_ok=True)
                report.deleted.append(file_id)
            else:
                report.missing.append(file_id)
        return report

    def iter(self) -> Generator[FileObject, None, None]:
        """Anthropic has no files."""
        yield from ()


class _Batches:
    def __init__(self, client: AnthropicClient, staged: _Staged) -> None:
        self._c, self._s = client, staged

    def create(
        self,
        input_file_id: str,
        endpoint: str = MESSAGES,
        *,
        known_batch_ids: Collection[str] = (),
        **_ignored: Any,
    ) -> BatchCreateResponse:
        del known_batch_ids
        if endpoint != MESSAGES:
            raise ValueError(f"Anthropic batches run {MESSAGES} only, not {endpoint!r}")
        try:
            body, _, _ = self._s.bodies[input_file_id]
        except KeyError:
            raise ValueError(
                f"input {input_file_id} was not staged by this client (stage it with files.upload)"
            ) from None
        batch = self._c.batches.create(body)
        self._s.inputs[batch.id] = input_file_id
        return BatchCreateResponse(job=self._s.job(batch))

    def retrieve(self, batch_id: str) -> BatchJob:
        return self._s.job(self._c.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchJob:
        return self._s.job(self._c.batches.cancel(batch_id))

    def iter(self) -> Generator[BatchJob, None, None]:
        """Every batch of the account, newest first."""
        for batch in self._c.batches.iter():
            yield self._s.job(batch)

    def find_by_input_file(self, input_file_id: str) -> list[BatchJob]:
        """Nothing ties a batch to its input: a lost create is looked for by the ledger's recovery."""
        del input_file_id
        return []


class NeutralAnthropicClient(NeutralClient):
    """Anthropic's wire client behind the neutral ``files`` / ``batches`` the pipeline uses."""

    def __init__(self, settings: AnthropicSettings, *, http_client: Any = None) -> None:
        super().__init__(AnthropicClient(settings, http_client=http_client))
        staged = _Staged()
        self.files = _Files(self._wire, staged)
        self.batches = _Batches(self._wire, staged)


class AsyncNeutralAnthropicClient(AsyncNeutralClient):
    """What the trigger needs of an asyncio client: poll and cancel, in the neutral model."""

    def __init__(self, settings: AnthropicSettings, *, http_client: Any = None) -> None:
        super().__init__(AsyncAnthropicClient(settings, http_client=http_client), neutral_job)


class AnthropicVendor(BatchVendor):
    """Anthropic's Message Batches API: requests inline at create, 100,000 requests or 256 MB per
    batch, ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$``, results kept 29 days.

    Connections are ``anthropic`` connections as ``apache-airflow-providers-anthropic`` defines
    them (password: the key; host: an optional base URL); this provider registers no type for them.
    """

    name: ClassVar[str] = "anthropic"
    display_name: ClassVar[str] = "Anthropic"
    conn_types: ClassVar[tuple[str, ...]] = ("anthropic",)
    default_base_url: ClassVar[str] = "https://api.anthropic.com/v1"
    recovery: ClassVar[Recovery] = "ledger"
    endpoints: ClassVar[tuple[str, ...]] = (MESSAGES,)
    upload_purpose: ClassVar[str] = "batch"
    input_downloadable: ClassVar[bool] = False
    input_staged_locally: ClassVar[bool] = True
    #: A canceled or expired request is named by its results line; it never ran.
    unrun_error_statuses: ClassVar[Mapping[str, str]] = {
        _UNRUN["expired"]: "expired",
        _UNRUN["canceled"]: "cancelled",
    }
    limits: ClassVar[BatchLimits] = BatchLimits(
        max_lines=100_000,
        # 256 MB for the create's body: each line gains ``{"custom_id":..,"params":..}`` framing
        # (at most 16 bytes more than ``{custom_id, body}``), plus the ``{"requests":[`` wrapper.
        max_bytes=256 * 1000**2 - 100_000 * 16 - 64,
        max_line_bytes=32 * 1024**2,
        max_custom_id_len=64,
        custom_id_pattern=CUSTOM_ID_PATTERN,
    )
    prices: ClassVar[PriceTable] = ANTHROPIC_PRICES

    def client(self, settings: ClientSettings) -> NeutralAnthropicClient:
        client = NeutralAnthropicClient(_anthropic(settings))
        client.vendor = self
        return client

    def async_client(
        self, settings: ClientSettings, *, http_client: Any = None
    ) -> AsyncNeutralAnthropicClient:
        return AsyncNeutralAnthropicClient(_anthropic(settings), http_client=http_client)

    def results_file(self, client: Any, file_id: str, dest: Path) -> tuple[Path, LineDecoder | None]:
        """The results as Anthropic writes them, read by :func:`decode_result` (no envelope is
        written); a client other than this vendor's gets the envelope of ``files.content``."""
        files = getattr(client, "files", None)
        if not isinstance(files, _Files):
            return super().results_file(client, file_id, dest)
        return files.results(file_id, dest), decode_result

    def server_app(self, controller: Any) -> Any:
        from airflow_provider_batch.vendors.anthropic.server import build_app  # type: ignore[import-not-found,unused-ignore]

        return build_app(controller)

    def emulation_models(self) -> tuple[str, ...]:
        from airflow_provider_batch.vendors.anthropic.server.answers import ANTHROPIC_MODELS

        return tuple(ANTHROPIC_MODELS)

    def emulation_error_code(self, code: str) -> str:
        """The Anthropic error type of the same meaning (``invalid_model`` ->
        ``invalid_request_error``...): Anthropic's errored results carry an error type."""
        from airflow_provider_batch.vendors.anthropic.server.answers import marker_error_type  # type: ignore[import-not-found,unused-ignore]

        return marker_error_type(code)

    def doctor_probe(self, conn_id: str) -> Any:
        from airflow_provider_batch.vendors.anthropic.doctor import AnthropicProbe

        return AnthropicProbe(conn_id)

    def default_console_url(self, base_url: str, batch_id: str) -> str:
        """The Anthropic console for api.anthropic.com; elsewhere the base URL without ``/v1``,
        plus ``/batches/{batch_id}`` (``console_url_template`` sets any other)."""
        if "api.anthropic.com" in base_url:
            return f"https://console.anthropic.com/workspaces/default/batches/{batch_id}"
        root = base_url.rstrip("/").removesuffix("/v1")
        return f"{root}/batches/{batch_id}"


def _anthropic(settings: ClientSettings) -> AnthropicSettings:
    if isinstance(settings, AnthropicSettings):
        return settings
    fields = settings.model_dump()
    return AnthropicSettings.model_validate(fields)
