"""Run the server on a background thread: :class:`LocalTogetherServer`."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_batch.testing.server.app import VENDORS, build_vendor_app
from airflow_provider_batch.testing.server.config import ServerConfig
from airflow_provider_batch.testing.server.control import Controller

__all__ = ["LocalTogetherServer"]

_BACKLOG = 4096
log = logging.getLogger(__name__)


class _DropInjectedAborts(logging.Filter):
    """Injected ``reset``/``truncate`` faults end responses early on purpose; uvicorn's complaint
    about that is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def _warn_unless_loopback(address: str, port: int) -> None:
    """Warn at WARNING, in the log and on stderr, when the bound address is reachable from other
    machines (``0.0.0.0``, ``::``, a LAN address)."""
    if ipaddress.ip_address(address.split("%")[0]).is_loopback:
        return
    message = (
        f"the local Together test server listens on {address}:{port}, which is not a loopback address: "
        "other machines can reach it, and anyone who knows its API key can read its files and control it. "
        "Bind to 127.0.0.1 unless that is what you want."
    )
    log.warning(message)
    if not _logs_to_stderr(log):
        print(f"WARNING: {message}", file=sys.stderr, flush=True)


def _logs_to_stderr(logger: logging.Logger) -> bool:
    """Whether a WARNING record of ``logger`` is already written to stderr (by a handler, or by
    ``logging.lastResort`` when there is none)."""
    found = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found = True
            stream = getattr(handler, "stream", None)
            if stream in (sys.stderr, sys.__stderr__) and handler.level <= logging.WARNING:
                return True
        current = current.parent if current.propagate else None
    return not found


class LocalTogetherServer:
    """A Together-compatible Batch + Files server on loopback, for tests and offline runs.

    Use it as a context manager::

        with LocalTogetherServer(ServerConfig(api_key="k")) as server:
            httpx.get(f"{server.base_url}/batches", headers={"Authorization": "Bearer k"})

    :param config: settings (a default :class:`ServerConfig` when omitted).
    :param host: interface to bind; loopback by default. Any other address is warned about.
    :param port: port to bind; 0 picks a free one.
    :param vendor: the API it speaks, ``"together"``, ``"openai"`` or ``"anthropic"`` (see
        ``vendors/openai/server`` and ``vendors/anthropic/server``).
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        vendor: str = "together",
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; expected one of {VENDORS}")
        self.vendor = vendor
        self.config = config or ServerConfig()
        self.controller = Controller(self.config)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._defaults = self.config.model_copy()

    # -- life cycle ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> LocalTogetherServer:
        """Bind, start serving on a daemon thread, and wait until requests are accepted."""
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DropInjectedAborts) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(_DropInjectedAborts())
        sock = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        _warn_unless_loopback(sock.getsockname()[0], self._port)
        config = uvicorn.Config(
            build_vendor_app(self.controller, self.vendor),
            log_level="warning",
            access_log=False,
            lifespan="off",
            backlog=_BACKLOG,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])),  # type: ignore[union-attr]
            name="together-local-server",
            daemon=True,
        )
        self._thread.start()
        give_up = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > give_up:
                raise RuntimeError("the local Together server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and remove the data directory this server created."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self.controller.store.close()

    def __enter__(self) -> LocalTogetherServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (the base URL for the ``together`` 3.x SDK)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` (the base URL for the provider's client)."""
        return f"{self.root_url}/v1"

    @property
    def api_key(self) -> str:
        return self.config.api_key.get_secret_value()

    # -- control -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``uploads``, ``batch_creates``, ``batches``, ``files``, ``requests``, ``faults_injected``."""
        return self.controller.store.stats()

    def reset(self) -> None:
        """Drop every file, batch, counter and scripted fault (configuration is kept)."""
        self.controller.reset()

    def restore_defaults(self) -> None:
        """Put every configuration field back to its value when the server was created."""
        self.controller.configure(**{k: v for k, v in self._defaults if k != "data_dir"})

    def configure(self, **fields: Any) -> ServerConfig:
        """Change configuration fields at run time (see :class:`ServerConfig`)."""
        return self.controller.configure(**fields)

    def inject(self, route: str, kind: str, times: int = 1, **params: Any) -> None:
        """Inject ``kind`` on the next ``times`` requests matching ``route``.

        :param route: a template such as ``"GET /v1/batches/{id}"`` (see ``ROUTE_TEMPLATES``) or ``"*"``.
        :param kind: one of ``429``, ``500``, ``502``, ``503``, ``reset``, ``stall``, ``truncate``.
        :param params: ``retry_after`` (seconds, 429), ``seconds`` (stall), ``fraction`` (truncate),
            ``after=True`` (reset: handle the request first, then drop the connection, so the client
            loses the answer to a request that did take effect).
        """
        self.controller.inject(route, kind, times, **params)

    def clear_faults(self) -> None:
        """Drop scripted faults and turn random faults off."""
        self.controller.clear_faults()

    def force_status(self, batch_id: str, status: str) -> dict[str, Any]:
        """End a batch now in a terminal status (output delivered as far as it got)."""
        return self.controller.force_status(batch_id, status)

    def batches(self) -> list[dict[str, Any]]:
        """Every batch as its wire JSON, newest first."""
        now = time.time()
        return [b.to_json(now) for b in self.controller.store.list_batches()]

    def files(self) -> list[dict[str, Any]]:
        """Every file as its wire JSON."""
        return [f.to_json() for f in self.controller.store.list_files()]

    def __repr__(self) -> str:
        return f"LocalTogetherServer(base_url={self.base_url!r})"
