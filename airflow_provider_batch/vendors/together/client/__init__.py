"""Typed client for Together's Batch and Files APIs (httpx + pydantic, no Airflow imports).

Its routes are here; the send loops, settings, errors and the neutral models it answers in are the
shared client's (:mod:`airflow_provider_batch.client`), which every vendor's client runs on.

::

    from airflow_provider_batch.vendors.together.client import TogetherClient

    with TogetherClient(api_key="...") as client:
        file = client.files.upload("requests.jsonl")
        job = client.batches.create(file.id).job
"""

from __future__ import annotations

from airflow_provider_batch.client._config import DEFAULT_BASE_URL, ClientSettings
from airflow_provider_batch.vendors.together.client._async import AsyncTogetherClient
from airflow_provider_batch.vendors.together.client._sync import TogetherClient

__all__ = ["AsyncTogetherClient", "ClientSettings", "DEFAULT_BASE_URL", "TogetherClient"]
