"""Helpers shared by the client tests (imported as ``tests.client.helpers``)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["API_KEY", "SleepRecorder", "call"]

API_KEY = "sk-test-client-key-6f1d2c"


async def call(value: Any) -> Any:
    """Await ``value`` when the async client produced it; pass sync results through."""
    return await value if inspect.isawaitable(value) else value


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
