"""pytest fixtures for testing DAGs against the local Together-compatible server.

Registered through the ``pytest11`` entry point, so installing the provider makes the
fixtures available in any project's test suite:

* ``together_server_session``: one :class:`LocalTogetherServer` per test session, fast timings;
* ``together_server``: the same server, reset and with its start-up configuration restored;
* ``together_ledger``: a fresh submission ledger (an SQLite file in the test's ``tmp_path``),
  set as the ledger of every submit in the test through ``AIRFLOW__TOGETHER_BATCH__LEDGER_PATH``;
* ``<vendor>_server_session`` / ``<vendor>_server`` for every registered vendor: the same,
  speaking that vendor's API (``openai_server``, ``anthropic_server``...);
* ``together_connection``: sets ``AIRFLOW_CONN_TOGETHER_DEFAULT`` to point at the server, gives
  the test its own ledger, and returns the connection id.

Nothing here imports Airflow, and the server is imported only when a fixture is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_batch.vendors import VENDORS

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_batch.ledger import SubmissionLedger
    from airflow_provider_batch.testing.server import LocalTogetherServer

__all__ = [  # the per-vendor fixtures are made below
    "FAST_TIMINGS",
    "together_connection",
    "together_ledger",
    *(f"{vendor}_server{suffix}" for vendor in VENDORS for suffix in ("", "_session")),
]

#: Timings of the session server: a batch completes about half a second after it is created.
FAST_TIMINGS = {"validating_seconds": 0.05, "processing_seconds": 0.3, "cancel_seconds": 0.05}
TEST_API_KEY = "local-test-key"


def _serve(vendor: str) -> Iterator[LocalTogetherServer]:
    """One local server speaking ``vendor``'s API with :data:`FAST_TIMINGS`, until the session ends."""
    from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig

    with LocalTogetherServer(ServerConfig(api_key=TEST_API_KEY, **FAST_TIMINGS), vendor=vendor) as server:
        yield server


def _fresh(server: LocalTogetherServer) -> Iterator[LocalTogetherServer]:
    """``server`` emptied and with its start-up configuration for one test; faults cleared after."""
    server.reset()
    server.restore_defaults()
    yield server
    server.clear_faults()


def _session_fixture(vendor: str) -> Any:
    def serve() -> Iterator[LocalTogetherServer]:
        yield from _serve(vendor)

    serve.__doc__ = f"A local server speaking {vendor}'s batch API, shared by the whole session."
    return pytest.fixture(scope="session", name=f"{vendor}_server_session")(serve)


def _test_fixture(vendor: str) -> Any:
    def fresh(request: pytest.FixtureRequest) -> Iterator[LocalTogetherServer]:
        yield from _fresh(request.getfixturevalue(f"{vendor}_server_session"))

    fresh.__doc__ = f"The {vendor} session server, emptied and with its start-up configuration, for one test."
    return pytest.fixture(name=f"{vendor}_server")(fresh)


#: ``<vendor>_server_session`` and ``<vendor>_server`` for every registered vendor (the registry,
#: :data:`airflow_provider_batch.vendors.VENDORS`, names them; a new vendor gets its pair there).
for _vendor in VENDORS:
    globals()[f"{_vendor}_server_session"] = _session_fixture(_vendor)
    globals()[f"{_vendor}_server"] = _test_fixture(_vendor)
del _vendor


@pytest.fixture
def together_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SubmissionLedger:
    """A submission ledger of this test only (an SQLite file under ``tmp_path``)."""
    from airflow_provider_batch.ledger import sqlite_ledger

    path = tmp_path / "together_batch_ledger.db"
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__LEDGER_PATH", str(path))
    monkeypatch.delenv("AIRFLOW__TOGETHER_BATCH__LEDGER_CONN_ID", raising=False)
    return sqlite_ledger(str(path))


@pytest.fixture
def together_connection(
    monkeypatch: pytest.MonkeyPatch, together_server: LocalTogetherServer, together_ledger: SubmissionLedger
) -> str:
    """Point the ``together_default`` Airflow connection at the local server; returns its id."""
    connection = {
        "conn_type": "together",
        "password": together_server.api_key,
        "host": together_server.base_url,
    }
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_DEFAULT", json.dumps(connection))
    return "together_default"
