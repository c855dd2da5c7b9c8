"""Fixtures of the OpenAI vendor tests: the local server speaking OpenAI (``openai_server`` from the
provider's pytest plugin), input files, and polling."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import poll_status

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
    return poll_status(read, lambda batch: str(batch.status), until, timeout)


@pytest.fixture
def server(openai_server: LocalTogetherServer) -> LocalTogetherServer:
    return openai_server
