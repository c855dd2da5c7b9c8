"""Drive a local server running in another process through its ``/_control`` API."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

__all__ = ["ControlClient"]


class ControlClient:
    """The ``/_control`` API of a local server, authenticated with the server's API key, JSON only.

    ::

        with server_process("k") as base_url, ControlClient(base_url, "k") as control:
            control.configure(latency_ms=100)
            control.stats()["batch_creates"]

    :param url: the server's base URL (``http://HOST:PORT/v1``) or root URL.
    :param api_key: the key the server was started with.
    :param timeout: seconds for one request (forcing a status waits for the batch's worker).
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 30.0) -> None:
        root = url.rstrip("/").removesuffix("/v1")
        self._http = httpx.Client(base_url=f"{root}/_control", headers={"Authorization": f"Bearer {api_key}"},
                                  timeout=timeout)

    def stats(self) -> dict[str, Any]:
        """``uploads``, ``batch_creates``, ``batches``, ``files``, ``requests``, ``faults_injected``."""
        response = self._http.get("/stats")
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        """Drop every file, batch, counter and scripted fault."""
        self._post("/reset", {})

    def configure(self, **fields: Any) -> dict[str, Any]:
        """Change settings; returns the configuration (never the key). ``api_key``, ``access_log`` and
        ``data_dir`` are fixed once the server has started (403)."""
        return self._post("/config", fields)

    def set_faults(self, rate: float | None = None, kinds: list[str] | None = None,
                   script: list[dict[str, Any]] | None = None) -> int:
        """Set the random fault rate and kinds, append scripted faults; returns how many scripted
        faults are left."""
        body = {"rate": rate, "kinds": kinds, "script": script}
        return int(self._post("/faults", {k: v for k, v in body.items() if v is not None})["scripted"])

    def force_status(self, batch_id: str, status: str) -> dict[str, Any]:
        """End a batch now in a terminal status; returns its summary."""
        return self._post(f"/batches/{batch_id}/status", {"status": status})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
