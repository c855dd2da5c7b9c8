"""How the adapter is found (entry point, connection types) and that nothing else depends on it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from typing import Any

import pytest
from airflow.providers.common.ai.batch import dispatch
from airflow.providers.common.ai.exceptions import BatchProviderNotYetSupportedError
from airflow.sdk import Connection

from airflow_provider_batch.client import NotFoundError
from airflow_provider_batch.common_ai import TogetherBatchAdapter

MODEL_ID = "together:meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_the_entry_point_together_names_the_adapter() -> None:
    (entry,) = [e for e in entry_points(group=dispatch.ENTRY_POINT_GROUP) if e.name == "together"]
    assert entry.value == "airflow_provider_batch.common_ai.adapter:TogetherBatchAdapter"
    assert entry.load() is TogetherBatchAdapter


@pytest.mark.parametrize("conn_type", ["together", "pydanticai"])
def test_dispatch_accepts_both_connection_types(conn_type: str) -> None:
    assert dispatch.get_adapter_class(conn_type, MODEL_ID) is TogetherBatchAdapter


def test_dispatch_refuses_another_connection_type() -> None:
    with pytest.raises(BatchProviderNotYetSupportedError, match="'together'"):
        dispatch.get_adapter_class("http", MODEL_ID)


@pytest.mark.parametrize("conn_type", ["together", "pydanticai"])
def test_dispatch_builds_the_adapter_from_the_connection(conn_type: str, together_server: Any) -> None:
    conn = Connection(conn_id="c", conn_type=conn_type, password=together_server.api_key,
                      host=together_server.base_url)  # fmt: skip
    adapter = dispatch.build_adapter_from_connection("together", conn)
    try:
        with pytest.raises(NotFoundError) as raised:  # reached the local server, authenticated
            adapter.get_batch("no-such-batch")
        assert raised.value.status_code == 404  # what common.ai reads as "resubmit"
    finally:
        adapter.close()


def test_a_connection_without_a_key_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(ValueError, match="Password field"):
        TogetherBatchAdapter(api_key=None, base_url=None)


def test_the_provider_does_not_import_the_adapter() -> None:
    code = textwrap.dedent(
        """
        import sys
        import airflow_provider_batch.operators.batch
        from airflow_provider_batch.get_provider_info import get_provider_info
        get_provider_info()
        print(sorted(m for m in sys.modules if m.startswith("airflow_provider_batch.common_ai")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_without_the_extra_only_the_adapter_is_unavailable() -> None:
    code = textwrap.dedent(
        """
        import sys
        # As if the extra were not installed: the adapter contract cannot be imported. (Blocking the
        # whole common.ai package would break Airflow's own scan of its installed provider.)
        sys.modules["airflow.providers.common.ai.batch"] = None
        import airflow_provider_batch.operators.batch, airflow_provider_batch.operators.results
        from airflow_provider_batch.get_provider_info import get_provider_info
        assert get_provider_info()["connection-types"]
        try:
            import airflow_provider_batch.common_ai
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1].startswith("AirflowOptionalProviderFeatureException")
    assert 'pip install "airflow-provider-batch[common-ai]"' in out
