"""The warehouse emulators, each started once per session: fakesnow's server and bqemulator.

They come from ``scripts/warehouse_emulators.sh install`` (``.venv-warehouses`` runs these tests,
``.venv-bqemulator`` the BigQuery emulator). Missing, they skip; with ``REQUIRE_SERVICES=1`` fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import free_port
from tests.services import require_installed, wait_for_port

pytestmark = pytest.mark.warehouses

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "run `bash scripts/warehouse_emulators.sh test`"
BQ_VENV = Path(os.environ.get("APB_BQEMULATOR_VENV", ROOT / ".venv-bqemulator"))


@dataclass(frozen=True)
class Emulator:
    host: str
    port: int
    started_in_s: float


def _start(argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[Emulator]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    try:
        try:
            took = wait_for_port(("127.0.0.1", port), 180, lambda: proc.poll() is None)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; its log:\n{log.read_text(errors='replace')[-3000:]}") from None
        yield Emulator("127.0.0.1", port, took)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """fakesnow's HTTP server in its own process (its ``patch()`` would not reach subprocesses)."""
    require_installed("fakesnow", "fakesnow", INSTALL)
    port = free_port()
    log = tmp_path_factory.mktemp("fakesnow") / "fakesnow.log"
    yield from _start([sys.executable, "-m", "fakesnow", "-s", "-p", str(port)], port, log)


@pytest.fixture(scope="session")
def bqemulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """bqemulator (REST) with its DuckDB extensions from the project's install, never downloaded."""
    require_installed("google.cloud.bigquery", "google-cloud-bigquery", INSTALL)
    binary = BQ_VENV / "bin" / "bqemulator"
    if not binary.exists():
        message = f"bqemulator is not installed at {binary}; {INSTALL}"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}, and REQUIRE_SERVICES=1 says it must be there")
        pytest.skip(message)
    rest, grpc = free_port(), free_port()
    log = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
    env = {**os.environ, "HOME": str(BQ_VENV / "home")}
    argv = [str(binary), "start", "--rest-port", str(rest), "--grpc-port", str(grpc), "--project", "apb-test"]
    yield from _start(argv, rest, log, env)
