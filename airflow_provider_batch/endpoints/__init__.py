"""The endpoint registry: every endpoint the pipeline validates, estimates, reads and stores.

:func:`endpoint_for` maps a batch endpoint path to its :class:`~.base.Endpoint`. Adding an
endpoint is one module here plus one line in :data:`_ENDPOINTS`. Which endpoints a vendor's
batch API takes is the vendor's to say (``BatchVendor.endpoints``); this registry says what each
endpoint's requests and answers look like.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_batch.endpoints.audio import (
    AUDIO_TRANSCRIPTIONS,
    AUDIO_TRANSLATIONS,
    TranscriptionsEndpoint,
    TranslationsEndpoint,
)
from airflow_provider_batch.endpoints.base import Answer, Endpoint
from airflow_provider_batch.endpoints.chat import CHAT_COMPLETIONS, ChatEndpoint
from airflow_provider_batch.endpoints.embeddings import EMBEDDINGS, EmbeddingsEndpoint
from airflow_provider_batch.endpoints.messages import MESSAGES, MessagesEndpoint
from airflow_provider_batch.endpoints.responses import RESPONSES, ResponsesEndpoint

__all__ = [
    "AUDIO_TRANSCRIPTIONS",
    "AUDIO_TRANSLATIONS",
    "CHAT_COMPLETIONS",
    "EMBEDDINGS",
    "MESSAGES",
    "RESPONSES",
    "Answer",
    "Endpoint",
    "ShapeReader",
    "answer_reader",
    "endpoint_for",
    "known_endpoints",
]

_ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        ChatEndpoint(),
        TranscriptionsEndpoint(),
        TranslationsEndpoint(),
        ResponsesEndpoint(),
        EmbeddingsEndpoint(),
        MessagesEndpoint(),
    )
}


def known_endpoints() -> tuple[str, ...]:
    """Every registered endpoint path, in registry order."""
    return tuple(_ENDPOINTS)


def endpoint_for(path: str) -> Endpoint:
    """The endpoint registered for ``path``.

    :raises ValueError: no endpoint is registered for ``path``.
    """
    try:
        return _ENDPOINTS[path]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported endpoint {path!r}; expected one of {', '.join(_ENDPOINTS)}") from None


class ShapeReader:
    """Reads an answer by its shape, trying each endpoint in turn: how a file whose endpoint is
    unknown, or one of Together's chat and audio endpoints, has always been read (a choice, else a
    transcript)."""

    usage_keys = ChatEndpoint.usage_keys
    cache_usage_keys = ChatEndpoint.cache_usage_keys

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)
        self.answer_name = self.endpoints[0].answer_name

    def read_answer(self, body: Any) -> Answer | None:
        for endpoint in self.endpoints:
            found = endpoint.read_answer(body)
            if found is not None:
                return found
        return None


_BY_SHAPE = ShapeReader(e for e in _ENDPOINTS.values() if e.reads_by_shape)


def answer_reader(path: str | None) -> Endpoint | ShapeReader:
    """What reads the answers of a batch on ``path``: its endpoint, or the shape reader when the
    endpoint is unknown (``None``, or a path not registered) or is read by shape."""
    endpoint = _ENDPOINTS.get(path) if path is not None else None
    if endpoint is None or endpoint.reads_by_shape:
        return _BY_SHAPE
    return endpoint
