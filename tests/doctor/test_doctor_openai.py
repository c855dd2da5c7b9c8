"""The doctor on an ``openai`` connection (as the OpenAI provider defines it: password = key, host =
base URL) against the local server speaking OpenAI: a clean run, then injected differences."""

from __future__ import annotations

import json

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.doctor.test_doctor_cli import KEY, Run, findings
from tests.doctor.test_doctor_cli import doctor as run_doctor

pytestmark = pytest.mark.other_vendor


@pytest.fixture
def server(openai_server: LocalTogetherServer) -> LocalTogetherServer:
    openai_server.configure(api_key=KEY)
    return openai_server


def doctor(server: LocalTogetherServer, *args: str, **kwargs: object) -> Run:
    return run_doctor(server, *args, conn_type="openai", **kwargs)  # type: ignore[arg-type]


def test_clean_run_passes_and_prints_openai_s_wire(server: LocalTogetherServer) -> None:
    run = doctor(server)
    assert run.code == 0, run.out + run.err
    assert "doctor: OpenAI" in run.out and "with gpt-4o-mini" in run.out
    assert "POST /files -> 200" in run.out and "upload flow as expected: POST /files" in run.out
    assert "purpose=batch" in run.out
    statuses = next(line for line in run.out.splitlines() if "statuses: " in line)
    assert statuses.split("statuses: ")[1].startswith("validating -> in_progress")
    assert " -> completed (" in statuses
    assert "every custom_id came back exactly once (2)" in run.out
    assert "present and consistent on every answer" in run.out
    assert findings(run, "WARN") == [] and findings(run, "FAIL") == []
    assert server.files() == []  # the doctor deletes the files it made


def test_json_report_shows_the_wire_lines(server: LocalTogetherServer) -> None:
    run = doctor(server, "--json")
    assert run.code == 0, run.out + run.err
    steps = {step["name"]: step for step in json.loads(run.out)["steps"]}
    assert steps["upload"]["data"]["flow"] == ["POST /files"]
    assert steps["upload"]["data"]["reported"]["purpose"] == "batch"
    assert steps["wait"]["data"]["final"] == "completed"
    assert {"custom_id", "response.status_code", "response.body.usage"} <= set(
        steps["lines"]["data"]["output"]["fields"]
    )
    assert steps["usage"]["data"]["usage"][0]["total"] > 0


def test_missing_usage_fails(server: LocalTogetherServer) -> None:
    server.configure(omit_line_fields=("response.body.usage",))
    run = doctor(server)
    assert run.code == 1
    assert any("no response.body.usage" in f for f in findings(run, "FAIL"))


def test_line_without_custom_id_fails(server: LocalTogetherServer) -> None:
    server.configure(omit_line_fields=("custom_id",))
    run = doctor(server)
    assert run.code == 1
    assert any("output line 1: no custom_id" in f for f in findings(run, "FAIL"))


def test_failed_validation_fails(server: LocalTogetherServer) -> None:
    server.configure(max_lines=1)
    run = doctor(server)
    assert run.code == 1
    assert any("the batch ended failed" in f for f in findings(run, "FAIL"))


def test_wrong_key_is_a_clear_error_and_never_printed(server: LocalTogetherServer) -> None:
    run = doctor(server, key="sk-doctor-WRONG-000000", extra={"max_retries": 0})
    assert run.code == 1
    assert "sk-doctor-WRONG-000000" not in run.out + run.err
    assert any("AuthenticationError" in f for f in findings(run, "FAIL"))


def test_key_with_a_newline_inside_is_refused_unprinted(server: LocalTogetherServer) -> None:
    run = doctor(server, key=KEY[:6] + "\n" + KEY[6:], extra={"max_retries": 0})
    assert run.code != 0
    assert "cannot carry" in run.out + run.err
