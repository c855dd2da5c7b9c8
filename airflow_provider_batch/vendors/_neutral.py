"""Shells shared by the vendors that put a wire client of their own behind the neutral ``files`` /
``batches`` (OpenAI, Anthropic): the context-manager and ``repr`` of the synchronous facade, and
the asyncio facade a trigger needs (poll and cancel), answering in the neutral model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_batch.client.models import BatchJob

__all__ = ["AsyncNeutralClient", "NeutralClient"]


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
