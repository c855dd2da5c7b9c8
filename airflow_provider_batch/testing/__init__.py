"""Testing helpers: a local Together-compatible server and pytest fixtures for it."""

from __future__ import annotations

from airflow_provider_batch.testing.server import (
    DEFAULT_MODELS,
    FAULT_KINDS,
    ROUTE_TEMPLATES,
    LocalTogetherServer,
    ServerConfig,
    count_tokens,
    respond,
)

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "ROUTE_TEMPLATES",
    "LocalTogetherServer",
    "ServerConfig",
    "count_tokens",
    "respond",
]
