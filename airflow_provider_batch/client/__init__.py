"""Typed client for Together's Batch and Files APIs (httpx + pydantic, no Airflow imports).

::

    from airflow_provider_batch.client import TogetherClient, AsyncTogetherClient, ClientSettings

    with TogetherClient(api_key="...") as client:
        file = client.files.upload("requests.jsonl")
        job = client.batches.create(file.id).job
"""

from __future__ import annotations

from airflow_provider_batch.client._async import AsyncTogetherClient
from airflow_provider_batch.client._config import DEFAULT_BASE_URL, ClientSettings
from airflow_provider_batch.client._sync import TogetherClient
from airflow_provider_batch.client.errors import *  # noqa: F403
from airflow_provider_batch.client.errors import __all__ as _errors_all
from airflow_provider_batch.client.models import *  # noqa: F403
from airflow_provider_batch.client.models import __all__ as _models_all

__all__ = [
    "AsyncTogetherClient",
    "ClientSettings",
    "DEFAULT_BASE_URL",
    "TogetherClient",
    *_errors_all,
    *_models_all,
]
