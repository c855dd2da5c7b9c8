"""Blocking Anthropic Message Batches client. The send loop, retries and streaming are the shared
client's (every decision is in ``client._core``); this module adds Anthropic's routes."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

from airflow_provider_batch.client._files import iter_file
from airflow_provider_batch.client._transport import SyncTransport, save_download
from airflow_provider_batch.vendors._neutral import WireClient
from airflow_provider_batch.vendors.anthropic.client import _ops as ops
from airflow_provider_batch.vendors.anthropic.client._config import AnthropicSettings, anthropic_settings
from airflow_provider_batch.vendors.anthropic.client.errors import UnverifiableCreateError
from airflow_provider_batch.vendors.anthropic.client.models import BatchPage, Deleted, MessageBatch

__all__ = ["AnthropicClient"]


class AnthropicClient(WireClient):
    """Blocking client for Anthropic's Message Batches API.

    ::

        with AnthropicClient(api_key="...") as client:
            body = Path("create.json")
            ops.write_create_body(Path("requests.jsonl"), body)
            batch = client.batches.create(body)

    :param settings: base URL, key, timeouts and retry budget (:class:`AnthropicSettings`).
    :param api_key: overrides ``settings.api_key`` (or stands in for ``settings``).
    :param base_url: overrides ``settings.base_url`` (API root including ``/v1``).
    :param http_client: an :class:`httpx.Client` to use (and not close).
    :param sleep: called with the delay in seconds before each retry.
    """

    settings_of = staticmethod(anthropic_settings)
    settings: AnthropicSettings

    def _bind(self, wire: SyncTransport) -> None:
        self.batches = Batches(wire)


class Batches:
    """``client.batches``: create, retrieve, cancel, list, delete, and results."""

    def __init__(self, wire: SyncTransport) -> None:
        self._w = wire

    def create(self, body: str | os.PathLike[str]) -> MessageBatch:
        """Create a batch from a staged body (:func:`~._ops.write_create_body`), streamed.

        The API has no idempotency key and batches carry no metadata, so a create whose answer
        was lost cannot be found again by the client: it is never re-sent after a failure that may
        have reached the server (:class:`UnverifiableCreateError`); the caller's ledger decides.
        """
        source = Path(body)
        spec = ops.batch_create(lambda: iter_file(source), source.stat().st_size)

        def recover() -> MessageBatch | None:
            raise UnverifiableCreateError(str(source.name))

        answer = self._w._send(spec, recover=recover)
        return ops.parse_batch(spec, answer)

    def retrieve(self, batch_id: str) -> MessageBatch:
        return self._w._call(ops.batch_retrieve(batch_id), ops.parse_batch)

    def cancel(self, batch_id: str) -> MessageBatch:
        """Ask the API to cancel: ``canceling``, then ``ended`` with ``cancel_initiated_at`` set."""
        return self._w._call(ops.batch_cancel(batch_id), ops.parse_batch)

    def delete(self, batch_id: str) -> Deleted:
        """Delete an ended batch (and its results)."""
        return self._w._call(ops.batch_delete(batch_id), ops.parse_deleted)

    def list_page(self, limit: int = ops.MAX_PAGE, after_id: str | None = None) -> BatchPage:
        """One page of the account's batches, newest first."""
        return self._w._call(ops.batch_list(limit, after_id), ops.parse_page)

    def iter(self, page_size: int = 100) -> Generator[MessageBatch, None, None]:
        """Every batch, newest first, one page in memory at a time."""
        after: str | None = None
        while True:
            page = self.list_page(page_size, after)
            yield from page.data
            after = ops.next_after(page)
            if after is None:
                return

    def results(self, batch_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream an ended batch's results JSONL to ``dest`` atomically; returns ``dest``."""
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = ops.batch_results(batch_id)
        self._w._send(spec, consume=lambda response: save_download(spec, response, target))
        return target
