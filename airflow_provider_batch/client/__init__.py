"""Typed client for Together's Batch and Files APIs (httpx + pydantic, no Airflow imports)."""

from __future__ import annotations

from airflow_provider_batch.client._config import DEFAULT_BASE_URL, ClientSettings
from airflow_provider_batch.client.errors import *  # noqa: F403
from airflow_provider_batch.client.errors import __all__ as _errors_all
from airflow_provider_batch.client.models import *  # noqa: F403
from airflow_provider_batch.client.models import __all__ as _models_all

__all__ = ["ClientSettings", "DEFAULT_BASE_URL", *_errors_all, *_models_all]
