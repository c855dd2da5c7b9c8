"""Helpers for the local server tests: a plain httpx client bound to a server, and line builders."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from airflow_provider_batch.testing.server import LocalTogetherServer

CHAT = "/v1/chat/completions"
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
TERMINAL = {"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"}
#: An unauthenticated client for the upload and control routes (no TLS set-up: loopback HTTP only).
plain = httpx.Client(verify=False, timeout=10)


def chat_line(custom_id: str, text: str = "Say hello", **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "body": {"model": MODEL, "messages": [{"role": "user", "content": text}], **body},
    }


def jsonl(lines: Iterable[Any]) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


class Api:
    """A thin httpx wrapper for the tests (the provider's typed client is tested elsewhere)."""

    def __init__(self, server: LocalTogetherServer) -> None:
        self.server = server
        self.http = httpx.Client(
            base_url=server.root_url,
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=10,
            verify=False,
        )

    def upload(self, data: bytes, purpose: str = "batch-api", name: str = "input.jsonl") -> dict[str, Any]:
        response = self.http.post(
            "/v1/files/upload",
            files={"file": (name, data)},
            data={"file_name": name, "purpose": purpose, "file_type": "jsonl"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def create(self, file_id: str, endpoint: str = CHAT) -> httpx.Response:
        return self.http.post("/v1/batches", json={"input_file_id": file_id, "endpoint": endpoint})

    def submit(self, lines: Iterable[Any], endpoint: str = CHAT) -> dict[str, Any]:
        response = self.create(self.upload(jsonl(lines))["id"], endpoint)
        assert response.status_code == 201, response.text
        return response.json()["job"]

    def batch(self, batch_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/batches/{batch_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, batch_id: str, statuses: set[str] = TERMINAL, limit: float = 15.0) -> dict[str, Any]:
        give_up = time.monotonic() + limit
        while (job := self.batch(batch_id))["status"] not in statuses:
            assert time.monotonic() < give_up, f"batch stuck in {job['status']}"
            time.sleep(0.02)
        return job

    def lines(self, file_id: str | None) -> list[dict[str, Any]]:
        assert file_id is not None
        response = self.http.get(f"/v1/files/{file_id}/content")
        assert response.status_code == 200
        return [json.loads(line) for line in response.text.splitlines()]

    def run(self, lines: Iterable[Any], endpoint: str = CHAT) -> tuple[dict[str, Any], list[Any], list[Any]]:
        """Submit, wait, and return the final job with its output and error lines."""
        job = self.wait(self.submit(lines, endpoint)["id"])
        return job, self.lines(job["output_file_id"]), self.lines(job["error_file_id"])


def poll_status(
    read: Callable[[], Any], status_of: Callable[[Any], str], until: Iterable[str], timeout: float = 20.0
) -> tuple[Any, list[str]]:
    """Read a batch until ``status_of`` it is in ``until``; returns it and the statuses seen, in order."""
    wanted, seen = tuple(until), []
    give_up = time.monotonic() + timeout
    while True:
        batch = read()
        status = status_of(batch)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in wanted:
            return batch, seen
        assert time.monotonic() < give_up, f"batch stuck in {status} (saw {seen})"
        time.sleep(0.02)
