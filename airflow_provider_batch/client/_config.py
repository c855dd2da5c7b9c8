"""Client settings: where the API is, the key, and the time and retry budgets."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["ClientSettings", "DEFAULT_BASE_URL", "vendor_settings"]

DEFAULT_BASE_URL = "https://api.together.ai/v1"


class ClientSettings(BaseModel):
    """Everything a client needs. ``api_key`` is a :class:`SecretStr`, so reprs hide it.

    :param base_url: API root including ``/v1``.
    :param timeout: seconds for one HTTP exchange (read/write/pool); ``connect_timeout`` is separate.
    :param upload_timeout: seconds for reading the answer of a file PUT / download chunk.
    :param max_retries: retries after the first attempt for retryable failures.
    :param retry_base_delay: first backoff delay in seconds; doubles each attempt (with jitter).
    :param retry_max_delay: cap on one backoff delay.
    :param max_retry_after: cap on a server-requested ``Retry-After`` wait.
    :param max_response_bytes: largest JSON answer read into memory; a bigger one raises
        :class:`~airflow_provider_batch.client.errors.ResponseTooLargeError` (file downloads stream
        to disk, and lists stream, so neither is capped).
    :param max_list_element_bytes: largest single element of a streamed list (``files.iter()``,
        ``batches.iter()``); a bigger one raises
        :class:`~airflow_provider_batch.client.errors.ListElementTooLargeError`.
    :param verify: TLS certificate verification; turning it off must be explicit.
    """

    # hide_input_in_errors: a refused key must not come back in the ValidationError's text.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout: float = Field(default=60.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    upload_timeout: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    retry_base_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=8.0, ge=0)
    max_retry_after: float = Field(default=60.0, ge=0)
    max_response_bytes: int = Field(default=32 * 1024**2, gt=0)
    max_list_element_bytes: int = Field(default=1024**2, gt=0)
    verify: bool = True
    user_agent: str = "airflow-provider-batch"

    @field_validator("api_key", mode="before")
    @classmethod
    def _header_safe_key(cls, value: object) -> object:
        """Strip the whitespace a pasted key brings along; refuse any other character an HTTP
        header cannot carry, naming its position, never the key (the HTTP library would otherwise
        quote the whole header, key included, in its error and debug log)."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            return value
        key = raw.strip()
        for position, char in enumerate(key, start=1):
            if not "\x21" <= char <= "\x7e":
                raise ValueError(
                    f"api_key holds U+{ord(char):04X} at character {position}, which an HTTP header "
                    "cannot carry; copy the key again without it"
                )
        return key

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=self.connect_timeout)

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a call to ``base_url`` (a bearer token; a vendor whose API
        authenticates otherwise overrides this in its settings class)."""
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}


S = TypeVar("S", bound=ClientSettings)


def vendor_settings(
    cls: type[S], settings: ClientSettings | None, *, api_key: str | None = None, base_url: str | None = None
) -> S:
    """A vendor's settings (``cls``, whose ``base_url`` default is the vendor's) from an explicit
    object, keyword overrides, or both; a plain :class:`ClientSettings` without a ``base_url`` of
    its own gets the vendor's default, not Together's.

    :raises ValueError: no key anywhere.
    """
    overrides: dict[str, Any] = {}
    if api_key is not None:
        overrides["api_key"] = api_key
    if base_url is not None:
        overrides["base_url"] = base_url
    if settings is None:
        if api_key is None:
            raise ValueError(f"an API key is required: pass settings={cls.__name__}(...) or api_key=...")
        return cls(**overrides)
    fields = {**settings.model_dump(), **overrides}
    if "base_url" not in settings.model_fields_set and base_url is None:
        fields["base_url"] = cls.model_fields["base_url"].default
    return cls.model_validate(fields)
