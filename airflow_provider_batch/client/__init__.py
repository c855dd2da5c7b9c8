"""The client layer every vendor shares (httpx + pydantic, no Airflow imports): settings
(:class:`ClientSettings`), the send loops (``_transport``: retries, backoff, capped reads, streamed
lists), the error hierarchy (:mod:`.errors`, rooted at :class:`BatchAPIError`) and the neutral models
the pipeline reads every vendor in (:mod:`.models`: :class:`BatchJob`, :class:`BatchStatus`,
:class:`FileObject`...).

Each vendor's wire client lives in its own folder (``vendors/together/client``,
``vendors/openai/client``). ``TogetherClient`` and ``AsyncTogetherClient`` are still importable from
here, as before vendors had folders::

    from airflow_provider_batch.client import TogetherClient, ClientSettings

    with TogetherClient(api_key="...") as client:
        file = client.files.upload("requests.jsonl")
        job = client.batches.create(file.id).job
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_batch.client._config import DEFAULT_BASE_URL, ClientSettings
from airflow_provider_batch.client.errors import *  # noqa: F403
from airflow_provider_batch.client.errors import __all__ as _errors_all
from airflow_provider_batch.client.models import *  # noqa: F403
from airflow_provider_batch.client.models import __all__ as _models_all

if TYPE_CHECKING:
    from airflow_provider_batch.vendors.together.client import AsyncTogetherClient, TogetherClient

__all__ = [
    "AsyncTogetherClient",
    "ClientSettings",
    "DEFAULT_BASE_URL",
    "TogetherClient",
    *_errors_all,
    *_models_all,
]

_TOGETHER = frozenset({"AsyncTogetherClient", "TogetherClient"})


def __getattr__(name: str) -> Any:
    """Together's clients, loaded on first use (importing the neutral models loads no vendor)."""
    if name in _TOGETHER:
        from airflow_provider_batch.vendors.together import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
