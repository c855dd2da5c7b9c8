"""What the sync and async shells share besides the decisions in ``_core``: set-up and naming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client._config import ClientSettings

__all__ = ["Resource", "ShellBase"]

H = TypeVar("H")


class ShellBase(Generic[H]):
    """Holds the settings, the httpx client (owned or borrowed) and the sleep function.

    :param new_http: builds the httpx client when none is given (with ``verify`` from settings).
    """

    def __init__(
        self,
        settings: ClientSettings | None,
        *,
        api_key: str | None,
        base_url: str | None,
        http_client: H | None,
        sleep: Callable[[float], Any],
        new_http: Callable[[ClientSettings], H],
    ) -> None:
        self.settings = core.resolve_settings(settings, api_key=api_key, base_url=base_url)
        self._owns_http = http_client is None
        self._http: H = http_client if http_client is not None else new_http(self.settings)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"


C = TypeVar("C")


class Resource(Generic[C]):
    """A group of API calls (``client.files``, ``client.batches``) bound to one client."""

    def __init__(self, client: C) -> None:
        self._c = client
