"""The routes of Anthropic's Message Batches emulation, as the shared server's statistics and fault
scripts name them (``"METHOD /path/{param}"``), and the downloads a ``truncate`` fault may cut short."""

from __future__ import annotations

__all__ = ["DOWNLOAD_TEMPLATES", "ROUTE_TEMPLATES"]

ROUTE_TEMPLATES: tuple[str, ...] = (
    "POST /v1/messages/batches",
    "GET /v1/messages/batches",
    "GET /v1/messages/batches/{id}",
    "DELETE /v1/messages/batches/{id}",
    "POST /v1/messages/batches/{id}/cancel",
    "GET /v1/messages/batches/{id}/results",
)

DOWNLOAD_TEMPLATES: tuple[str, ...] = ("GET /v1/messages/batches/{id}/results",)
