"""A local server that speaks Together AI's Batch + Files wire protocol, for tests and offline CI.

Results are simulated (see :mod:`~airflow_provider_batch.testing.server.responder`); the protocol,
status life cycle, limits, errors and faults follow the real API. No Airflow imports here.
"""

from __future__ import annotations

from airflow_provider_batch.testing.server.config import DEFAULT_MODELS, FAULT_KINDS, ServerConfig
from airflow_provider_batch.testing.server.responder import count_tokens, respond
from airflow_provider_batch.testing.server.routing import ROUTE_TEMPLATES
from airflow_provider_batch.testing.server.runner import LocalTogetherServer

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "ROUTE_TEMPLATES",
    "LocalTogetherServer",
    "ServerConfig",
    "count_tokens",
    "respond",
]
