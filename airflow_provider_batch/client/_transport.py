"""The send loops every vendor's client runs on, blocking and asyncio; no vendor route is here.

A vendor's client (``vendors/<name>/client``) builds :class:`~airflow_provider_batch.client._core.RequestSpec`
objects and parsers for its routes and hands them to a transport: :meth:`SyncTransport._call` for
one JSON answer, ``_send(consume=...)`` for a streamed download, ``_send(recover=...)`` for a create
that must never be blindly re-sent, and ``_stream`` for a list read as it arrives. Every decision
(retry, backoff, error mapping) is in ``_core``; these classes only sleep, read and stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client._base import ShellBase, log_retry
from airflow_provider_batch.client._body import BodyReader
from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._files import temp_path_for
from airflow_provider_batch.client._listing import RESTART, ListReader, ListShape, after_failure
from airflow_provider_batch.client.errors import DownloadIncompleteError

__all__ = ["AsyncTransport", "SyncTransport", "asave_download", "save_download"]

logger = logging.getLogger("airflow_provider_batch.client")

T = TypeVar("T")
_Parser = Callable[[core.RequestSpec, httpx.Response], T]
_Outcome = tuple[httpx.Response | None, Exception | None, Any]


class SyncTransport(ShellBase[httpx.Client]):
    """The blocking send loop every vendor's client runs on: retries, capped reads, streamed lists.

    :param settings: base URL, key, timeouts and retry budget.
    :param api_key: overrides ``settings.api_key`` (or stands in for ``settings``).
    :param base_url: overrides ``settings.base_url`` (API root including ``/v1``).
    :param http_client: an :class:`httpx.Client` to use (and not close); ``verify`` is then its own.
    :param sleep: called with the delay in seconds before each retry (inject a recorder in tests).
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            settings,
            api_key=api_key,
            base_url=base_url,
            http_client=http_client,
            sleep=sleep,
            new_http=lambda s: httpx.Client(verify=s.verify, follow_redirects=False),
        )

    def close(self) -> None:
        """Close the connection pool (only when this client created it)."""
        if self._owns_http:
            self._http.close()

    def _call(self, spec: core.RequestSpec, parse: _Parser[T]) -> T:
        return parse(spec, self._send(spec))

    def _send(
        self,
        spec: core.RequestSpec,
        *,
        consume: Callable[[httpx.Response], Any] | None = None,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """Send ``spec`` until ``_core.decide`` says stop; return the answer, or what ``consume`` or
        ``recover`` produced."""
        for attempt in itertools.count():
            response, exc, consumed = self._attempt(spec, consume)
            decision = core.decide(self.settings, spec, attempt, response=response, exc=exc)
            if decision.error is None:
                return consumed if consume is not None else response
            checking = decision.check_created and recover is not None
            if not (decision.retry or checking):
                raise decision.error
            log_retry(logger, spec, decision, attempt, self.settings.max_retries)
            self._sleep(decision.delay)
            if checking:
                found = recover()  # type: ignore[misc]
                if found is not None:
                    return found
                if not decision.retry:
                    raise decision.error
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, spec: core.RequestSpec, consume: Callable[[httpx.Response], Any] | None) -> _Outcome:
        response, exc = self._open(spec)
        if response is None or not core.is_accepted(spec, response.status_code):
            return response, exc, None
        try:
            if consume is not None:
                return response, None, consume(response)
            return self._read(spec, response), None, None
        except httpx.TransportError as exc:
            # A cut download says how much arrived; any other cut body is a plain transport error.
            return None, core.download_failure(spec, response, exc) if consume else exc, None
        except DownloadIncompleteError as exc:
            return None, exc, None
        finally:
            response.close()

    def _open(self, spec: core.RequestSpec) -> tuple[httpx.Response | None, Exception | None]:
        """Send once: an accepted answer comes back open and unread, any other read (capped) and closed."""
        request = core.build_request(self.settings, spec)
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as exc:
            return None, exc
        if core.is_accepted(spec, response.status_code):
            return response, None
        try:
            return self._read(spec, response), None
        except httpx.TransportError as exc:
            return None, exc
        finally:
            response.close()

    def _read(self, spec: core.RequestSpec, response: httpx.Response) -> httpx.Response:
        reader = BodyReader(self.settings, spec, response)
        for chunk in response.iter_bytes():
            if reader.add(chunk):
                break
        return reader.response()

    def _stream(
        self, spec: core.RequestSpec, shape: ListShape[T], *, restartable: bool = False
    ) -> Generator[Any, None, None]:
        """Yield a list answer's models as its body arrives (see ``_listing``). A failed attempt is
        sent again only while nothing was yielded, or when ``restartable`` (after a ``RESTART``)."""
        for attempt in itertools.count():
            response, exc = self._open(spec)
            listing = None
            if response is not None and core.is_accepted(spec, response.status_code):
                listing = ListReader(spec, response.headers, shape, self.settings.max_list_element_bytes)
                try:
                    yield from _drain(response, listing)
                    return
                except httpx.TransportError as cut:
                    response, exc = None, cut
            decision = core.decide(self.settings, spec, attempt, response=response, exc=exc)
            decision = after_failure(decision, listing, restartable)
            if not decision.retry:
                raise decision.error  # type: ignore[misc]
            log_retry(logger, spec, decision, attempt, self.settings.max_retries)
            self._sleep(decision.delay)
            if listing is not None and listing.yielded:
                yield RESTART


def _drain(response: httpx.Response, listing: ListReader[T]) -> Generator[T, None, None]:
    try:
        for models in map(listing.feed, response.iter_bytes()):  # no local keeps a raw chunk
            yield from models
        yield from listing.close()
    finally:
        response.close()


