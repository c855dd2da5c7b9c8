"""Asyncio Anthropic client: what a trigger needs (retrieve and cancel), awaitable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._transport import AsyncTransport
from airflow_provider_batch.vendors.anthropic.client import _ops as ops
from airflow_provider_batch.vendors.anthropic.client._config import AnthropicSettings, anthropic_settings
from airflow_provider_batch.vendors.anthropic.client.models import MessageBatch

__all__ = ["AsyncAnthropicClient"]


class AsyncAnthropicClient:
    """Asyncio client for Anthropic's Message Batches API: poll and cancel.

    :param http_client: an :class:`httpx.AsyncClient` to use (and not close).
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings: AnthropicSettings = anthropic_settings(settings, api_key=api_key, base_url=base_url)
        self._wire = AsyncTransport(self.settings, http_client=http_client, sleep=sleep)
        self.batches = AsyncBatches(self._wire)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    async def aclose(self) -> None:
        await self._wire.aclose()


class AsyncBatches:
    def __init__(self, wire: AsyncTransport) -> None:
        self._w = wire

    async def retrieve(self, batch_id: str) -> MessageBatch:
        return await self._w._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    async def cancel(self, batch_id: str) -> MessageBatch:
        return await self._w._call(ops.batch_cancel(batch_id), ops.parse_batch)
