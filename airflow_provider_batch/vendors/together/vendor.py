"""Together AI as a :class:`~airflow_provider_batch.vendors.base.BatchVendor`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_batch.client._config import DEFAULT_BASE_URL, ClientSettings
from airflow_provider_batch.inputs.limits import SUPPORTED_ENDPOINTS, BatchLimits
from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE, PriceTable
from airflow_provider_batch.vendors.base import BatchVendor, Recovery
from airflow_provider_batch.vendors.together.client import AsyncTogetherClient, TogetherClient

__all__ = ["TogetherVendor"]


class TogetherVendor(BatchVendor):
    """Together's Batch API (reference: ``together-batch-api.md``).

    A lost create is found among the batches on the row's own input file: every part is uploaded
    as its own file, so that list holds this row's batches only.
    """

    name: ClassVar[str] = "together"
    display_name: ClassVar[str] = "Together AI"
    conn_types: ClassVar[tuple[str, ...]] = ("together",)
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    recovery: ClassVar[Recovery] = "input_file"
    endpoints: ClassVar[tuple[str, ...]] = SUPPORTED_ENDPOINTS
    upload_purpose: ClassVar[str] = "batch-api"
    #: An expired or cancelled batch writes no line for a request that never ran: it is found
    #: unanswered, and the batch's status names its row status.
    unrun_error_statuses: ClassVar[Mapping[str, str]] = {}
    limits: ClassVar[BatchLimits] = BatchLimits()
    prices: ClassVar[PriceTable] = DEFAULT_PRICE_TABLE

    def client(self, settings: ClientSettings) -> TogetherClient:
        return TogetherClient(settings)

    def async_client(self, settings: ClientSettings, *, http_client: Any = None) -> AsyncTogetherClient:
        return AsyncTogetherClient(settings, http_client=http_client)

    def server_app(self, controller: Any) -> Any:
        from airflow_provider_batch.vendors.together.server import build_app

        return build_app(controller)

    def doctor_probe(self, conn_id: str) -> Any:
        from airflow_provider_batch.vendors.together.doctor import TogetherProbe

        return TogetherProbe(conn_id)

    def default_console_url(self, base_url: str, batch_id: str) -> str:
        """The base URL without ``/v1``, plus ``/batches/{batch_id}``."""
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        return f"{root}/batches/{batch_id}"
