"""Synchronous Together client: the send loop, sleeping and streaming; every decision is in ``_core``."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Collection, Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from airflow_provider_batch.client import _core as core
from airflow_provider_batch.client import _ops as ops
from airflow_provider_batch.client._base import Resource, ShellBase, log_retry
from airflow_provider_batch.client._body import BodyReader
from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client._files import iter_file, sha256_file, temp_path_for
from airflow_provider_batch.client._listing import RESTART, ListReader, ListShape, after_failure, collect
from airflow_provider_batch.client.errors import ConflictError, DownloadIncompleteError, TogetherError
from airflow_provider_batch.client.models import (
    CHAT_COMPLETIONS,
    BatchCreateResponse,
    BatchJob,
    FileCleanupReport,
    FileDeleted,
    FileObject,
)

__all__ = ["TogetherClient"]

logger = logging.getLogger("airflow_provider_batch.client")

T = TypeVar("T")
_Parser = Callable[[core.RequestSpec, httpx.Response], T]
_Outcome = tuple[httpx.Response | None, Exception | None, Any]


class TogetherClient(ShellBase[httpx.Client]):
    """Blocking client for Together's Files and Batch APIs.

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
        self.files = Files(self)
        self.batches = Batches(self)

    def __enter__(self) -> TogetherClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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


class Files(Resource[TogetherClient]):
    """``client.files``: upload, retrieve, list, delete and download files."""

    def upload(
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
        init = ops.upload_init(filename or source.name, purpose, sha256_file(source) if dedupe else None)
        try:
            answer = self._c._send(init)
        except ConflictError as exc:
            existing = ops.existing_file_id(exc) if dedupe else None
            if existing is None:
                raise
            logger.info("File content already uploaded as %s; reusing it", existing)
            return self.retrieve(existing)
        target = ops.parse_upload_target(init, answer)
        if on_file_id is not None:
            on_file_id(target.file_id)
        self._c._send(ops.file_put(target.location, size, lambda: iter_file(source)))
        return self._c._call(ops.file_preprocess(target.file_id), ops.parse_file)

    def retrieve(self, file_id: str) -> FileObject:
        return self._c._call(ops.file_retrieve(file_id), ops.parse_file)

    def iter(self) -> Generator[FileObject, None, None]:
        """The account's files, one at a time as the answer streams in (memory: one file object).

        Close it early (``with contextlib.closing(client.files.iter()) as files:``) to drop the
        connection. A failure before the first file is retried as usual; after it, the iterator
        raises :class:`StreamInterruptedError` instead (iterate again from the start if that is safe).

        :raises ListElementTooLargeError: one element is over ``max_list_element_bytes``.
        """
        return self._c._stream(ops.file_list(), ops.FILE_LIST)

    def delete(self, file_id: str) -> FileDeleted:
        return self._c._call(ops.file_delete(file_id), ops.parse_file_deleted)

    def delete_many(self, file_ids: Iterable[str]) -> FileCleanupReport:
        """Delete files, best effort: every file is tried; failures are reported and logged, never raised.

        :param file_ids: the files (duplicates are tried once); a file already gone counts as missing.
        """
        tally = ops.FileCleanup()
        for file_id in dict.fromkeys(file_ids):
            try:
                answer = self.delete(file_id)
            except TogetherError as exc:
                tally.outcome(file_id, None, exc)
            else:
                tally.outcome(file_id, answer, None)
        return tally.report()

    def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a file's bytes to ``dest`` atomically (temp file + rename); returns ``dest``.

        :raises DownloadIncompleteError: the body stayed short of its Content-Length on every attempt.
        """
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.file_content(file_id)
        self._c._send(spec, consume=lambda response: _save(spec, response, target))
        return target

    def list(self) -> list[FileObject]:
        """Every file of the account, in one list: memory grows with the account; prefer :meth:`iter`.

        Unlike :meth:`iter`, a stream that breaks off is started again from scratch.
        """
        return collect(self._c._stream(ops.file_list(), ops.FILE_LIST, restartable=True))


def _save(spec: core.RequestSpec, response: httpx.Response, dest: Path) -> None:
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


class Batches(Resource[TogetherClient]):
    """``client.batches``: create, retrieve, list and cancel batch jobs."""

    def create(
        self,
        input_file_id: str,
        endpoint: str = CHAT_COMPLETIONS,
        *,
        completion_window: str | None = None,
        priority: int | None = None,
        model_id: str | None = None,
        known_batch_ids: Collection[str] = (),
    ) -> BatchCreateResponse:
        """Create a batch; never blindly re-sent (see ``_core.RetryMode.CREATE``).

        After a failure that may have reached the server, the batches on ``input_file_id`` are
        listed: none beyond ``known_batch_ids`` means the create did not happen (it is sent again
        when retries allow), exactly one is the batch it made.

        :param known_batch_ids: batches on this input file the caller already knows about.
        :raises BatchCreateRejectedError: the API answered with a null job.
        :raises AmbiguousCreateError: after an ambiguous failure, several unknown batches use the file.
        """
        spec = ops.batch_create(
            input_file_id, endpoint, completion_window=completion_window, priority=priority, model_id=model_id
        )
        known = frozenset(known_batch_ids)

        def recover() -> BatchJob | None:
            return ops.created_batch(self.find_by_input_file(input_file_id), input_file_id, known)

        answer = self._c._send(spec, recover=recover)
        if isinstance(answer, BatchJob):
            return BatchCreateResponse(job=answer)
        return ops.parse_create(spec, answer)

    def retrieve(self, batch_id: str) -> BatchJob:
        return self._c._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    def iter(self) -> Generator[BatchJob, None, None]:
        """The account's batches, one at a time as the answer streams in (memory: one batch).

        Same retry rule and early close as ``files.iter()``.

        :raises StreamInterruptedError: the answer broke off after batches were yielded.
        :raises ListElementTooLargeError: one element is over ``max_list_element_bytes``.
        """
        return self._c._stream(ops.batch_list(), ops.BATCH_LIST)

    def find_by_input_file(self, input_file_id: str) -> list[BatchJob]:
        """The batches whose ``input_file_id`` is ``input_file_id``, from one streamed pass over
        the batch list (memory: the matches only; a broken-off pass is started again).

        :param input_file_id: the input file.
        """
        stream = self._c._stream(ops.batch_list(), ops.batches_on_file(input_file_id), restartable=True)
        return collect(stream)

    def cancel(self, batch_id: str) -> BatchJob:
        return self._c._call(ops.batch_cancel(batch_id), ops.parse_batch)

    def list(self) -> list[BatchJob]:
        """Every batch of the account, in one list: memory grows with the account; prefer :meth:`iter`."""
        return collect(self._c._stream(ops.batch_list(), ops.BATCH_LIST, restartable=True))
