"""The routes of Together's emulation, as the shared server's statistics and fault scripts name them
(``"METHOD /path/{param}"``), and the downloads a ``truncate`` fault may cut short."""

from __future__ import annotations

__all__ = ["DOWNLOAD_TEMPLATES", "ROUTE_TEMPLATES"]

ROUTE_TEMPLATES: tuple[str, ...] = (
    "POST /v1/files",
    "POST /v1/files/upload",
    "POST /v1/files/multipart/initiate",
    "POST /v1/files/multipart/complete",
    "POST /v1/files/multipart/abort",
    "GET /v1/files",
    "GET /v1/files/{id}",
    "DELETE /v1/files/{id}",
    "GET /v1/files/{id}/content",
    "POST /v1/files/{id}/preprocess",
    "PUT /_uploads/{id}",
    "PUT /_uploads/{id}/parts/{part}",
    "POST /v1/batches",
    "GET /v1/batches",
    "GET /v1/batches/{id}",
    "POST /v1/batches/{id}/cancel",
)

DOWNLOAD_TEMPLATES: tuple[str, ...] = ("GET /v1/files/{id}/content",)
