"""Assemble Together's emulation: its Files and Batch routes and the shared control plane, inside
the shared middleware (request ids, statistics, latency, bearer auth, fault injection, access log)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp

from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.testing.server.middleware import ServerMiddleware
from airflow_provider_batch.testing.server.routes_control import control_routes
from airflow_provider_batch.testing.server.routing import bad_method, not_found
from airflow_provider_batch.vendors.together.server.routes_batches import batch_routes
from airflow_provider_batch.vendors.together.server.routes_files import file_routes

__all__ = ["build_app"]


def build_app(controller: Controller) -> ASGIApp:
    """Together's app: its routes wrapped in the request-id / auth / fault middleware."""
    app = Starlette(
        routes=[*file_routes(), *batch_routes(), *control_routes()],
        exception_handlers={404: not_found, 405: bad_method},
    )
    app.state.store = controller.store
    app.state.controller = controller
    return ServerMiddleware(app, controller.store, controller.faults)
