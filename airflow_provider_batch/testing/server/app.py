"""Assemble the ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.testing.server.middleware import ServerMiddleware
from airflow_provider_batch.testing.server.routes_batches import batch_routes
from airflow_provider_batch.testing.server.routes_control import control_routes
from airflow_provider_batch.testing.server.routes_files import file_routes
from airflow_provider_batch.testing.server.routing import api_error

__all__ = ["VENDORS", "build_app", "build_vendor_app"]

#: The APIs the server can speak (``--vendor``); the first is the default.
VENDORS = ("together", "openai")


async def _not_found(request: Request, exc: Exception) -> Response:
    return api_error(request.url.path, 404, f"no route for {request.method} {request.url.path}")


async def _bad_method(request: Request, exc: Exception) -> Response:
    return api_error(request.url.path, 405, f"method {request.method} not allowed on {request.url.path}")


def build_app(controller: Controller) -> ASGIApp:
    """The full server app: routes wrapped in the request-id / auth / fault middleware."""
    app = Starlette(
        routes=[*file_routes(), *batch_routes(), *control_routes()],
        exception_handlers={404: _not_found, 405: _bad_method},
    )
    app.state.store = controller.store
    app.state.controller = controller
    return ServerMiddleware(app, controller.store, controller.faults)


def build_vendor_app(controller: Controller, vendor: str = "together") -> ASGIApp:
    """The app that speaks ``vendor``'s API (see :data:`VENDORS`) on the shared store and controls."""
    if vendor == "together":
        return build_app(controller)
    if vendor == "openai":
        from airflow_provider_batch.vendors.openai.server import build_app as build_openai_app

        return build_openai_app(controller)
    raise ValueError(f"unknown vendor {vendor!r}; expected one of {VENDORS}")
