"""The neutral shell of a vendor's doctor probe: the two-request plan, an httpx pool that records
each exchange (method, place, status; never a header or a query string), and :class:`WireProbe`,
the steps on a client with the neutral ``files`` / ``batches``. A vendor's probe
(``vendors/<name>/doctor.py``, reached through :meth:`BatchVendor.doctor_probe`) subclasses it and
names its expectations, its wire client and its default model."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from airflow_provider_batch.client import BatchAPIError, BatchJob
from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.models import CHAT_COMPLETIONS
from airflow_provider_batch.doctor.expectations import VendorExpectations
from airflow_provider_batch.doctor.probe import BatchSeen, Exchange, Plan, UploadSeen
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.inputs.budget import estimate_tokens
from airflow_provider_batch.pricing import PriceTable

__all__ = ["WireProbe", "chat_plan", "seen", "template"]

#: Tokens the chat template adds around each message (an over-estimate, so the cost is a bound).
_TEMPLATE_TOKENS = 32
_PROMPTS = ("Reply with the single word: ok", "Reply with the single word: yes")
_FILE_ID = re.compile(r"file-[A-Za-z0-9._-]+")


def chat_plan(
    prices: PriceTable, model: str, max_tokens: int, endpoint: str, wire: Mapping[str, str] | None = None
) -> Plan:
    """The doctor's two one-line chat requests to ``endpoint`` and their estimated cost.

    :param wire: fields each line carries besides ``custom_id`` and ``body`` (OpenAI's ``method``
        and ``url``).
    """
    run = uuid.uuid4().hex[:8]
    lines = [
        {
            "custom_id": f"doctor-{run}-{n}",
            **(wire or {}),
            "body": {"model": model, "messages": [{"role": "user", "content": prompt}],
                     "max_tokens": max_tokens, "temperature": 0},
        }
        for n, prompt in enumerate(_PROMPTS, 1)
    ]  # fmt: skip
    prompt_tokens = sum(estimate_tokens(p) + _TEMPLATE_TOKENS for p in _PROMPTS)
    if not prices.has_price(model):
        note = f"no price for {model!r} in the price table: cost unknown (tiny: {len(lines)} short requests)"
        return Plan(model, endpoint, lines, None, note)
    cost = prices.cost(model, prompt_tokens, max_tokens * len(lines))
    return Plan(model, endpoint, lines, cost.batch_usd, f"price table as of {prices.as_of}")


class _Recorder:
    """httpx event hooks that keep each exchange's method, place and status (never a header or a
    query string: a presigned URL's query is a credential too)."""

    def __init__(self, base_url: str) -> None:
        self._base = urlsplit(base_url)
        self.exchanges: list[Exchange] = []

    def where(self, url: httpx.URL) -> str:
        base_path = self._base.path.rstrip("/")
        if url.host == self._base.hostname and url.path.startswith(base_path + "/"):
            return url.path[len(base_path) :]
        return f"{url.scheme}://{url.netloc.decode()}{'/...' if url.path not in ('', '/') else ''}"

    def on_response(self, response: httpx.Response) -> None:
        request = response.request
        self.exchanges.append(Exchange(request.method, self.where(request.url), response.status_code))

    def take(self) -> list[Exchange]:
        taken, self.exchanges = self.exchanges, []
        return taken


def template(exchange: Exchange) -> str:
    if not exchange.where.startswith("/"):
        return f"{exchange.method} {{upload_url}}"
    return f"{exchange.method} {_FILE_ID.sub('{id}', exchange.where)}"


def seen(job: BatchJob, warning: str | None = None) -> BatchSeen:
    return BatchSeen(
        batch_id=job.id,
        status=job.raw_status or job.status.value,
        progress=job.progress,
        output_file_id=job.output_file_id,
        error_file_id=job.error_file_id,
        error=job.error,
        warning=warning,
    )


class WireProbe:
    """The doctor's steps through a vendor's client with the neutral ``files`` / ``batches``, on the
    connection ``conn_id`` (its type names the vendor). A subclass sets :attr:`expectations`,
    :attr:`default_model` and :attr:`endpoint`, and opens its wire client in :meth:`_open`.
    """

    expectations: ClassVar[VendorExpectations]
    #: The model of the two requests when ``--model`` names none (a cheap one).
    default_model: ClassVar[str]
    #: The endpoint the two requests go to.
    endpoint: ClassVar[str] = CHAT_COMPLETIONS
    #: Fields each line carries besides ``custom_id`` and ``body`` (OpenAI's ``method`` and ``url``).
    wire_fields: ClassVar[Mapping[str, str]] = {}

    def __init__(self, conn_id: str) -> None:
        self._hook = TogetherBatchHook(conn_id)
        self._conn = self._hook.connection()
        settings = TogetherBatchHook.settings_from_connection(self._conn)
        self.base_url = settings.base_url
        self._recorder = _Recorder(settings.base_url)
        self._http = httpx.Client(
            verify=settings.verify,
            follow_redirects=False,
            event_hooks={"response": [self._recorder.on_response]},
        )
        self._client = self._open(settings, self._http)

    def _open(self, settings: ClientSettings, http: httpx.Client) -> Any:
        """The vendor's own wire client on the recording ``http`` pool."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        return [self._conn.password or ""]

    def plan(self, model: str | None, max_tokens: int) -> Plan:
        prices = self._hook.price_table()
        return chat_plan(prices, model or self.default_model, max_tokens, self.endpoint, self.wire_fields)

    #: Keyword arguments of ``files.upload`` (OpenAI's ``purpose``).
    upload_options: ClassVar[Mapping[str, Any]] = {}
    #: The uploaded file's fields the report shows.
    reported_fields: ClassVar[tuple[str, ...]] = ("bytes", "line_count", "purpose", "file_type", "filename")

    def upload(self, path: Path) -> UploadSeen:
        self._recorder.take()
        try:
            file = self._client.files.upload(path, **self.upload_options)
        finally:
            exchanges = self._recorder.take()
        reported: dict[str, Any] = {name: getattr(file, name, None) for name in self.reported_fields}
        return UploadSeen(file.id, [template(e) for e in exchanges], exchanges, reported)

    def create(self, file_id: str, plan: Plan) -> BatchSeen:
        answer = self._client.batches.create(file_id, plan.endpoint)
        assert answer.job is not None  # a null job raises BatchCreateRejectedError
        return seen(answer.job, answer.warning)

    def retrieve(self, batch_id: str) -> BatchSeen:
        return seen(self._client.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchSeen:
        return seen(self._client.batches.cancel(batch_id))

    def download(self, file_id: str, dest: Path) -> list[Exchange]:
        self._recorder.take()
        self._client.files.content(file_id, dest)
        return self._recorder.take()

    def cleanup(self, file_ids: list[str]) -> str:
        try:
            report = self._client.files.delete_many(file_ids)
        except BatchAPIError as exc:
            return f"could not delete the files: {exc}"
        return f"deleted {len(report.deleted)} file(s), {len(report.failed)} could not be deleted"

    def close(self) -> None:
        self._client.close()
        self._http.close()
