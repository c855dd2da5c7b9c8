"""Drive a local server running in another process through its ``/_control`` API."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["ControlClient"]


class ControlClient:
    """The ``/_control`` API of a local server, authenticated with the server's API key, JSON only.

    ::

        with server_process("k") as base_url:
            control = ControlClient(base_url, "k")
            control.configure(latency_ms=100)
            control.stats()["batch_creates"]

    Each call is one short HTTP exchange (nothing to close); a refused one raises
    :class:`httpx.HTTPStatusError`.

    :param url: the server's base URL (``http://HOST:PORT/v1``) or root URL.
    :param api_key: the key the server was started with.
    :param timeout: seconds for one request (forcing a status waits for the batch's worker).
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self._root = url.rstrip("/").removesuffix("/v1") + "/_control"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout

    def stats(self) -> dict[str, Any]:
        """``uploads``, ``batch_creates``, ``batches``, ``files``, ``requests``, ``faults_injected``."""
        return self._call("GET", "/stats", None)

    def reset(self) -> None:
        """Drop every file, batch, counter and scripted fault."""
        self._call("POST", "/reset", {})

    def configure(self, **fields: Any) -> dict[str, Any]:
        """Change settings; returns the configuration (never the key). ``api_key``, ``access_log`` and
        ``data_dir`` are fixed once the server has started (403)."""
        return self._call("POST", "/config", fields)

    def set_faults(
        self,
        rate: float | None = None,
        kinds: list[str] | None = None,
        script: list[dict[str, Any]] | None = None,
    ) -> int:
        """Set the random fault rate and kinds, append scripted faults; returns how many scripted
        faults are left."""
        fields = {"rate": rate, "kinds": kinds, "script": script}
        body = {name: value for name, value in fields.items() if value is not None}
        return int(self._call("POST", "/faults", body)["scripted"])

    def force_status(self, batch_id: str, status: str) -> dict[str, Any]:
        """End a batch now in a terminal status; returns its summary."""
        return self._call("POST", f"/batches/{batch_id}/status", {"status": status})

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        response = httpx.request(
            method, self._root + path, json=body, headers=self._headers, timeout=self._timeout
        )
        response.raise_for_status()
        return dict(response.json())
