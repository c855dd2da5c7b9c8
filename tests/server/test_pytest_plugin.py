"""The pytest11 fixtures: a reset server per test and an Airflow connection in the environment."""

from __future__ import annotations

import json
import os

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import plain


def test_together_connection_points_at_the_server(
    together_connection: str, together_server: LocalTogetherServer
) -> None:
    assert together_connection == "together_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_TOGETHER_DEFAULT"])
    assert conn == {
        "conn_type": "together",
        "password": together_server.api_key,
        "host": together_server.base_url,
    }
    response = plain.get(f"{conn['host']}/batches", headers={"Authorization": f"Bearer {conn['password']}"})
    assert response.status_code == 200


def test_first_test_dirties_the_server(together_server: LocalTogetherServer) -> None:
    together_server.configure(latency_ms=1, list_null_when_empty=False)
    together_server.inject("*", "500", times=5)
    plain.post(
        f"{together_server.base_url}/files", headers={"Authorization": f"Bearer {together_server.api_key}"}
    )


def test_next_test_gets_a_clean_server(together_server: LocalTogetherServer) -> None:
    assert together_server.config.latency_ms == 0 and together_server.config.list_null_when_empty is True
    assert together_server.stats()["requests"] == {} and together_server.controller.faults.script == []
    assert together_server.config.processing_seconds < 1


def test_no_airflow_import_in_the_server_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_batch.testing, airflow_provider_batch.testing.pytest_plugin;"
        "sys.exit(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=os.getcwd()).returncode == 0
