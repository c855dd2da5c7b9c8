"""A wire-level stand-in for Anthropic's Message Batches API (an httpx MockTransport handler) whose
state lives in a JSON file, so a process killed mid-submit and the next try see the same account."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_batch.vendors.anthropic.client import AnthropicSettings

ROOT = "/v1/messages/batches"


def settings(**extra: Any) -> AnthropicSettings:
    fields = {"api_key": "sk-ant-test", "base_url": "https://anthropic.test/v1", "max_retries": 0}
    return AnthropicSettings(**{**fields, **extra})


class FakeAnthropic:
    """``batches`` in ``state`` (a JSON file), newest last; ``calls`` counts requests by route."""

    def __init__(self, state: Path) -> None:
        self.state = state
        if not state.exists():
            state.write_text(json.dumps({"batches": [], "creates": 0}))

    def load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(data))

    def add(self, count: int, *, created_at: datetime | None = None) -> str:
        """A batch made outside the code under test (another run, another tool)."""
        data = self.load()
        batch_id = f"msgbatch_{len(data['batches']) + 1:04d}"
        when = (created_at or datetime.now(timezone.utc)).isoformat()
        data["batches"].append(_batch(batch_id, count, when))
        self.save(data)
        return batch_id

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers.get("x-api-key") == "sk-ant-test"
        assert request.headers.get("anthropic-version") == "2023-06-01"
        assert "authorization" not in request.headers
        path, data = request.url.path, self.load()
        if request.method == "POST" and path == ROOT:
            requests = json.loads(request.read())["requests"]
            batch_id = f"msgbatch_{len(data['batches']) + 1:04d}"
            data["batches"].append(_batch(batch_id, len(requests), datetime.now(timezone.utc).isoformat()))
            data["creates"] += 1
            self.save(data)
            return httpx.Response(200, json=data["batches"][-1])
        if request.method == "GET" and path == ROOT:
            newest = list(reversed(data["batches"]))
            after = request.url.params.get("after_id")
            if after is not None:
                newest = newest[[b["id"] for b in newest].index(after) + 1 :]
            limit = int(request.url.params.get("limit", "20"))
            page = newest[:limit]
            body = {
                "data": page,
                "has_more": len(newest) > limit,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
            return httpx.Response(200, json=body)
        batch_id = path[len(ROOT) + 1 :].split("/")[0]
        found = [b for b in data["batches"] if b["id"] == batch_id]
        if not found:
            error = {"type": "error", "error": {"type": "not_found_error", "message": "not found"}}
            return httpx.Response(404, json=error)
        return httpx.Response(200, json=found[0])


def _batch(batch_id: str, count: int, created_at: str) -> dict[str, Any]:
    counts = {"processing": count, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": counts,
        "created_at": created_at,
        "expires_at": None,
        "ended_at": None,
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": None,
    }
