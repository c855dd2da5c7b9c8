"""Settings of the OpenAI client: the shared :class:`ClientSettings` with OpenAI's base URL."""

from __future__ import annotations

from typing import Any

from airflow_provider_batch.client._config import ClientSettings

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
    overrides: dict[str, Any] = {}
    if api_key is not None:
        overrides["api_key"] = api_key
    if base_url is not None:
        overrides["base_url"] = base_url
    if settings is None:
        if api_key is None:
            raise ValueError("an API key is required: pass settings=OpenAISettings(...) or api_key=...")
        return OpenAISettings(**overrides)
    fields = {**settings.model_dump(), **overrides}
    if "base_url" not in settings.model_fields_set and base_url is None:
        fields["base_url"] = OPENAI_BASE_URL  # a plain ClientSettings defaults to Together's
    return OpenAISettings.model_validate(fields)
