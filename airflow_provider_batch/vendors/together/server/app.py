"""Assemble Together's emulation: its Files and Batch routes and the shared control plane, inside
the shared middleware (request ids, statistics, latency, bearer auth, fault injection, access log)."""

from __future__ import annotations

from starlette.types import ASGIApp

from airflow_provider_batch.testing.server.app import routed_app
from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.vendors.together.server.routes_batches import batch_routes
from airflow_provider_batch.vendors.together.server.routes_files import file_routes

__all__ = ["build_app"]


def build_app(controller: Controller) -> ASGIApp:
    """Together's app: its routes wrapped in the request-id / auth / fault middleware."""
    return routed_app(controller, [*file_routes(), *batch_routes()])
