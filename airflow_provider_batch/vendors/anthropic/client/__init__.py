"""Typed client for Anthropic's Message Batches API (httpx + pydantic, no Airflow imports).

Requests go inline in the create's body (there is no file upload); results stream from each
batch's ``results_url``. Retries, backoff, error mapping and key redaction are the shared client's
(:mod:`airflow_provider_batch.client`); a create is never re-sent after a failure that may have
reached the server.
"""

from __future__ import annotations

from airflow_provider_batch.vendors.anthropic.client._async import AsyncAnthropicClient
from airflow_provider_batch.vendors.anthropic.client._config import (
    ANTHROPIC_BASE_URL,
    ANTHROPIC_VERSION,
    AnthropicSettings,
)
from airflow_provider_batch.vendors.anthropic.client._ops import write_create_body
from airflow_provider_batch.vendors.anthropic.client._sync import AnthropicClient
from airflow_provider_batch.vendors.anthropic.client.errors import UnverifiableCreateError
from airflow_provider_batch.vendors.anthropic.client.models import (
    BatchPage,
    Deleted,
    MessageBatch,
    RequestCounts,
)

__all__ = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_VERSION",
    "AnthropicClient",
    "AnthropicSettings",
    "AsyncAnthropicClient",
    "BatchPage",
    "Deleted",
    "MessageBatch",
    "RequestCounts",
    "UnverifiableCreateError",
    "write_create_body",
]
