"""The command line: start on a free port, read READY, serve one request, stop on SIGTERM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.server.helpers import plain


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_batch.testing.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--processing-seconds",
            "0.1",
            "--fault-kinds",
            "429,reset",
            "--seed",
            "7",
            "--access-log",
            str(tmp_path / "access.log"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
        base_url = line.removeprefix("READY ")
        response = plain.get(f"{base_url}/batches", headers={"Authorization": "Bearer cli-key"}, timeout=10)
        assert response.status_code == 200 and response.text == "null"
        assert plain.get(f"{base_url}/batches", timeout=10).status_code == 401
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out == ""  # nothing but the READY line
    assert "cli-key" not in err + (tmp_path / "access.log").read_text()


def test_cli_refuses_a_bad_option() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_batch.testing.server",
            "--api-key",
            "k",
            "--fault-kinds",
            "418",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "unknown fault kinds" in result.stderr and result.stdout == ""


def test_cli_warns_once_on_stderr_when_not_on_loopback() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_batch.testing.server",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--api-key",
            "cli-wide-key",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("READY http://0.0.0.0:")
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    warnings = [line for line in err.splitlines() if "0.0.0.0" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: ") and "loopback" in warnings[0]
    assert "cli-wide-key" not in err
