"""Turns an Airflow connection of a batch vendor's type (``together``, ``openai``) into its client.

Connection fields: ``password`` is the API key, ``host`` the base URL (a full URL such as
``https://api.together.ai/v1`` or a bare host such as ``api.together.ai``; empty means the public
API). Extras (all optional): ``console_url_template``, ``poll_interval``, ``price_table``,
``verify_tls``, ``timeout``, ``max_retries``, and (JSON only) ``upload_timeout`` and
``retry_max_delay``, in seconds. The form itself is declared in
:func:`airflow_provider_batch.get_provider_info.get_provider_info`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import certifi
import httpx
from airflow.sdk import BaseHook, Connection

from airflow_provider_batch._compat import with_fernet_hint
from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch.client import ClientSettings, FileCleanupReport
from airflow_provider_batch.hooks._asyncio_net import polling_transport
from airflow_provider_batch.hooks._client_pool import polling_limits
from airflow_provider_batch.hooks.connection import api_root, mask_secret
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.vendors import vendor_for, vendor_named
from airflow_provider_batch.vendors.base import BatchVendor

__all__ = ["BatchHook", "TogetherBatchHook", "console_url_for"]

log = logging.getLogger(__name__)

_FALSE = {"false", "0", "no", "off"}


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)


def console_url_for(base_url: str, batch_id: str, template: str | None = None) -> str:
    """Browser URL of one batch on Together's console.

    :param base_url: API base URL (``.../v1``).
    :param batch_id: the batch id.
    :param template: optional template with a ``{batch_id}`` placeholder; wins when given.
    """
    return vendor_named("together").console_url(base_url, batch_id, template)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


async def _atls_context() -> ssl.SSLContext:
    if _tls_context.cache_info().currsize:
        return _tls_context()
    return await asyncio.to_thread(_tls_context)


class _PooledAsyncClient:
    """A vendor's asyncio client over an httpx pool that reuses one process-wide TLS context.

    Building a TLS context loads the CA bundle (~70 ms of CPU); doing that per trigger would stall
    a triggerer running hundreds of them. Closing this client also closes its pool.
    """

    def __init__(self, vendor: BatchVendor, settings: ClientSettings, tls: ssl.SSLContext | bool,
                 limits: httpx.Limits) -> None:  # fmt: skip
        self._pool = httpx.AsyncClient(
            verify=tls, follow_redirects=False, limits=limits, transport=polling_transport(tls, limits)
        )
        self._client = vendor.async_client(settings, http_client=self._pool)
        self.batches = self._client.batches
        self.settings = self._client.settings

    def __repr__(self) -> str:
        return repr(self._client)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the vendor client's (Together's ``files``, for one)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client, name)

    async def __aenter__(self) -> _PooledAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._pool.aclose()


class TogetherBatchHook(BaseHook):
    """Builds sync and async batch clients from an Airflow connection, for the connection's vendor.

    The connection's type names the vendor (:func:`~airflow_provider_batch.vendors.vendor_for`):
    ``together`` (this provider's own type) or ``openai`` (the OpenAI provider's type, read as it
    is: password = key, host = base URL). :class:`BatchHook` is the same hook under a neutral name.

    :param together_conn_id: id of the connection.
    """

    conn_name_attr = "together_conn_id"
    default_conn_name = "together_default"
    conn_type = "together"
    hook_name = "Together AI"

    def __init__(self, together_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.together_conn_id = together_conn_id
        self._connection: Connection | None = None

    # -- connection -------------------------------------------------------------------------

    def connection(self) -> Connection:
        """The (cached) Airflow connection; synchronous lookup, for the worker side only."""
        if self._connection is None:
            try:
                self._connection = self.get_connection(self.together_conn_id)
            except Exception as exc:
                raise with_fernet_hint(exc) from exc
        return self._connection

    async def aconnection(self) -> Connection:
        """The (cached) Airflow connection, looked up without blocking the event loop."""
        if self._connection is None:
            try:
                self._connection = await BaseHook.aget_connection(self.together_conn_id)
            except Exception as exc:
                raise with_fernet_hint(exc) from exc
        return self._connection

    @staticmethod
    def extras(conn: Connection) -> dict[str, Any]:
        extra = conn.extra_dejson
        return dict(extra) if isinstance(extra, Mapping) else {}

    @staticmethod
    def vendor_of(conn: Connection) -> BatchVendor:
        """The vendor a connection's type names."""
        return vendor_for(conn.conn_type)

    @property
    def vendor(self) -> BatchVendor:
        """This hook's vendor, from its connection's type (looked up once)."""
        return self.vendor_of(self.connection())

    @classmethod
    def base_url_of(cls, conn: Connection) -> str:
        """The API root of a connection: its host, else its vendor's default."""
        return api_root(conn.host, conn.port, cls.vendor_of(conn).default_base_url)

    @classmethod
    def settings_from_connection(cls, conn: Connection) -> ClientSettings:
        """Client settings from a connection; registers the API key with the secrets masker.

        :param conn: an Airflow connection of a batch vendor's type (``together``, ``openai``).
        """
        if not conn.password:
            raise ValueError(f"connection {conn.conn_id!r} has no API key (password field)")
        mask_secret(conn.password)
        extra = cls.extras(conn)
        fields: dict[str, Any] = {"api_key": conn.password, "base_url": cls.base_url_of(conn)}
        for name in ("timeout", "upload_timeout", "retry_max_delay"):
            if name in extra:
                fields[name] = float(extra[name])
        if "max_retries" in extra:
            fields["max_retries"] = int(extra["max_retries"])
        if "verify_tls" in extra and not _as_bool(extra["verify_tls"]):
            log.warning(
                "TLS certificate verification is OFF for connection %r (verify_tls=false); "
                "use this only against a local or test endpoint.",
                conn.conn_id,
            )
            fields["verify"] = False
        return ClientSettings(**fields)

    # -- clients ----------------------------------------------------------------------------

    def get_conn(self) -> Any:
        """A synchronous client of the connection's vendor (use as a context manager): a
        client of the connection's vendor (``BatchVendor.client``)."""
        conn = self.connection()
        return self.vendor_of(conn).client(self.settings_from_connection(conn))

    async def get_async_conn(self, *, poll_interval: float | None = None) -> Any:
        """An asyncio client of the connection's vendor (``BatchVendor.async_client``) over a pool
        that reuses the process-wide TLS context; nothing here blocks the loop.

        The connection comes from ``aget_connection``; the shared TLS context is built once per
        process, off the event loop. Close it with ``await client.aclose()``.

        :param poll_interval: seconds between the caller's polls; idle connections are then kept
            that long (see :func:`~airflow_provider_batch.hooks._client_pool.polling_limits`).
        """
        conn = await self.aconnection()
        vendor, settings = self.vendor_of(conn), self.settings_from_connection(conn)
        tls: ssl.SSLContext | bool = await _atls_context() if settings.verify else False
        return _PooledAsyncClient(vendor, settings, tls, polling_limits(poll_interval))

    # -- connection-derived settings ---------------------------------------------------------

    def console_url(self, batch_id: str) -> str:
        """Browser URL of a batch (``console_url_template`` extra, else derived from the base URL)."""
        conn = self.connection()
        template = self.extras(conn).get("console_url_template")
        return self.vendor_of(conn).console_url(self.base_url_of(conn), batch_id, template)

    def price_table(self, overrides: Mapping[str, Any] | None = None) -> PriceTable:
        """Prices: ``overrides`` (an operator's ``price_table``), else the ``price_table`` extra (a
        mapping or JSON text), over the vendor's built-in table."""
        conn = self.connection()
        raw: Any = overrides or self.extras(conn).get("price_table")
        if isinstance(raw, str) and raw.strip():
            raw = json.loads(raw)
        return PriceTable.from_mapping(raw or None, base=self.vendor_of(conn).prices)

    def batch_limits(self) -> BatchLimits:
        """The vendor's limits, with the fields of the ``limits`` extra (a mapping or JSON text, e.g.
        ``{"max_lines": 10000}`` for a self-hosted server) over them.

        :raises ValueError: the extra names a field :class:`BatchLimits` does not have.
        """
        conn = self.connection()
        base = self.vendor_of(conn).limits
        raw = self.extras(conn).get("limits")
        if isinstance(raw, str) and raw.strip():
            raw = json.loads(raw)
        if not raw:
            return base
        unknown = set(raw) - set(BatchLimits.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"connection {conn.conn_id!r} extra 'limits' has unknown field(s) {sorted(unknown)}; "
                f"use {', '.join(BatchLimits.__dataclass_fields__)}"
            )
        return base.merged(raw)

    def poll_interval(self) -> float | None:
        """The ``poll_interval`` extra in seconds, or ``None`` when unset.

        :raises ValueError: the extra is not a number of seconds at or above the floor (see
            :mod:`airflow_provider_batch._poll_interval`).
        """
        raw = self.extras(self.connection()).get("poll_interval")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        try:
            value = float(raw) if isinstance(raw, str) else raw
        except ValueError:
            value = raw
        where = f"connection {self.together_conn_id!r} extra"
        return check_poll_interval(value, name="poll_interval", where=where)

    def delete_files(self, file_ids: Iterable[str]) -> FileCleanupReport:
        """Delete files, best effort (e.g. the provider's own uploaded inputs once their results are
        loaded): every file is tried, and failures are logged and reported, never raised.

        :param file_ids: the files to delete; one already gone counts as ``missing``.
        """
        with self.get_conn() as client:
            report = client.files.delete_many(file_ids)
        log.info(
            "Deleted %d file(s); %d already gone; %d could not be deleted",
            len(report.deleted),
            len(report.missing),
            len(report.failed),
        )
        return report

    def test_connection(self) -> tuple[bool, str]:
        """Read the first entry of the batch list with the configured key, then hang up; used by
        the UI's *Test* button. The cost is the same however many batches the account holds."""
        try:
            with self.get_conn() as client, contextlib.closing(client.batches.iter()) as batches:
                first = next(batches, None)
        except Exception as exc:  # the UI shows the text; client errors never contain the key
            return False, f"{type(exc).__name__}: {exc}"
        if first is None:
            return True, "Connected; the account has no batches yet."
        return True, "Connected; batches are visible."


class BatchHook(TogetherBatchHook):
    """The batch hook under its neutral name: the vendor comes from the connection's type.

    :param conn_id: id of a connection of a batch vendor's type (``together``, ``openai``).
    """

    conn_name_attr = "conn_id"
    default_conn_name = "batch_default"

    def __init__(self, conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(together_conn_id=conn_id, **kwargs)
        self.conn_id = conn_id
