"""A local server that speaks each vendor's Batch + Files wire protocol, for tests and offline CI.

The protocol, status life cycle, limits, error shapes and faults follow the real API; the model
answers are simulated (see :mod:`~airflow_provider_batch.testing.server.responder`). Nothing here
imports Airflow.

Command line (prints ``READY http://HOST:PORT/v1`` once serving)::

    python -m airflow_provider_batch.testing.server --host 127.0.0.1 --port 0 --api-key KEY [--vendor openai]

In-process::

    with LocalTogetherServer(ServerConfig(api_key="k", processing_seconds=0.3)) as server:
        server.base_url      # http://127.0.0.1:PORT/v1  (provider client, v1 SDK)
        server.root_url      # http://127.0.0.1:PORT     (together 3.x SDK)
        server.inject("GET /v1/batches/{id}", "429", retry_after=2)
        server.force_status(batch_id, "EXPIRED")

Out of process, the same controls are under ``/_control/``: ``GET stats``, ``POST reset``,
``POST config``, ``POST faults``, ``POST batches/{id}/status``. They require
``Authorization: Bearer <api key>`` and ``application/json`` bodies, and cannot change ``api_key``,
``access_log`` or ``data_dir``; :class:`ControlClient` sends both. A human view of a batch is at
``GET /batches/{id}`` (no key needed; status fields only).

Each vendor's API is its own emulation (``vendors/<name>/server``: Together's by default, OpenAI's
with ``--vendor openai``); the store, clock, control plane and faults here are shared by all.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_batch.testing.server.config import DEFAULT_MODELS, FAULT_KINDS, ServerConfig
from airflow_provider_batch.testing.server.process import server_process
from airflow_provider_batch.testing.server.remote import ControlClient
from airflow_provider_batch.testing.server.responder import count_tokens, respond
from airflow_provider_batch.testing.server.runner import LocalTogetherServer

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "ROUTE_TEMPLATES",
    "ControlClient",
    "LocalTogetherServer",
    "ServerConfig",
    "count_tokens",
    "respond",
    "server_process",
]


def __getattr__(name: str) -> Any:
    """``ROUTE_TEMPLATES``: every vendor emulation's routes, collected on first use."""
    if name == "ROUTE_TEMPLATES":
        from airflow_provider_batch.testing.server.routing import route_templates

        return route_templates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
