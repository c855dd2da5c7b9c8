"""Vendors of batch APIs, one folder each, behind one contract (:mod:`.base`).

A connection's type names its vendor: :func:`vendor_for` answers for a connection type, and
:func:`vendor_named` for the name the ledger and the trigger store. A vendor is imported only when
first asked for. Adding one is a folder (client, ``vendor.py``, prices, local-server emulation,
``doctor.py``) and one line in :data:`VENDORS`: the doctor, the local server's ``--vendor``
choices, the pytest plugin's ``<name>_server`` fixtures and the vendor-parametrised tests find it
here.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_batch.vendors.base import BatchVendor

__all__ = ["DEFAULT_VENDOR", "VENDORS", "UnknownVendorError", "vendor_for", "vendor_named"]

#: Vendor name -> ``module:class``. The connection types each one reads are on the class.
VENDORS: dict[str, str] = {
    "together": "airflow_provider_batch.vendors.together.vendor:TogetherVendor",
    "openai": "airflow_provider_batch.vendors.openai.vendor:OpenAIVendor",
    "anthropic": "airflow_provider_batch.vendors.anthropic.vendor:AnthropicVendor",
}

#: The vendor of rows and connections that name none (everything before vendors had names).
DEFAULT_VENDOR = "together"


class UnknownVendorError(ValueError):
    """A connection type or vendor name that no registered vendor reads."""


@cache
def vendor_named(name: str) -> BatchVendor:
    """The vendor registered as ``name`` (``together``, ``openai``)."""
    try:
        module, _, cls = VENDORS[name].partition(":")
    except KeyError:
        raise UnknownVendorError(f"no batch vendor named {name!r}; known: {', '.join(VENDORS)}") from None
    vendor: BatchVendor = getattr(importlib.import_module(module), cls)()
    return vendor


def vendor_for(conn_type: str | None) -> BatchVendor:
    """The vendor that reads connections of type ``conn_type`` (``None`` or empty: the default).

    :raises UnknownVendorError: no vendor reads that type; the message lists the types that work.
    """
    wanted = (conn_type or DEFAULT_VENDOR).strip().lower()
    types: list[str] = []
    for name in VENDORS:
        vendor = vendor_named(name)
        if wanted in vendor.conn_types:
            return vendor
        types.extend(vendor.conn_types)
    raise UnknownVendorError(
        f"connection type {conn_type!r} is not a batch API this provider speaks; use one of "
        f"{', '.join(repr(t) for t in types)}"
    )
