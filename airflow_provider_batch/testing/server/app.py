"""Assemble the ASGI application."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.testing.server.middleware import ServerMiddleware
from airflow_provider_batch.testing.server.routes_control import control_routes
from airflow_provider_batch.testing.server.routing import bad_method, not_found
from airflow_provider_batch.vendors import VENDORS as _REGISTRY
from airflow_provider_batch.vendors import vendor_named

if TYPE_CHECKING:
    from airflow_provider_batch.vendors.together.server import build_app

__all__ = ["VENDORS", "build_app", "build_vendor_app", "routed_app"]

#: The APIs the server can speak (``--vendor``): every registered vendor, each through its own
#: emulation (``BatchVendor.server_app``); the first is the default.
VENDORS = tuple(_REGISTRY)


def routed_app(controller: Controller, routes: Sequence[BaseRoute]) -> ASGIApp:
    """A vendor's ``/v1`` routes plus ``/_control`` and the status pages, on the controller's store,
    wrapped in the request-id / auth / statistics / fault middleware."""
    app = Starlette(
        routes=[*routes, *control_routes()],
        exception_handlers={404: not_found, 405: bad_method},
    )
    app.state.store = controller.store
    app.state.controller = controller
    return ServerMiddleware(app, controller.store, controller.faults)


def build_vendor_app(controller: Controller, vendor: str = "together") -> ASGIApp:
    """The app that speaks ``vendor``'s API (see :data:`VENDORS`) on the shared store and controls:
    each vendor supplies its own emulation (``BatchVendor.server_app``)."""
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {VENDORS}")
    app: ASGIApp = vendor_named(vendor).server_app(controller)
    return app


def __getattr__(name: str) -> Any:
    """``build_app``, Together's app, where it was before vendors had folders (loaded on first use)."""
    if name == "build_app":
        return vendor_named("together").server_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
