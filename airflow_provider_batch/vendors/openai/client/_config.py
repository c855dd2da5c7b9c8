"""Settings of the OpenAI client: the shared :class:`ClientSettings` with OpenAI's base URL."""

from __future__ import annotations

from airflow_provider_batch.client._config import ClientSettings, vendor_settings

__all__ = ["OPENAI_BASE_URL", "OpenAISettings", "openai_settings"]

#: OpenAI's API root. Any server that copies its wire format works by setting ``base_url``
#: (Azure OpenAI's v1 API ``https://RESOURCE.openai.azure.com/openai/v1``, Groq
#: ``https://api.groq.com/openai/v1``, a self-hosted ``http://host:8000/v1``).
OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAISettings(ClientSettings):
    """:class:`~airflow_provider_batch.client.ClientSettings` (timeouts, retry budget, caps; the key is
    a ``SecretStr``) whose ``base_url`` defaults to OpenAI's."""

    base_url: str = OPENAI_BASE_URL


def openai_settings(
    settings: ClientSettings | None, *, api_key: str | None = None, base_url: str | None = None
) -> OpenAISettings:
    """Settings from an explicit object, keyword overrides, or both (OpenAI's base URL by default).

    :raises ValueError: no key anywhere.
    """
    return vendor_settings(OpenAISettings, settings, api_key=api_key, base_url=base_url)
