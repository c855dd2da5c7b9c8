"""The doctor on an ``anthropic`` connection (as the Anthropic provider defines it: password = key,
host = base URL) against the local server speaking Anthropic."""

from __future__ import annotations

import json

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.doctor.test_doctor_cli import KEY, Run, findings
from tests.doctor.test_doctor_cli import doctor as run_doctor

pytestmark = pytest.mark.other_vendor


@pytest.fixture
def server(anthropic_server: LocalTogetherServer) -> LocalTogetherServer:
    anthropic_server.configure(api_key=KEY)
    return anthropic_server


def doctor(server: LocalTogetherServer, *args: str, **kwargs: object) -> Run:
    return run_doctor(server, *args, conn_type="anthropic", **kwargs)  # type: ignore[arg-type]


def test_clean_run_passes_on_anthropic_s_wire(server: LocalTogetherServer) -> None:
    run = doctor(server, "--json")
    assert run.code == 0, run.out + run.err
    report = json.loads(run.out)
    steps = {step["name"]: step for step in report["steps"]}
    assert steps["upload"]["data"]["flow"] == []
    assert steps["wait"]["data"]["final"] == "ended"
    assert {"custom_id", "response.status_code", "response.body.usage"} <= set(
        steps["lines"]["data"]["output"]["fields"]
    )
    assert steps["usage"]["data"]["usage"][0]["prompt"] > 0
    assert findings(run, "FAIL") == [] and findings(run, "WARN") == []
    assert steps["usage"]["data"]["usage"][0]["completion"] > 0
