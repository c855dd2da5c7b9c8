"""Helpers shared by the client tests (imported as ``tests.client.helpers``)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["API_KEY", "SleepRecorder", "call", "count", "drain", "first"]

API_KEY = "sk-test-client-key-6f1d2c"


async def call(value: Any) -> Any:
    """Await ``value`` when the async client produced it; pass sync results through."""
    return await value if inspect.isawaitable(value) else value


async def drain(items: Any) -> list[Any]:
    """Every item of a sync or async iterator (``client.files.iter()`` of either client)."""
    if hasattr(items, "__aiter__"):
        return [item async for item in items]
    return list(items)


async def count(items: Any) -> int:
    """How many items a sync or async iterator yields (none of them is kept)."""
    total = 0
    if hasattr(items, "__aiter__"):
        async for _ in items:
            total += 1
        return total
    for _ in items:
        total += 1
    return total


async def first(items: Any) -> Any:
    """The first item of a sync or async iterator (``None`` when empty), then close it."""
    if hasattr(items, "__aiter__"):
        try:
            return await anext(items, None)
        finally:
            await items.aclose()
    try:
        return next(items, None)
    finally:
        items.close()


class SleepRecorder:
    """Stands in for ``time.sleep`` / ``asyncio.sleep``: records delays, never waits."""

    def __init__(self, is_async: bool) -> None:
        self.delays: list[float] = []
        self._async = is_async

    def __call__(self, delay: float) -> Any:
        self.delays.append(delay)
        if self._async:
            return _done()
        return None


async def _done() -> None:
    return None
