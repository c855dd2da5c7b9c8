"""Asyncio Anthropic client: what a trigger needs (retrieve and cancel), awaitable."""

from __future__ import annotations

from airflow_provider_batch.client._transport import AsyncTransport
from airflow_provider_batch.vendors._neutral import AsyncWireClient
from airflow_provider_batch.vendors.anthropic.client import _ops as ops
from airflow_provider_batch.vendors.anthropic.client._config import AnthropicSettings, anthropic_settings
from airflow_provider_batch.vendors.anthropic.client.models import MessageBatch

__all__ = ["AsyncAnthropicClient"]


class AsyncAnthropicClient(AsyncWireClient):
    """Asyncio client for Anthropic's Message Batches API: poll and cancel.

    :param http_client: an :class:`httpx.AsyncClient` to use (and not close).
    """

    settings_of = staticmethod(anthropic_settings)
    settings: AnthropicSettings

    def _bind(self, wire: AsyncTransport) -> None:
        self.batches = AsyncBatches(wire)


class AsyncBatches:
    def __init__(self, wire: AsyncTransport) -> None:
        self._w = wire

    async def retrieve(self, batch_id: str) -> MessageBatch:
        return await self._w._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    async def cancel(self, batch_id: str) -> MessageBatch:
        return await self._w._call(ops.batch_cancel(batch_id), ops.parse_batch)
