"""Together's probe for the doctor (:meth:`TogetherVendor.doctor_probe`): its expectations, and the
neutral steps of :class:`~airflow_provider_batch.doctor.wire.WireProbe` on Together's client (the
same code a pipeline runs)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from airflow_provider_batch.client import BatchStatus
from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.models import CHAT_COMPLETIONS
from airflow_provider_batch.doctor._report import Severity
from airflow_provider_batch.doctor.expectations import FieldRule, StatusRules, UsageRules, VendorExpectations
from airflow_provider_batch.doctor.wire import WireProbe, chat_plan
from airflow_provider_batch.vendors.together.client import TogetherClient

__all__ = ["DEFAULT_MODEL", "TOGETHER_EXPECTATIONS", "TogetherProbe", "chat_plan"]

#: A cheap serverless chat model; ``--model`` picks another.
DEFAULT_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"

_NO_ANSWER = "a successful request would load as failed"

TOGETHER_EXPECTATIONS = VendorExpectations(
    vendor="Together AI",
    statuses=StatusRules(
        progression=(BatchStatus.VALIDATING.value, BatchStatus.IN_PROGRESS.value),
        terminal=frozenset(s.value for s in BatchStatus if s.is_terminal),
        success=BatchStatus.COMPLETED.value,
        transient=frozenset({BatchStatus.CANCELING.value}),
    ),
    upload_flow=("POST /files", "PUT {upload_url}", "POST /files/{id}/preprocess"),
    output_fields=(
        FieldRule("custom_id", Severity.FAIL, "results are matched to requests by custom_id"),
        FieldRule("response.status_code", Severity.FAIL, _NO_ANSWER),
        FieldRule("response.body", Severity.FAIL, _NO_ANSWER),
    ),
    error_fields=(
        FieldRule("custom_id", Severity.FAIL, "results are matched to requests by custom_id"),
        FieldRule("error.message", Severity.WARN, "the row's error_message would be the raw error"),
        FieldRule(
            "error.code", Severity.WARN, "the row's error_code falls back to the HTTP status or 'unknown'"
        ),
    ),
    usage=UsageRules(path="response.body.usage"),
)


class TogetherProbe(WireProbe):
    """The doctor's steps on Together's API, with the connection ``conn_id``.

    :param conn_id: an Airflow connection of type ``together``.
    """

    expectations: ClassVar[VendorExpectations] = TOGETHER_EXPECTATIONS
    default_model: ClassVar[str] = DEFAULT_MODEL
    endpoint: ClassVar[str] = CHAT_COMPLETIONS

    def _open(self, settings: ClientSettings, http: httpx.Client) -> Any:
        return TogetherClient(settings, http_client=http)
