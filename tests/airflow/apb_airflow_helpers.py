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
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"Say {i}{tag}"}], "max_tokens": 16}
            fh.write(json.dumps({"custom_id": f"req-{i}", "body": body}) + "\n")
    return path


def set_connection(monkeypatch: pytest.MonkeyPatch, server: Any, conn_id: str = "together_default", **extra: Any) -> str:
    conn = {"conn_type": "together", "password": server.api_key, "host": server.base_url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id
