"""`make demo` end to end: a failure, its follow-up batch and the page URL, in a clean output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_a_failure_its_follow_up_and_the_page_url() -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = output.splitlines()
    transient = next(line for line in lines if line.strip().startswith("T20261102-00003  server_error"))
    assert "re-sent: succeeded in follow-up batch" in transient and "(attempt 2)" in transient
    assert any("context_length_exceeded in batch" in line and "stays failed" in line for line in lines)
    assert sum(line.rstrip().endswith("follow-up") for line in lines) == 1  # one follow-up spend row
    assert "Server saw 4 uploads and 4 batch creates." in lines
    assert (
        done.stdout.splitlines()[-1]
        == "  http://localhost:8080/plugin/together-batches?dag_id=together_nightly_backfill"
    )
    assert "Warning" not in output and "Traceback" not in output
