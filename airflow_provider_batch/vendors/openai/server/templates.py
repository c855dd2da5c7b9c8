"""The routes of OpenAI's emulation, as the shared server's statistics and fault scripts name them
(``"METHOD /path/{param}"``), and the downloads a ``truncate`` fault may cut short."""

from __future__ import annotations

__all__ = ["DOWNLOAD_TEMPLATES", "ROUTE_TEMPLATES"]

ROUTE_TEMPLATES: tuple[str, ...] = (
    "POST /v1/files",
    "GET /v1/files/{id}",
    "DELETE /v1/files/{id}",
    "GET /v1/files/{id}/content",
    "POST /v1/batches",
    "GET /v1/batches",
    "GET /v1/batches/{id}",
    "POST /v1/batches/{id}/cancel",
)

DOWNLOAD_TEMPLATES: tuple[str, ...] = ("GET /v1/files/{id}/content",)
