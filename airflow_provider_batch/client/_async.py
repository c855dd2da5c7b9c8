"""Asynchronous Together client: the async twin of ``_sync`` (same names, awaitable).

Every decision is in ``_core``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client import _ops as ops
from airflow_provider_batch.client._base import Resource, ShellBase, log_retry
from airflow_provider_batch.client._body import BodyReader
from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._files import aiter_file, sha256_file, temp_path_for
from airflow_provider_batch.client._listing import RESTART, ListReader, ListShape, acollect, after_failure
from airflow_provider_batch.client.errors import ConflictError, DownloadIncompleteError, TogetherError
from airflow_provider_batch.client.models import (
    CHAT_COMPLETIONS,
    BatchCreateResponse,
    BatchJob,
    FileCleanupReport,
    FileDeleted,
    FileObject,
)

__all__ = ["AsyncTogetherClient"]

logger = logging.getLogger("airflow_provider_batch.client")

T = TypeVar("T")
_Parser = Callable[[core.RequestSpec, httpx.Response], T]
_Outcome = tuple[httpx.Response | None, Exception | None, Any]


class AsyncTogetherClient(ShellBase[httpx.AsyncClient]):
    """Asyncio client for Together's Files and Batch APIs.

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
        self.files = Files(self)
        self.batches = Batches(self)

    async def __aenter__(self) -> AsyncTogetherClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

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
                    async with contextlib.aclosing(_drain(response, listing)) as items:  # closed at once
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


async def _drain(response: httpx.Response, listing: ListReader[T]) -> AsyncGenerator[T, None]:
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


