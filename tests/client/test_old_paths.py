"""The import paths from before vendors had folders keep working: Together's client and emulation
moved to ``vendors/together/``, and each old module path is the moved module itself."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

_PKG = "airflow_provider_batch"
MOVED = {
    f"{_PKG}.client._sync": f"{_PKG}.vendors.together.client._sync",
    f"{_PKG}.client._async": f"{_PKG}.vendors.together.client._async",
    f"{_PKG}.client._ops": f"{_PKG}.vendors.together.client._ops",
    f"{_PKG}.testing.server.routes_files": f"{_PKG}.vendors.together.server.routes_files",
    f"{_PKG}.testing.server.routes_batches": f"{_PKG}.vendors.together.server.routes_batches",
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_moved_module(old: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(MOVED[old])


def test_the_client_package_still_names_togethers_clients_and_the_neutral_models() -> None:
    from airflow_provider_batch import client
    from airflow_provider_batch.client import (
        AsyncTogetherClient,
        BatchAPIError,
        TogetherClient,
        TogetherError,
    )
    from airflow_provider_batch.vendors.together import client as together

    assert TogetherClient is together.TogetherClient
    assert AsyncTogetherClient is together.AsyncTogetherClient
    assert TogetherError is BatchAPIError
    assert {"TogetherClient", "BatchJob", "BatchStatus", "NotFoundError"} <= set(client.__all__)
    with pytest.raises(AttributeError, match="no attribute 'OpenAIClient'"):
        client.OpenAIClient  # noqa: B018


def test_the_neutral_models_load_no_vendor_client() -> None:
    code = (
        "import sys; import airflow_provider_batch.client.models, airflow_provider_batch.client._transport; "
        "print(sorted(m for m in sys.modules if '.vendors.' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_old_build_app_builds_togethers_app(tmp_path) -> None:
    from starlette.testclient import TestClient

    from airflow_provider_batch.testing.server.app import build_app
    from airflow_provider_batch.testing.server.config import ServerConfig
    from airflow_provider_batch.testing.server.control import Controller

    controller = Controller(ServerConfig(api_key="k", data_dir=str(tmp_path)))
    with TestClient(build_app(controller)) as http:
        answer = http.get("/v1/batches", headers={"Authorization": "Bearer k"})
    assert answer.status_code == 200
    assert answer.json() is None  # Together's empty list is null
