"""Fixtures for the common.ai adapter tests: an adapter on the local server, and quick polling."""

from __future__ import annotations

import asyncio
import json
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("airflow.providers.common.ai.batch.base")

from airflow_provider_batch.common_ai import VendorBatchAdapter, adapter_for

_REAL_SLEEP = time.sleep
_REAL_ASLEEP = asyncio.sleep
#: common.ai refuses poll intervals under 30 s; the tests keep its 30 and shorten the sleep.
_QUICK = 0.05


@pytest.fixture
def adapter(vendor_server: Any, together_ledger: Any) -> Iterator[VendorBatchAdapter]:
    """The adapter of the vendor of ``vendor_server`` (one case per registered vendor) on its local
    server, with this test's own ledger."""
    built = adapter_for(vendor_server.vendor)(
        api_key=vendor_server.api_key, base_url=vendor_server.base_url, ledger=together_ledger
    )
    yield built
    built.close()


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make common.ai's poll loops (the operator's and the trigger's) sleep 50 ms, not 30 s."""
    from airflow.providers.common.ai.operators import llm_batch as operator_module
    from airflow.providers.common.ai.triggers import llm_batch as trigger_module

    async def quick_asleep(delay: float, *args: Any, **kwargs: Any) -> Any:
        return await _REAL_ASLEEP(min(delay, _QUICK), *args, **kwargs)

    quick_asyncio = types.SimpleNamespace(**{**vars(asyncio), "sleep": quick_asleep})
    quick_time = types.SimpleNamespace(time=time.time, sleep=lambda delay: _REAL_SLEEP(min(delay, _QUICK)))
    monkeypatch.setattr(trigger_module, "asyncio", quick_asyncio)
    monkeypatch.setattr(operator_module, "time", quick_time)


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """Returns everything logged so far: task logs (stdout/stderr) and Airflow's own (logging)."""
    caplog.set_level("INFO")

    def _read() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return _read


@pytest.fixture(scope="session")
def commonai_airflow_db() -> None:
    """The SQLite metadata DB of the test AIRFLOW_HOME (idempotent)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def pydanticai_connection(monkeypatch: pytest.MonkeyPatch, together_server: Any) -> str:
    """A ``pydanticai`` connection carrying the local server's key and base URL."""
    conn = {"conn_type": "pydanticai", "password": together_server.api_key, "host": together_server.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_PYDANTICAI", json.dumps(conn))
    return "together_pydanticai"
