"""Typed client for OpenAI's Batch and Files APIs (httpx + pydantic, no Airflow imports).

Any server that copies OpenAI's wire format (Azure OpenAI's v1 API, Groq, a self-hosted server)
works by setting ``base_url``. Retries, backoff, error mapping and key redaction are the shared
client's (:mod:`airflow_provider_batch.client`); a create is never blindly re-sent: pass the run's
identity in ``metadata`` and name its key as ``identity_key``, and a create whose answer was lost
is found again by that metadata (never by content).

::

    from airflow_provider_batch.vendors.openai.client import OpenAIClient

    with OpenAIClient(api_key="...") as client:
        file = client.files.upload("requests.jsonl")
        batch = client.batches.create(file.id, metadata={"apb_run": key}, identity_key="apb_run")
"""

from __future__ import annotations

from airflow_provider_batch.vendors.openai.client._async import AsyncOpenAIClient
from airflow_provider_batch.vendors.openai.client._config import OPENAI_BASE_URL, OpenAISettings
from airflow_provider_batch.vendors.openai.client._sync import OpenAIClient
from airflow_provider_batch.vendors.openai.client.errors import *  # noqa: F403
from airflow_provider_batch.vendors.openai.client.errors import __all__ as _errors_all
from airflow_provider_batch.vendors.openai.client.models import *  # noqa: F403
from airflow_provider_batch.vendors.openai.client.models import __all__ as _models_all

__all__ = [
    "AsyncOpenAIClient",
    "OPENAI_BASE_URL",
    "OpenAIClient",
    "OpenAISettings",
    *_errors_all,
    *_models_all,
]
