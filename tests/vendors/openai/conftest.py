"""Fixtures of the OpenAI vendor tests: the local server speaking OpenAI (``openai_server`` from the
provider's pytest plugin), input files, and polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer

CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def chat_line(custom_id: str, text: str, model: str = MODEL, **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}


def write_lines(path: Path, lines: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def poll(
    read: Callable[[], Any], until: Iterable[str] = TERMINAL, timeout: float = 20.0
) -> tuple[Any, list[str]]:
    """Read a batch until its status is in ``until``; returns it and the statuses seen, in order."""
    wanted, seen = tuple(until), []
    give_up = time.monotonic() + timeout
    while True:
        batch = read()
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in wanted:
            return batch, seen
        assert time.monotonic() < give_up, f"batch stuck in {batch.status} (saw {seen})"
        time.sleep(0.02)


@pytest.fixture
def server(openai_server: LocalTogetherServer) -> LocalTogetherServer:
    return openai_server