def save_download(spec: core.RequestSpec, response: httpx.Response, dest: Path) -> None:
    """Write a download to ``dest`` atomically (temp file + rename), checking its length."""
    temp = temp_path_for(dest)
    try:
        with open(temp, "wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
        failure = core.download_failure(spec, response, None)
        if failure is not None:
            raise failure
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


class AsyncTransport(ShellBase[httpx.AsyncClient]):
    """The asyncio twin of :class:`SyncTransport` (same names, awaitable).

    :param settings: base URL, key, timeouts and retry budget.
    :param api_key: overrides ``settings.api_key`` (or stands in for ``settings``).
    :param base_url: overrides ``settings.base_url`` (API root including ``/v1``).
    :param http_client: an :class:`httpx.AsyncClient` to use (and not close); ``verify`` is then its own.
    :param sleep: called with the delay in seconds before each retry (inject a recorder in tests).
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            settings,
            api_key=api_key,
            base_url=base_url,
            http_client=http_client,
            sleep=sleep,
            new_http=lambda s: httpx.AsyncClient(verify=s.verify, follow_redirects=False),
        )

    async def aclose(self) -> None:
        """Close the connection pool (only when this client created it)."""
        if self._owns_http:
            await self._http.aclose()

    async def _call(self, spec: core.RequestSpec, parse: _Parser[T]) -> T:
        return parse(spec, await self._send(spec))

    async def _send(
        self,
        spec: core.RequestSpec,
        *,
        consume: Callable[[httpx.Response], Awaitable[Any]] | None = None,
        recover: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """Send ``spec`` until ``_core.decide`` says stop; return the answer, or what ``consume`` or
        ``recover`` produced."""
        for attempt in itertools.count():
            response, exc, consumed = await self._attempt(spec, consume)
            decision = core.decide(self.settings, spec, attempt, response=response, exc=exc)
            if decision.error is None:
                return consumed if consume is not None else response
            checking = decision.check_created and recover is not None
            if not (decision.retry or checking):
                raise decision.error
            log_retry(logger, spec, decision, attempt, self.settings.max_retries)
            await self._sleep(decision.delay)
            if checking:
                found = await recover()  # type: ignore[misc]
                if found is not None:
                    return found
                if not decision.retry:
                    raise decision.error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, spec: core.RequestSpec, consume: Callable[[httpx.Response], Awaitable[Any]] | None
    ) -> _Outcome:
        response, exc = await self._open(spec)
        if response is None or not core.is_accepted(spec, response.status_code):
            return response, exc, None
        try:
            if consume is not None:
                return response, None, await consume(response)
            return await self._read(spec, response), None, None
        except httpx.TransportError as exc:
            # A cut download says how much arrived; any other cut body is a plain transport error.
            return None, core.download_failure(spec, response, exc) if consume else exc, None
        except DownloadIncompleteError as exc:
            return None, exc, None
        finally:
            await response.aclose()

    async def _open(self, spec: core.RequestSpec) -> tuple[httpx.Response | None, Exception | None]:
        """Send once: an accepted answer comes back open and unread, any other read (capped) and closed."""
        request = core.build_request(self.settings, spec)
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as exc:
            return None, exc
        if core.is_accepted(spec, response.status_code):
            return response, None
        try:
            return await self._read(spec, response), None
        except httpx.TransportError as exc:
            return None, exc
        finally:
            await response.aclose()

    async def _read(self, spec: core.RequestSpec, response: httpx.Response) -> httpx.Response:
        reader = BodyReader(self.settings, spec, response)
        async for chunk in response.aiter_bytes():
            if reader.add(chunk):
                break
        return reader.response()

    async def _stream(
        self, spec: core.RequestSpec, shape: ListShape[T], *, restartable: bool = False
    ) -> AsyncGenerator[Any, None]:
        """Yield a list answer's models as its body arrives (see ``_listing``). A failed attempt is
        sent again only while nothing was yielded, or when ``restartable`` (after a ``RESTART``)."""
        for attempt in itertools.count():
            response, exc = await self._open(spec)
            listing = None
            if response is not None and core.is_accepted(spec, response.status_code):
                listing = ListReader(spec, response.headers, shape, self.settings.max_list_element_bytes)
                try:
                    async with contextlib.aclosing(_adrain(response, listing)) as items:  # closed at once
                        async for item in items:
                            yield item
                    return
                except httpx.TransportError as cut:
                    response, exc = None, cut
            decision = core.decide(self.settings, spec, attempt, response=response, exc=exc)
            decision = after_failure(decision, listing, restartable)
            if not decision.retry:
                raise decision.error  # type: ignore[misc]
            log_retry(logger, spec, decision, attempt, self.settings.max_retries)
            await self._sleep(decision.delay)
            if listing is not None and listing.yielded:
                yield RESTART


async def _adrain(response: httpx.Response, listing: ListReader[T]) -> AsyncGenerator[T, None]:
    try:
        async for chunk in response.aiter_bytes():
            try:
                models = listing.feed(chunk)
            finally:
                del chunk  # no local keeps a raw chunk (the body may quote the key back)
            for model in models:
                yield model
        for model in listing.close():
            yield model
    finally:
        await response.aclose()


async def asave_download(spec: core.RequestSpec, response: httpx.Response, dest: Path) -> None:
    """Async twin of :func:`save_download`."""
    temp = temp_path_for(dest)
    try:
        with open(temp, "wb") as handle:
            async for chunk in response.aiter_bytes():
                handle.write(chunk)
        failure = core.download_failure(spec, response, None)
        if failure is not None:
            raise failure
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
