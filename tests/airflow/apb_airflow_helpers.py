"""Helpers shared by the Airflow-facing tests (imported by module name: tests have no packages)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"


def write_input(path: Path, lines: int = 3, *, tag: str = "") -> Path:
    """A small valid chat-completions batch input."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(lines):
            messages = [{"role": "user", "content": f"Say {i}{tag}"}]
            body = {"model": MODEL, "messages": messages, "max_tokens": 16}
            fh.write(json.dumps({"custom_id": f"req-{i}", "body": body}) + "\n")
    return path


def set_connection(
    monkeypatch: pytest.MonkeyPatch, server: Any, conn_id: str = "together_default", **extra: Any
) -> str:
    """The connection ``conn_id`` to ``server``, of its vendor's (first) connection type.

    Another vendor's connection also prices the Together models the tests name (its ``price_table``
    extra), so every figure the tests expect holds on both vendors.
    """
    vendor = getattr(server, "vendor", "together")
    if vendor != "together" and "price_table" not in extra:
        from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE

        extra["price_table"] = {"models": DEFAULT_PRICE_TABLE.model_dump(mode="json")["models"]}
    from airflow_provider_batch.vendors import vendor_named

    conn_type = vendor_named(vendor).conn_types[0]
    conn = {"conn_type": conn_type, "password": server.api_key, "host": server.base_url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


class DictStateStore:
    """In-memory stand-in with the task state store's get/set signature (the real one needs a
    supervisor; the dag.test() tests use it)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = value


class FakeTI:
    """Identity and XCom of a task instance, for calling execute() directly."""

    def __init__(
        self,
        dag_id: str = "dag",
        task_id: str = "submit",
        run_id: str = "run-1",
        map_index: int = -1,
        try_number: int = 1,
    ) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, run_id, map_index
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, **_: Any) -> Any:
        return self.xcom.get("manifest")


def context(ti: FakeTI | None = None, store: DictStateStore | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"ti": ti or FakeTI(), "params": {}}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


async def trigger_events(trigger: Any) -> list[Any]:
    """Run a trigger to its end against the local server; its events, parsed (then cleaned up)."""
    from airflow_provider_batch.events import BatchEvent

    try:
        return [BatchEvent.from_payload(e.payload) async for e in trigger.run()]
    finally:
        await trigger.cleanup()


def age_batch(server: Any, batch_id: str, seconds: float) -> float:
    """Move a batch's ``created_at`` back by ``seconds``, as if it had been created that much
    earlier (the API reports the new value); returns it as epoch seconds."""
    record = server.controller.store.get_batch(batch_id)
    record.created_at -= seconds
    return float(record.created_at)


def batch_status(server: Any, batch_id: str) -> str:
    return next(b["status"] for b in server.batches() if b["id"] == batch_id)


def cancel_requests(server: Any) -> int:
    """Cancels the server was asked for, on any vendor's cancel route."""
    requests = server.stats()["requests"].items()
    return sum(int(n) for route, n in requests if route.startswith("POST ") and route.endswith("/cancel"))
