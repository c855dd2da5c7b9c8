"""Fixtures for the batch-inputs tests: JSONL files and database connections."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .factories import encode


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write raw bytes or a list of objects/bytes lines to a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def write(content: bytes | list[Any], name: str | None = None) -> Path:
        path = tmp_path / (name or f"input-{next(counter)}.jsonl")
        if isinstance(content, list):
            content = b"".join(item if isinstance(item, bytes) else encode(item) for item in content)
        path.write_bytes(content)
        return path

    return write


@pytest.fixture
def sqlite_conn_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow connection (from the environment) to an empty SQLite file."""
    db = tmp_path / "warehouse.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_APB_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return "apb_sqlite"


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_conn_id(monkeypatch: pytest.MonkeyPatch) -> str:
    """Connection to the local PostgreSQL ``test`` database; fails instead of skipping when required."""
    if not _postgres_reachable():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is unreachable and REQUIRE_SERVICES=1")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is unreachable")
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_APB_POSTGRES", json.dumps(conn))
    return "apb_postgres"
