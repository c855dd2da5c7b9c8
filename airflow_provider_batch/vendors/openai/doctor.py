"""OpenAI's probe for the doctor (:meth:`OpenAIVendor.doctor_probe`): its expectations and its
steps, through the provider's own OpenAI wire client
(:mod:`airflow_provider_batch.vendors.openai.client`), so that statuses, files and lines are seen
exactly as OpenAI (or a server that copies it) sends them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.errors import TogetherError
from airflow_provider_batch.doctor._report import Severity
from airflow_provider_batch.doctor.expectations import FieldRule, StatusRules, UsageRules, VendorExpectations
from airflow_provider_batch.doctor.probe import BatchSeen, Plan
from airflow_provider_batch.doctor.wire import WireProbe
from airflow_provider_batch.vendors.openai.client import OpenAIClient
from airflow_provider_batch.vendors.openai.client.models import CHAT_COMPLETIONS, BatchStatus, OpenAIBatch
from airflow_provider_batch.vendors.openai.vendor import METADATA_FILE

__all__ = ["DEFAULT_MODEL", "OPENAI_EXPECTATIONS", "OpenAIProbe"]

#: A cheap chat model; ``--model`` picks another.
DEFAULT_MODEL = "gpt-4o-mini"
_ID = "results are matched to requests by custom_id"
_NO_ANSWER = "a successful request would load as failed"

OPENAI_EXPECTATIONS = VendorExpectations(
    vendor="OpenAI",
    statuses=StatusRules(
        progression=("validating", "in_progress", "finalizing"),
        terminal=frozenset(s.value for s in BatchStatus if s.is_terminal),
        success=BatchStatus.COMPLETED.value,
        transient=frozenset({BatchStatus.CANCELLING.value}),
    ),
    # One multipart request: POST /v1/files with purpose=batch (the probe shows paths under /v1).
    upload_flow=("POST /files",),
    output_fields=(
        FieldRule("custom_id", Severity.FAIL, _ID),
        FieldRule("response.status_code", Severity.FAIL, _NO_ANSWER),
        FieldRule("response.body", Severity.FAIL, _NO_ANSWER),
    ),
    # A failed request's line carries either ``response`` (its status and the API's error body) or
    # ``error`` (a request that never ran: batch_expired, batch_cancelled); the parser reads both.
    error_fields=(FieldRule("custom_id", Severity.FAIL, _ID),),
    usage=UsageRules(path="response.body.usage"),
)


def _seen(batch: OpenAIBatch) -> BatchSeen:
    counts = batch.request_counts
    progress = None
    if counts is not None and counts.total:
        progress = round(100.0 * (counts.completed + counts.failed) / counts.total, 2)
    error = None
    if batch.errors is not None and batch.errors.data:
        error = "; ".join(f"{e.code or 'error'}: {e.message or ''}" for e in batch.errors.data[:5])
    status = batch.status.value if isinstance(batch.status, BatchStatus) else str(batch.status)
    return BatchSeen(batch.id, status, progress, batch.output_file_id, batch.error_file_id, error)


class OpenAIProbe(WireProbe):
    """The doctor's steps on OpenAI's Batch API, with the connection ``conn_id`` (the recording pool
    and downloads are :class:`WireProbe`'s; the client is OpenAI's wire client).

    :param conn_id: an Airflow connection of type ``openai`` (password = key, host = base URL).
    """

    expectations: ClassVar[VendorExpectations] = OPENAI_EXPECTATIONS
    default_model: ClassVar[str] = DEFAULT_MODEL
    endpoint: ClassVar[str] = CHAT_COMPLETIONS
    wire_fields: ClassVar[Mapping[str, str]] = {"method": "POST", "url": CHAT_COMPLETIONS}
    upload_options: ClassVar[Mapping[str, Any]] = {"purpose": "batch"}
    reported_fields: ClassVar[tuple[str, ...]] = ("bytes", "purpose", "filename", "status")

    def _open(self, settings: ClientSettings, http: httpx.Client) -> OpenAIClient:
        return OpenAIClient(settings, http_client=http)

    def create(self, file_id: str, plan: Plan) -> BatchSeen:
        batch = self._client.batches.create(
            file_id, plan.endpoint, metadata={METADATA_FILE: file_id}, identity_key=METADATA_FILE
        )
        return _seen(batch)

    def retrieve(self, batch_id: str) -> BatchSeen:
        return _seen(self._client.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchSeen:
        return _seen(self._client.batches.cancel(batch_id))

    def cleanup(self, file_ids: list[str]) -> str:
        deleted, failed = 0, 0
        for file_id in dict.fromkeys(file_ids):
            try:
                self._client.files.delete(file_id)
            except TogetherError:
                failed += 1
            else:
                deleted += 1
        return f"deleted {deleted} file(s), {failed} could not be deleted"