class Files(Resource[AsyncTogetherClient]):
    """``client.files``: upload, retrieve, list, delete and download files."""

    async def upload(
        self,
        path: str | os.PathLike[str],
        *,
        purpose: str = "batch-api",
        filename: str | None = None,
        dedupe: bool = False,
        on_file_id: Callable[[str], None] | None = None,
    ) -> FileObject:
        """Upload a local file (streamed, never read whole); every upload is a new file with its own id.

        :param path: the local file (``.jsonl`` for batch input).
        :param purpose: the API purpose; ``batch-api`` for batch input.
        :param filename: name to store; defaults to the local file's name.
        :param dedupe: send the content's SHA-256, so that content the account already holds is
            answered with that existing file (which may be another run's) instead of a new one.
        :param on_file_id: called with the new file's id as soon as the API assigns it, before the
            bytes are sent, so a caller can record it; a crash after that leaves a known file.
        """
        source = Path(path)
        size = source.stat().st_size
        checksum = await asyncio.to_thread(sha256_file, source) if dedupe else None
        init = ops.upload_init(filename or source.name, purpose, checksum)
        try:
            answer = await self._c._send(init)
        except ConflictError as exc:
            existing = ops.existing_file_id(exc) if dedupe else None
            if existing is None:
                raise
            logger.info("File content already uploaded as %s; reusing it", existing)
            return await self.retrieve(existing)
        target = ops.parse_upload_target(init, answer)
        if on_file_id is not None:
            on_file_id(target.file_id)
        await self._c._send(ops.file_put(target.location, size, lambda: aiter_file(source)))
        return await self._c._call(ops.file_preprocess(target.file_id), ops.parse_file)

    async def retrieve(self, file_id: str) -> FileObject:
        return await self._c._call(ops.file_retrieve(file_id), ops.parse_file)

    def iter(self) -> AsyncGenerator[FileObject, None]:
        """The account's files, one at a time as the answer streams in (memory: one file object).

        Close it early (``async with contextlib.aclosing(client.files.iter()) as files:``) to drop
        the connection. A failure before the first file is retried as usual; after it, the iterator
        raises :class:`StreamInterruptedError` instead (iterate again from the start if that is safe).

        :raises ListElementTooLargeError: one element is over ``max_list_element_bytes``.
        """
        return self._c._stream(ops.file_list(), ops.FILE_LIST)

    async def delete(self, file_id: str) -> FileDeleted:
        return await self._c._call(ops.file_delete(file_id), ops.parse_file_deleted)

    async def delete_many(self, file_ids: Iterable[str]) -> FileCleanupReport:
        """Delete files, best effort: every file is tried; failures are reported and logged, never raised.

        :param file_ids: the files (duplicates are tried once); a file already gone counts as missing.
        """
        tally = ops.FileCleanup()
        for file_id in dict.fromkeys(file_ids):
            try:
                answer = await self.delete(file_id)
            except TogetherError as exc:
                tally.outcome(file_id, None, exc)
            else:
                tally.outcome(file_id, answer, None)
        return tally.report()

    async def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a file's bytes to ``dest`` atomically (temp file + rename); returns ``dest``.

        :raises DownloadIncompleteError: the body stayed short of its Content-Length on every attempt.
        """
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.file_content(file_id)
        await self._c._send(spec, consume=lambda response: _save(spec, response, target))
        return target

    async def list(self) -> list[FileObject]:
        """Every file of the account, in one list: memory grows with the account; prefer :meth:`iter`.

        Unlike :meth:`iter`, a stream that breaks off is started again from scratch.
        """
        return await acollect(self._c._stream(ops.file_list(), ops.FILE_LIST, restartable=True))


async def _save(spec: core.RequestSpec, response: httpx.Response, dest: Path) -> None:
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


class Batches(Resource[AsyncTogetherClient]):
    """``client.batches``: create, retrieve, list and cancel batch jobs."""

    async def create(
        self,
        input_file_id: str,
        endpoint: str = CHAT_COMPLETIONS,
        *,
        completion_window: str | None = None,
        priority: int | None = None,
        model_id: str | None = None,
        known_batch_ids: Collection[str] = (),
    ) -> BatchCreateResponse:
        """Create a batch; never blindly re-sent (see the sync ``Batches.create`` for the look-up).

        :param known_batch_ids: batches on this input file the caller already knows about.
        :raises BatchCreateRejectedError: the API answered with a null job.
        :raises AmbiguousCreateError: after an ambiguous failure, several unknown batches use the file.
        """
        spec = ops.batch_create(
            input_file_id, endpoint, completion_window=completion_window, priority=priority, model_id=model_id
        )
        known = frozenset(known_batch_ids)

        async def recover() -> BatchJob | None:
            return ops.created_batch(await self.find_by_input_file(input_file_id), input_file_id, known)

        answer = await self._c._send(spec, recover=recover)
        if isinstance(answer, BatchJob):
            return BatchCreateResponse(job=answer)
        return ops.parse_create(spec, answer)

    async def retrieve(self, batch_id: str) -> BatchJob:
        return await self._c._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    def iter(self) -> AsyncGenerator[BatchJob, None]:
        """The account's batches, one at a time as the answer streams in (memory: one batch).

        Same retry rule and early close as ``files.iter()``.

        :raises StreamInterruptedError: the answer broke off after batches were yielded.
        :raises ListElementTooLargeError: one element is over ``max_list_element_bytes``.
        """
        return self._c._stream(ops.batch_list(), ops.BATCH_LIST)

    async def find_by_input_file(self, input_file_id: str) -> list[BatchJob]:
        """The batches whose ``input_file_id`` is ``input_file_id``, from one streamed pass over
        the batch list (memory: the matches only; a broken-off pass is started again).

        :param input_file_id: the input file.
        """
        stream = self._c._stream(ops.batch_list(), ops.batches_on_file(input_file_id), restartable=True)
        return await acollect(stream)

    async def cancel(self, batch_id: str) -> BatchJob:
        return await self._c._call(ops.batch_cancel(batch_id), ops.parse_batch)

    async def list(self) -> list[BatchJob]:
        """Every batch of the account, in one list: memory grows with the account; prefer :meth:`iter`."""
        return await acollect(self._c._stream(ops.batch_list(), ops.BATCH_LIST, restartable=True))
