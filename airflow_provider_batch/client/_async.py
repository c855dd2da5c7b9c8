"""Asynchronous Together client: the async twin of ``_sync`` (same names, awaitable).

Every decision is in ``_core``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Collection
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
from airflow_provider_batch.client.errors import ConflictError, DownloadIncompleteError
from airflow_provider_batch.client.models import (
    CHAT_COMPLETIONS,
    BatchCreateResponse,
    BatchJob,
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
            settings, api_key=api_key, base_url=base_url, http_client=http_client, sleep=sleep,
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
        request = core.build_request(self.settings, spec)
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as exc:
            return None, exc, None
        try:
            if consume is not None and core.is_accepted(spec, response.status_code):
                return response, None, await consume(response)
            reader = BodyReader(self.settings, spec, response)
            async for chunk in response.aiter_bytes():
                if reader.add(chunk):
                    break
            return reader.response(), None, None
        except httpx.TransportError as exc:
            # A cut download says how much arrived; any other cut body is a plain transport error.
            return None, core.download_failure(spec, response, exc) if consume else exc, None
        except DownloadIncompleteError as exc:
            return None, exc, None
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
        """Upload a local file (streamed, never read whole); see the synchronous ``Files.upload``."""
        source = Path(path)
        size = source.stat().st_size
        checksum = await asyncio.to_thread(sha256_file, source) if dedupe else None
        init = ops.upload_init(filename or source.name, purpose, checksum)
        try:
            answer = await self._c._send(init)
        except ConflictError as exc:
            existing = ops.existing_file_id(exc)
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

    async def list(self) -> list[FileObject]:
        return await self._c._call(ops.file_list(), ops.parse_file_list)

    async def delete(self, file_id: str) -> FileDeleted:
        return await self._c._call(ops.file_delete(file_id), ops.parse_file_deleted)

    async def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a file's bytes to ``dest`` atomically (temp file + rename); returns ``dest``.

        :raises DownloadIncompleteError: the body stayed short of its Content-Length on every attempt.
        """
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.file_content(file_id)
        await self._c._send(spec, consume=lambda response: _save(spec, response, target))
        return target


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
        """Create a batch; never blindly re-sent (see the synchronous ``Batches.create``).

        :raises BatchCreateRejectedError: the API answered with a null job.
        :raises AmbiguousCreateError: the outcome of a failed create cannot be told.
        """
        spec = ops.batch_create(
            input_file_id, endpoint, completion_window=completion_window, priority=priority, model_id=model_id
        )
        answer = await self._c._send(spec, recover=lambda: self._created_on(input_file_id, known_batch_ids))
        if isinstance(answer, BatchJob):
            return BatchCreateResponse(job=answer)
        return ops.parse_create(spec, answer)

    async def _created_on(self, input_file_id: str, known: Collection[str]) -> BatchJob | None:
        found = ops.created_batch(await self.find_by_input_file(input_file_id), input_file_id, known)
        ops.log_recovery(input_file_id, found)
        return found

    async def find_by_input_file(self, input_file_id: str) -> list[BatchJob]:
        """The batches created on one input file."""
        return [job for job in await self.list() if job.input_file_id == input_file_id]

    async def retrieve(self, batch_id: str) -> BatchJob:
        return await self._c._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    async def list(self) -> list[BatchJob]:
        return await self._c._call(ops.batch_list(), ops.parse_batch_list)

    async def cancel(self, batch_id: str) -> BatchJob:
        return await self._c._call(ops.batch_cancel(batch_id), ops.parse_batch)
