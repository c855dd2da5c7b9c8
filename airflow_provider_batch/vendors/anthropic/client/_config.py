"""Settings of the Anthropic client: the shared :class:`ClientSettings` with Anthropic's base URL and
its authentication (``x-api-key`` and ``anthropic-version``, never a bearer token)."""

from __future__ import annotations

from airflow_provider_batch.client._config import ClientSettings, vendor_settings

__all__ = ["ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "AnthropicSettings", "anthropic_settings"]

#: Anthropic's API root.
ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
#: The API version every call names.
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicSettings(ClientSettings):
    """:class:`~airflow_provider_batch.client.ClientSettings` whose ``base_url`` defaults to
    Anthropic's and whose key travels as ``x-api-key``."""

    base_url: str = ANTHROPIC_BASE_URL
    anthropic_version: str = ANTHROPIC_VERSION

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key.get_secret_value(), "anthropic-version": self.anthropic_version}


def anthropic_settings(
    settings: ClientSettings | None, *, api_key: str | None = None, base_url: str | None = None
) -> AnthropicSettings:
    """Settings from an explicit object, keyword overrides, or both (Anthropic's base URL by default).

    :raises ValueError: no key anywhere.
    """
    if isinstance(settings, AnthropicSettings) and api_key is None and base_url is None:
        return settings
    return vendor_settings(AnthropicSettings, settings, api_key=api_key, base_url=base_url)
