"""Synchronous Together client: Together's routes on the shared blocking transport
(:class:`~airflow_provider_batch.client._transport.SyncTransport`); every decision is in ``_core``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_provider_batch.client._base import Resource
from airflow_provider_batch.client._files import iter_file, sha256_file
from airflow_provider_batch.client._listing import collect
from airflow_provider_batch.client._parse import delete_each
from airflow_provider_batch.client._transport import SyncTransport, save_download
from airflow_provider_batch.client.errors import ConflictError
from airflow_provider_batch.client.models import (
    CHAT_COMPLETIONS,
    BatchCreateResponse,
    BatchJob,
    FileCleanupReport,
    FileDeleted,
    FileObject,
)
from airflow_provider_batch.vendors.together.client import _ops as ops

__all__ = ["TogetherClient"]

logger = logging.getLogger("airflow_provider_batch.client")


class TogetherClient(SyncTransport):
    """Blocking client for Together's Files and Batch APIs.

    Takes :class:`~airflow_provider_batch.client._transport.SyncTransport`'s parameters (``settings``,
    ``api_key``, ``base_url``, ``http_client``, ``sleep``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files = Files(self)
        self.batches = Batches(self)

    def __enter__(self) -> TogetherClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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
        return delete_each(self.delete, file_ids)

    def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a file's bytes to ``dest`` atomically (temp file + rename); returns ``dest``.

        :raises DownloadIncompleteError: the body stayed short of its Content-Length on every attempt.
        """
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.file_content(file_id)
        self._c._send(spec, consume=lambda response: save_download(spec, response, target))
        return target

    def list(self) -> list[FileObject]:
        """Every file of the account, in one list: memory grows with the account; prefer :meth:`iter`.

        Unlike :meth:`iter`, a stream that breaks off is started again from scratch.
        """
        return collect(self._c._stream(ops.file_list(), ops.FILE_LIST, restartable=True))


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
