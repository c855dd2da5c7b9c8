"""What the sync and async shells share besides the decisions in ``_core``: set-up and naming."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client._config import ClientSettings

__all__ = ["Resource", "ShellBase", "log_retry", "resolve_settings"]

H = TypeVar("H")
C = TypeVar("C")


def resolve_settings(
    settings: ClientSettings | None, *, api_key: str | None = None, base_url: str | None = None
) -> ClientSettings:
    """Settings from an explicit object, keyword overrides, or both."""
    overrides: dict[str, Any] = {}
    if api_key is not None:
        overrides["api_key"] = api_key
    if base_url is not None:
        overrides["base_url"] = base_url
    if settings is None:
        if api_key is None:
            raise ValueError("an API key is required: pass settings=ClientSettings(...) or api_key=...")
        return ClientSettings(**overrides)
    return ClientSettings.model_validate({**settings.model_dump(), **overrides}) if overrides else settings


def log_retry(
    logger: logging.Logger, spec: core.RequestSpec, decision: core.Decision, attempt: int, limit: int
) -> None:
    """One WARNING per retry: method, path, status or failure, attempt and delay (never headers)."""
    action = "Retrying"
    if decision.check_created:
        action = "Checking for the result of"
    logger.warning(
        "%s %s %s after %s (attempt %d of %d) in %.2fs",
        action,
        spec.method,
        spec.where,
        decision.reason,
        attempt + 1,
        limit + 1,
        decision.delay,
    )


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
        self.settings = resolve_settings(settings, api_key=api_key, base_url=base_url)
        self._owns_http = http_client is None
        self._http: H = http_client if http_client is not None else new_http(self.settings)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"


class Resource(Generic[C]):
    """A group of API calls (``client.files``, ``client.batches``) bound to one client."""

    def __init__(self, client: C) -> None:
        self._c = client
