"""``python -m airflow_provider_batch doctor`` against the local server, in a subprocess with an
``AIRFLOW_CONN_*`` connection: a clean run, then one injected difference per test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer

#: A key no output may contain, not even inside an error message.
KEY = "sk-doctor-SECRET-7f3a9c"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def server(together_server: LocalTogetherServer) -> LocalTogetherServer:
    together_server.configure(api_key=KEY)
    return together_server


def doctor(
    server: LocalTogetherServer,
    *args: str,
    key: str = KEY,
    extra: dict[str, Any] | None = None,
    conn_type: str = "together",
) -> Run:
    connection = {"conn_type": conn_type, "password": key, "host": server.base_url, "extra": extra or {}}
    env = {**os.environ, "AIRFLOW_CONN_DOCTOR_TEST": json.dumps(connection)}
    command = [sys.executable, "-m", "airflow_provider_batch", "doctor", "--conn-id", "doctor_test"]
    done = subprocess.run(
        [*command, "--poll-interval", "0.05", "--timeout", "20", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert KEY not in run.out + run.err, "the API key was printed"
    assert re.search(r"Bearer (?!\*\*\*)", run.out + run.err) is None, "a bearer token was printed"
    return run


def findings(run: Run, severity: str) -> list[str]:
    return [line.strip() for line in run.out.splitlines() if line.strip().startswith(severity + " ")]


def test_clean_run_passes_and_prints_each_step(server: LocalTogetherServer) -> None:
    run = doctor(server)
    assert run.code == 0, run.out + run.err
    for title in (
        "Upload the input file",
        "Create the batch",
        "Wait for a terminal status",
        "Download the output and error files",
        "Line formats",
        "Usage fields",
        "Timings and clean-up",
    ):
        assert title in run.out
    assert "estimated cost about $0.0000" in run.out
    assert "POST /files -> 302" in run.out and "upload flow as expected" in run.out
    assert "statuses: VALIDATING -> IN_PROGRESS -> COMPLETED" in run.out
    assert "every custom_id came back exactly once (2)" in run.out
    assert "present and consistent on every answer" in run.out
    assert findings(run, "WARN") == [] and findings(run, "FAIL") == []
    assert "Result: 0 FAIL, 0 WARN" in run.out
    assert server.files() == []  # the doctor deletes the files it made
    assert [b["status"] for b in server.batches()] == ["COMPLETED"]


def test_json_report(server: LocalTogetherServer) -> None:
    run = doctor(server, "--json")
    assert run.code == 0, run.out + run.err
    report = json.loads(run.out)
    assert report["exit_code"] == 0 and report["fail"] == 0
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == ["upload", "create", "wait", "download", "lines", "usage", "timings"]
    assert steps["upload"]["data"]["flow"] == [
        "POST /files",
        "PUT {upload_url}",
        "POST /files/{id}/preprocess",
    ]
    assert [t["status"] for t in steps["wait"]["data"]["timeline"]][-1] == "COMPLETED"
    assert steps["usage"]["data"]["usage"][0]["total"] > 0
    assert "estimated cost" in run.err  # printed before starting, off stdout


def test_unknown_status_is_flagged(server: LocalTogetherServer) -> None:
    server.configure(status_aliases={"IN_PROGRESS": "RUNNING"})
    run = doctor(server)
    assert run.code == 0, run.out  # the provider polls on through a status it does not know
    assert any("'RUNNING' is not one the provider knows" in f for f in findings(run, "WARN"))


def test_unknown_terminal_status_times_out_and_cancels(server: LocalTogetherServer) -> None:
    server.configure(status_aliases={"COMPLETED": "DONE"}, processing_seconds=30)
    run = doctor(server, "--timeout", "1")
    assert run.code == 1
    assert any("no terminal status within --timeout 1 s" in f for f in findings(run, "FAIL"))
    assert "cancelled batch" in run.out
    assert server.batches()[0]["status"] in ("CANCELING", "CANCELLED")


def test_missing_usage_fails(server: LocalTogetherServer) -> None:
    server.configure(omit_line_fields=("response.body.usage",))
    run = doctor(server)
    assert run.code == 1
    assert any("no response.body.usage" in f for f in findings(run, "FAIL"))


def test_missing_total_tokens_warns(server: LocalTogetherServer) -> None:
    server.configure(omit_line_fields=("response.body.usage.total_tokens",))
    run = doctor(server)
    assert run.code == 0, run.out
    assert any("total_tokens missing" in f for f in findings(run, "WARN"))


def test_line_without_custom_id_fails(server: LocalTogetherServer) -> None:
    server.configure(omit_line_fields=("custom_id",))
    run = doctor(server)
    assert run.code == 1
    fails = findings(run, "FAIL")
    assert any("output line 1: no custom_id" in f for f in fails)
    assert any("is in neither file" in f for f in fails)


def test_failed_batch_fails(server: LocalTogetherServer) -> None:
    server.configure(max_lines=1)
    run = doctor(server)
    assert run.code == 1
    assert any("the batch ended FAILED" in f for f in findings(run, "FAIL"))


def test_key_never_printed_even_in_errors(server: LocalTogetherServer) -> None:
    # A key with a newline inside would make httpx refuse the header and quote it in its error:
    # the client's settings refuse it first, naming the character's position only.
    run = doctor(server, key=KEY[:6] + "\n" + KEY[6:], extra={"max_retries": 0})
    assert run.code != 0
    assert "cannot carry" in run.out + run.err


def test_a_pasted_key_with_its_trailing_newline_works(server: LocalTogetherServer) -> None:
    run = doctor(server, key=KEY + "\n", extra={"max_retries": 0})
    assert run.code == 0


def test_wrong_key_is_a_clear_error(server: LocalTogetherServer) -> None:
    run = doctor(server, key="sk-doctor-WRONG-000000", extra={"max_retries": 0})
    assert run.code == 1
    assert "sk-doctor-WRONG-000000" not in run.out + run.err
    assert any("AuthenticationError" in f for f in findings(run, "FAIL"))


def test_unknown_connection_is_not_run(server: LocalTogetherServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_batch", "doctor", "--conn-id", "no_such_conn"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "doctor: error:" in done.stderr and "no_such_conn" in done.stderr
