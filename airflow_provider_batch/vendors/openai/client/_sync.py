"""Blocking OpenAI client. The send loop, retries and streaming are the shared client's (its shell
is vendor-neutral: every decision is in ``client._core``); this module adds OpenAI's routes."""

from __future__ import annotations

import os
from collections.abc import Collection, Generator, Iterator, Mapping
from pathlib import Path

from airflow_provider_batch.client._files import iter_file
from airflow_provider_batch.client._transport import SyncTransport, save_download
from airflow_provider_batch.vendors._neutral import WireClient
from airflow_provider_batch.vendors.openai.client import _ops as ops
from airflow_provider_batch.vendors.openai.client._config import OpenAISettings, openai_settings
from airflow_provider_batch.vendors.openai.client.errors import UnverifiableCreateError
from airflow_provider_batch.vendors.openai.client.models import (
    CHAT_COMPLETIONS,
    COMPLETION_WINDOW,
    BatchPage,
    FileDeleted,
    OpenAIBatch,
    OpenAIFile,
)

__all__ = ["OpenAIClient"]


class OpenAIClient(WireClient):
    """Blocking client for OpenAI's Files and Batch APIs (or any server that copies them).

    ::

        with OpenAIClient(api_key="...") as client:
            file = client.files.upload("requests.jsonl")
            batch = client.batches.create(file.id, metadata={"run": key}, identity_key="run")

    :param settings: base URL, key, timeouts and retry budget (:class:`OpenAISettings`).
    :param api_key: overrides ``settings.api_key`` (or stands in for ``settings``).
    :param base_url: overrides ``settings.base_url`` (API root including ``/v1``).
    :param http_client: an :class:`httpx.Client` to use (and not close).
    :param sleep: called with the delay in seconds before each retry.
    """

    settings_of = staticmethod(openai_settings)
    settings: OpenAISettings

    def _bind(self, wire: SyncTransport) -> None:
        self.files = Files(wire)
        self.batches = Batches(wire)


def _multipart_body(frame: ops.Multipart, source: Path) -> Iterator[bytes]:
    yield frame.head
    yield from iter_file(source)
    yield frame.tail


class Files:
    """``client.files``: upload, retrieve, download and delete files."""

    def __init__(self, wire: SyncTransport) -> None:
        self._w = wire

    def upload(
        self, path: str | os.PathLike[str], *, purpose: str = "batch", filename: str | None = None
    ) -> OpenAIFile:
        """Upload a local file as ``multipart/form-data`` (streamed, never read whole).

        :param path: the local file (``.jsonl`` for batch input).
        :param purpose: ``batch`` for batch input.
        :param filename: the name to store; defaults to the local file's name.
        """
        source = Path(path)
        frame = ops.Multipart(os.urandom(16).hex(), filename or source.name, purpose)
        spec = ops.file_upload(frame, source.stat().st_size, lambda: _multipart_body(frame, source))
        return self._w._call(spec, ops.parse_file)

    def retrieve(self, file_id: str) -> OpenAIFile:
        return self._w._call(ops.file_retrieve(file_id), ops.parse_file)

    def delete(self, file_id: str) -> FileDeleted:
        return self._w._call(ops.file_delete(file_id), ops.parse_file_deleted)

    def content(self, file_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a file's bytes to ``dest`` atomically (temp file + rename); returns ``dest``."""
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.file_content(file_id)
        self._w._send(spec, consume=lambda response: save_download(spec, response, target))
        return target


class Batches:
    """``client.batches``: create, retrieve, cancel, list, and find a lost create by its metadata."""

    def __init__(self, wire: SyncTransport) -> None:
        self._w = wire

    def create(
        self,
        input_file_id: str,
        endpoint: str = CHAT_COMPLETIONS,
        *,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = COMPLETION_WINDOW,
        identity_key: str | None = None,
        known_batch_ids: Collection[str] = (),
    ) -> OpenAIBatch:
        """Create a batch; never blindly re-sent (see ``client._core.RetryMode.CREATE``).

        After a failure that may have reached the server, the batches whose ``metadata[identity_key]``
        is this create's are looked up (never by content): none beyond ``known_batch_ids`` means the
        create did not happen (it is sent again when retries allow), exactly one is the batch it made.

        :param metadata: up to 16 string pairs stored with the batch; carry the run's identity here.
        :param identity_key: the ``metadata`` key whose value identifies this submission.
        :param known_batch_ids: batches with that identity the caller already knows about.
        :raises UnverifiableCreateError: an ambiguous failure and no ``identity_key`` to look with.
        :raises AmbiguousMetadataCreateError: several unknown batches carry the identity.
        """
        value = ops.identity_value(metadata, identity_key)
        spec = ops.batch_create(input_file_id, endpoint, metadata, completion_window)
        known = frozenset(known_batch_ids)

        def recover() -> OpenAIBatch | None:
            if identity_key is None or value is None:
                raise UnverifiableCreateError(input_file_id)
            return ops.created_batch(self.find_by_metadata(identity_key, value), identity_key, value, known)

        answer = self._w._send(spec, recover=recover)
        if isinstance(answer, OpenAIBatch):
            return answer
        return ops.parse_batch(spec, answer)

    def retrieve(self, batch_id: str) -> OpenAIBatch:
        return self._w._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    def cancel(self, batch_id: str) -> OpenAIBatch:
        """Ask the API to cancel: the batch is ``cancelling``, then ``cancelled`` with partial output."""
        return self._w._call(ops.batch_cancel(batch_id), ops.parse_batch)

    def list_page(self, limit: int = ops.MAX_PAGE, after: str | None = None) -> BatchPage:
        """One page of the account's batches, newest first (``after``: the last id of the previous one)."""
        return self._w._call(ops.batch_list(limit, after), ops.parse_page)

    def iter(self, page_size: int = ops.MAX_PAGE) -> Generator[OpenAIBatch, None, None]:
        """Every batch, newest first, one page in memory at a time."""
        after: str | None = None
        while True:
            page = self.list_page(page_size, after)
            yield from page.data
            after = ops.next_after(page)
            if after is None:
                return

    def find_by_metadata(
        self, key: str, value: str, *, created_after: int | None = None, page_size: int = ops.MAX_PAGE
    ) -> list[OpenAIBatch]:
        """The batches whose ``metadata[key] == value``, paging newest first.

        :param created_after: stop at the first batch created before this Unix time (the create
            looked for cannot be older than the caller's own start).
        """
        found = []
        for batch in self.iter(page_size):
            if ops.older_than(batch, created_after):
                break
            if ops.matches(batch, key, value):
                found.append(batch)
        return found
