"""Pick the ASGI application of a vendor: each vendor supplies its own emulation
(``BatchVendor.server_app``) over the shared store, control plane and fault injection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from airflow_provider_batch.testing.server.control import Controller
from airflow_provider_batch.vendors import VENDORS as _REGISTRY
from airflow_provider_batch.vendors import vendor_named

if TYPE_CHECKING:
    from airflow_provider_batch.vendors.together.server import build_app

__all__ = ["VENDORS", "build_app", "build_vendor_app"]

#: The APIs the server can speak (``--vendor``): every registered vendor; the first is the default.
VENDORS = tuple(_REGISTRY)


def build_vendor_app(controller: Controller, vendor: str = "together") -> ASGIApp:
    """The app that speaks ``vendor``'s API (see :data:`VENDORS`) on the shared store and controls."""
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {VENDORS}")
    app: ASGIApp = vendor_named(vendor).server_app(controller)
    return app


def __getattr__(name: str) -> Any:
    """``build_app``, Together's app, where it was before vendors had folders (loaded on first use)."""
    if name == "build_app":
        return vendor_named("together").server_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
