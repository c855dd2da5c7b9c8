"""Fixtures shared by the end-to-end tests: a vendor's local server as its own process, and a
fresh PostgreSQL warehouse database (per test; a module that keeps one cluster for several tests
uses :func:`server_for` and :func:`warehouse_for` in its own module-scoped fixture).

Both read their settings from the test module, so every module gets one copy of the plumbing:

* ``API_KEY`` (required) and ``SERVER_ARGS`` (extra command-line options, e.g.
  ``("--processing-seconds", "20")``) for :func:`together_url`;
* ``WAREHOUSE_DAYS`` and ``WAREHOUSE_PER_DAY`` (tickets seeded per day) for :func:`warehouse_db`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

import psycopg2
import pytest

from airflow_provider_batch.testing.sample_data import SUPPORT_TICKETS_DDL, ticket_rows
from airflow_provider_batch.testing.server import server_process
from tests.services import require_postgres


@contextmanager
def server_for(module: ModuleType, log_dir: Path, vendor: str = "together") -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of one vendor's server, started with its documented
    command line and ``module``'s ``API_KEY`` and ``SERVER_ARGS``; its access log goes to
    ``<log_dir>/server-access.log`` (``<vendor>-server-access.log`` for a vendor other than Together)."""
    extra = [str(a) for a in getattr(module, "SERVER_ARGS", ())]
    log = log_dir / ("server-access.log" if vendor == "together" else f"{vendor}-server-access.log")
    extra += ["--vendor", vendor, "--access-log", str(log)]
    with server_process(module.API_KEY, *extra, stop_timeout=20) as base_url:
        yield base_url


@contextmanager
def vendor_servers(module: ModuleType, log_dir: Path, vendors: Iterable[str]) -> Iterator[dict[str, str]]:
    """One server per vendor of ``vendors`` (see :func:`server_for`), side by side: vendor -> base URL."""
    with ExitStack() as stack:
        yield {vendor: stack.enter_context(server_for(module, log_dir, vendor)) for vendor in vendors}


def vendor_connections(
    conn_ids: Mapping[str, str], urls: Mapping[str, str], api_key: str, poll_interval: float
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables: for each vendor of ``conn_ids`` (vendor -> connection id), a
    connection of the vendor's type to its server in ``urls``."""
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(
            {
                "conn_type": vendor,
                "password": api_key,
                "host": urls[vendor],
                "extra": {"poll_interval": poll_interval},
            }
        )
        for vendor, conn_id in conn_ids.items()
    }


@contextmanager
def warehouse_for(module: ModuleType) -> Iterator[str]:
    """Name of a new PostgreSQL database holding ``support_tickets`` seeded from ``module``'s
    ``WAREHOUSE_DAYS`` and ``WAREHOUSE_PER_DAY``; dropped afterwards."""
    require_postgres()
    name = f"apb_wh_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name) as conn, conn.cursor() as cur:
            cur.execute(SUPPORT_TICKETS_DDL)
            rows = ticket_rows(list(module.WAREHOUSE_DAYS), module.WAREHOUSE_PER_DAY)
            for row in rows:
                cur.execute("INSERT INTO support_tickets VALUES (%s, %s, %s, %s, %s)", tuple(row.values()))
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def together_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Base URL of the Together server of this test (see :func:`server_for`)."""
    with server_for(request.module, tmp_path) as base_url:
        yield base_url


@pytest.fixture
def warehouse_db(request: pytest.FixtureRequest) -> Iterator[str]:
    """The warehouse database of this test (see :func:`warehouse_for`)."""
    with warehouse_for(request.module) as name:
        yield name
