"""Fixtures shared by the end-to-end tests: the local Together server as its own process, and a
fresh PostgreSQL warehouse database.

Both read their settings from the test module, so every module gets one copy of the plumbing:

* ``API_KEY`` (required) and ``SERVER_ARGS`` (extra command-line options, e.g.
  ``("--processing-seconds", "20")``) for :func:`together_url`;
* ``WAREHOUSE_DAYS`` and ``WAREHOUSE_PER_DAY`` (tickets seeded per day) for :func:`warehouse_db`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from airflow_provider_batch.testing.sample_data import SUPPORT_TICKETS_DDL, ticket_rows
from airflow_provider_batch.testing.server import server_process
from tests.services import require_postgres


@pytest.fixture
def together_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of the server, started with its documented command line.

    Its access log goes to ``server-access.log`` in the test's ``tmp_path``.
    """
    extra = [str(a) for a in getattr(request.module, "SERVER_ARGS", ())]
    extra += ["--access-log", str(tmp_path / "server-access.log")]
    with server_process(request.module.API_KEY, *extra, stop_timeout=20) as base_url:
        yield base_url


@pytest.fixture
def warehouse_db(request: pytest.FixtureRequest) -> Iterator[str]:
    """Name of a new PostgreSQL database holding ``support_tickets``; dropped afterwards."""
    require_postgres()
    name = f"apb_wh_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name) as conn, conn.cursor() as cur:
            cur.execute(SUPPORT_TICKETS_DDL)
            rows = ticket_rows(list(request.module.WAREHOUSE_DAYS), request.module.WAREHOUSE_PER_DAY)
            for row in rows:
                cur.execute("INSERT INTO support_tickets VALUES (%s, %s, %s, %s, %s)", tuple(row.values()))
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
