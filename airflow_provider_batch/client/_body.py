"""Bounded reading of an answer's body, shared by the sync and async shells (no I/O here).

A JSON answer is read into memory, so a hostile or broken server could send an endless or huge
body; :class:`BodyReader` stops it at ``ClientSettings.max_response_bytes``. An error answer is
only excerpted, so its body is cut at :data:`ERROR_BODY_LIMIT` instead of failing the call.
"""

from __future__ import annotations

import httpx

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._core import RequestSpec, is_accepted, request_id
from airflow_provider_batch.client.errors import ResponseTooLargeError

__all__ = ["ERROR_BODY_LIMIT", "BodyReader"]

#: Bytes of an error answer's body that are kept; the rest is never read.
ERROR_BODY_LIMIT = 64 * 1024

_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class BodyReader:
    """Collects the (decoded) chunks of one answer up to a cap.

    Feed it with :meth:`add` until it returns ``True`` or the body ends, then take
    :meth:`response`.

    :raises ResponseTooLargeError: a 2xx answer declares or sends more than the cap.
    """

    def __init__(self, settings: ClientSettings, spec: RequestSpec, response: httpx.Response) -> None:
        self._spec, self._response = spec, response
        self._strict = is_accepted(spec, response.status_code)
        self._limit = settings.max_response_bytes if self._strict else ERROR_BODY_LIMIT
        self._chunks: list[bytes] = []
        self._size = 0
        declared = response.headers.get("content-length", "")
        if self._strict and declared.isdigit() and int(declared) > self._limit:
            raise self._too_large()

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``True`` means the cap is reached and reading should stop."""
        room = self._limit - self._size
        if len(chunk) > room:
            if self._strict:
                raise self._too_large()
            chunk = chunk[:room]
        self._chunks.append(chunk)
        self._size += len(chunk)
        return self._size >= self._limit

    def response(self) -> httpx.Response:
        """The answer with the bytes read as its content (already decoded, so no Content-Encoding)."""
        headers = [
            (key, value)
            for key, value in self._response.headers.multi_items()
            if key.lower() not in _DROPPED_HEADERS
        ]
        return httpx.Response(
            self._response.status_code,
            headers=headers,
            content=b"".join(self._chunks),
            request=self._response.request,
        )

    def _too_large(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            self._spec.method, self._spec.where, self._limit, request_id=request_id(self._response.headers)
        )
