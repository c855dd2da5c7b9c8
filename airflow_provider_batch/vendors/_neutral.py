"""Shells shared by the vendors that put a wire client of their own behind the neutral ``files`` /
``batches`` (OpenAI, Anthropic):

* :class:`WireClient` / :class:`AsyncWireClient`: the constructor of a vendor's own wire client
  (its settings, one transport of the shared send loop), its ``repr`` and its closing; the vendor
  adds its settings and its routes;
* :class:`NeutralClient`: the context-manager and ``repr`` of the synchronous facade;
* :class:`AsyncNeutralClient`: the asyncio facade a trigger needs (poll and cancel), answering in
  the neutral model.

No Airflow imports: the clients are the provider's own httpx clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._transport import AsyncTransport, SyncTransport
from airflow_provider_batch.client.models import BatchJob

__all__ = ["AsyncNeutralClient", "AsyncWireClient", "NeutralClient", "WireClient"]

_W = TypeVar("_W", bound="WireClient")
_A = TypeVar("_A", bound="AsyncWireClient")


def _no_settings(settings: ClientSettings | None, *, api_key: str | None, base_url: str | None) -> Any:
    raise NotImplementedError("a wire client names how its settings are made (settings_of)")


class WireClient:
    """A vendor's blocking wire client: settings made by :attr:`settings_of` (the vendor's base URL
    and authentication), one :class:`SyncTransport`, and the routes :meth:`_bind` hangs on it.

    :param settings: base URL, key, timeouts and retry budget.
    :param api_key: overrides ``settings.api_key`` (or stands in for ``settings``).
    :param base_url: overrides ``settings.base_url`` (API root including ``/v1``).
    :param http_client: an :class:`httpx.Client` to use (and not close).
    :param sleep: called with the delay in seconds before each retry.
    """

    #: ``(settings, *, api_key, base_url) -> the vendor's settings`` (e.g. ``openai_settings``).
    settings_of: Callable[..., Any] = staticmethod(_no_settings)
    settings: ClientSettings

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = type(self).settings_of(settings, api_key=api_key, base_url=base_url)
        self._wire = SyncTransport(self.settings, http_client=http_client, sleep=sleep)
        self._bind(self._wire)

    def _bind(self, wire: SyncTransport) -> None:
        """Hang the vendor's routes (``files``, ``batches``) on ``wire``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (only when this client created it)."""
        self._wire.close()


class AsyncWireClient:
    """The asyncio twin of :class:`WireClient` (an :class:`AsyncTransport`, ``aclose``)."""

    settings_of: Callable[..., Any] = staticmethod(_no_settings)
    settings: ClientSettings

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = type(self).settings_of(settings, api_key=api_key, base_url=base_url)
        self._wire = AsyncTransport(self.settings, http_client=http_client, sleep=sleep)
        self._bind(self._wire)

    def _bind(self, wire: AsyncTransport) -> None:
        """Hang the vendor's routes (``files``, ``batches``) on ``wire``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    async def __aenter__(self: _A) -> _A:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (only when this client created it)."""
        await self._wire.aclose()


class NeutralClient:
    """A vendor's synchronous facade: ``_wire`` is its wire client; subclasses set ``files`` and
    ``batches``. ``vendor`` is set by :meth:`BatchVendor.client`."""

    files: Any
    batches: Any

    def __init__(self, wire: Any) -> None:
        self._wire = wire
        self.settings = wire.settings
        self.vendor: Any = None

    @property
    def wire(self) -> Any:
        """The vendor's own wire client (its objects exactly as the API sends them)."""
        return self._wire

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._wire.close()


class _AsyncBatches:
    def __init__(self, wire: Any, neutral: Callable[[Any], BatchJob]) -> None:
        self._c, self._neutral = wire, neutral

    async def retrieve(self, batch_id: str) -> BatchJob:
        return self._neutral(await self._c.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchJob:
        return self._neutral(await self._c.batches.cancel(batch_id))


class AsyncNeutralClient:
    """What the trigger needs of an asyncio client: poll and cancel, in the neutral model.

    :param wire: the vendor's asyncio wire client (``batches.retrieve`` / ``cancel``, ``aclose``).
    :param neutral: its batch object -> :class:`BatchJob`.
    """

    def __init__(self, wire: Any, neutral: Callable[[Any], BatchJob]) -> None:
        self._wire = wire
        self.settings = wire.settings
        self.batches = _AsyncBatches(wire, neutral)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    async def aclose(self) -> None:
        await self._wire.aclose()
