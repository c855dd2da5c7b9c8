"""Anthropic's probe for the doctor (:meth:`AnthropicVendor.doctor_probe`): its expectations and
its steps, through the provider's own Anthropic client
(:mod:`airflow_provider_batch.vendors.anthropic.client`), so that ``processing_status`` is seen
exactly as Anthropic sends it, and the result lines as the results task reads them
(``results_url`` turned into the shared envelope)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.doctor._report import Severity
from airflow_provider_batch.doctor.expectations import FieldRule, StatusRules, UsageRules, VendorExpectations
from airflow_provider_batch.doctor.probe import BatchSeen, Exchange, Plan, UploadSeen
from airflow_provider_batch.doctor.wire import WireProbe
from airflow_provider_batch.vendors.anthropic.client import MessageBatch
from airflow_provider_batch.vendors.anthropic.client._config import anthropic_settings
from airflow_provider_batch.vendors.anthropic.client.models import CANCELING, ENDED, IN_PROGRESS
from airflow_provider_batch.vendors.anthropic.vendor import (
    MESSAGES,
    RESULTS_PREFIX,
    NeutralAnthropicClient,
)

__all__ = ["ANTHROPIC_EXPECTATIONS", "DEFAULT_MODEL", "AnthropicProbe"]

#: A cheap model; ``--model`` picks another.
DEFAULT_MODEL = "claude-haiku-4-5"

ANTHROPIC_EXPECTATIONS = VendorExpectations(
    vendor="Anthropic",
    statuses=StatusRules(
        progression=(IN_PROGRESS,),
        terminal=frozenset({ENDED}),
        success=ENDED,
        transient=frozenset({CANCELING}),
    ),
    # Requests go inline in the create: staging the part sends nothing.
    upload_flow=(),
    output_fields=(FieldRule("custom_id", Severity.FAIL, "results are matched to requests by custom_id"),),
    error_fields=(),
    usage=UsageRules(
        path="response.body.usage", prompt="input_tokens", completion="output_tokens", total=None
    ),
)


def _seen(batch: MessageBatch) -> BatchSeen:
    counts = batch.request_counts
    total = counts.total
    progress = round(100.0 * (total - counts.processing) / total, 2) if total else None
    output = f"{RESULTS_PREFIX}{batch.id}" if batch.processing_status == ENDED else None
    return BatchSeen(batch.id, batch.processing_status, progress, output, None, None)


class AnthropicProbe(WireProbe):
    """The doctor's steps on Anthropic's Message Batches API, with the connection ``conn_id``.

    :param conn_id: an Airflow connection of type ``anthropic`` (password = key, host = base URL).
    """

    expectations: ClassVar[VendorExpectations] = ANTHROPIC_EXPECTATIONS
    default_model: ClassVar[str] = DEFAULT_MODEL
    endpoint: ClassVar[str] = MESSAGES

    def _open(self, settings: ClientSettings, http: httpx.Client) -> NeutralAnthropicClient:
        return NeutralAnthropicClient(anthropic_settings(settings), http_client=http)

    def upload(self, path: Path) -> UploadSeen:
        self._recorder.take()
        staged = self._client.files.upload(path, filename=path.name)
        reported = {"filename": staged.filename, "sent": "inline, with the create"}
        return UploadSeen(staged.id, [], self._recorder.take(), reported)

    def create(self, file_id: str, plan: Plan) -> BatchSeen:
        job = self._client.batches.create(file_id, plan.endpoint).job
        return _seen(self._client.wire.batches.retrieve(job.id))

    def retrieve(self, batch_id: str) -> BatchSeen:
        return _seen(self._client.wire.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchSeen:
        return _seen(self._client.wire.batches.cancel(batch_id))

    def download(self, file_id: str, dest: Path) -> list[Exchange]:
        self._recorder.take()
        self._client.files.content(file_id, dest)
        return self._recorder.take()

    def cleanup(self, file_ids: list[str]) -> str:
        report = self._client.files.delete_many(file_ids)
        return f"removed {len(report.deleted)} staged request file(s); Anthropic keeps no input files"
