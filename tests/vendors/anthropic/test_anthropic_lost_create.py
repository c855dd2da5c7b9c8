"""A lost create on Anthropic is never paid for twice: each crash point of the submit is a real
SIGKILL of the submitting process, and the next try (this process) finds, adopts, re-submits or
refuses as the ledger's evidence says. The refusal's command is run as a user would run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_batch.__main__ import main
from airflow_provider_batch.ledger import LedgerConflictError, TaskIdentity, sqlite_ledger
from tests.vendors.anthropic._fake_api import FakeAnthropic
from tests.vendors.anthropic._submit_child import Interrupted, part_of, submit

CHILD = Path(__file__).with_name("_submit_child.py")
ROOT = Path(__file__).resolve().parents[3]


def line(custom_id: str) -> str:
    body = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": custom_id, "body": body}) + "\n"


@pytest.fixture
def account(tmp_path: Path) -> tuple[Path, Path, Path]:
    part = tmp_path / "part.jsonl"
    part.write_text(line("a") + line("b") + line("c"))
    return tmp_path / "state.json", tmp_path / "ledger.db", part


def killed_at(account: tuple[Path, Path, Path], run_id: str, crash: str) -> None:
    state, ledger, part = account
    args = [sys.executable, str(CHILD), str(state), str(ledger), str(part), run_id, crash]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def interrupted(account: tuple[Path, Path, Path], run_id: str) -> None:
    """A try that dies after the create (in this process: the state a SIGKILL there leaves)."""
    state, ledger, part = account
    with pytest.raises(Interrupted):
        submit(state, sqlite_ledger(str(ledger)), part_of(part), run_id, "raise_after_create")


def settle_here(
    account: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, str]:
    monkeypatch.setenv("AIRFLOW__TOGETHER_BATCH__LEDGER_PATH", str(account[1]))
    code = main(["ledger", "settle", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def next_try(account: tuple[Path, Path, Path], run_id: str) -> tuple[str, str]:
    state, ledger, part = account
    (outcome,) = submit(state, sqlite_ledger(str(ledger)), part_of(part), run_id)
    return outcome.path, outcome.job.id


def settle(account: tuple[Path, Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW__TOGETHER_BATCH__LEDGER_PATH": str(account[1])}
    command = [sys.executable, "-m", "airflow_provider_batch", "ledger", "settle", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def creates(account: tuple[Path, Path, Path]) -> int:
    return int(FakeAnthropic(account[0]).load()["creates"])


def test_killed_after_the_create_the_next_try_adopts_that_batch(account: tuple[Path, Path, Path]) -> None:
    killed_at(account, "run-1", "after_create")
    assert creates(account) == 1
    assert next_try(account, "run-1") == ("recovered (interrupted create)", "msgbatch_0001")
    assert next_try(account, "run-1") == ("re-attached (ledger)", "msgbatch_0001")
    assert creates(account) == 1


def test_killed_before_the_create_the_next_try_creates_exactly_one(account: tuple[Path, Path, Path]) -> None:
    killed_at(account, "run-1", "before_create")
    assert creates(account) == 0
    assert next_try(account, "run-1") == ("submitted", "msgbatch_0001")
    assert creates(account) == 1


def test_identical_twins_are_refused_naming_both_then_settled_by_the_printed_command(
    account: tuple[Path, Path, Path],
) -> None:
    killed_at(account, "run-1", "after_create")
    interrupted(account, "run-2")  # the same requests, another run: an identical twin
    with pytest.raises(LedgerConflictError) as refused:
        next_try(account, "run-1")
    message = str(refused.value)
    assert "msgbatch_0001" in message and "msgbatch_0002" in message and "other create(s)" in message
    command = next(part for part in message.split("; ") if "--batch-id msgbatch_0001" in part)
    args = command[command.index("ledger settle") + len("ledger settle ") :].split()
    done = settle(account, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "adopted batch msgbatch_0001" in done.stdout
    assert next_try(account, "run-1") == ("re-attached (ledger)", "msgbatch_0001")
    # run-2's create is now the only one unsettled, and msgbatch_0001 is owned: it gets 0002
    assert next_try(account, "run-2") == ("recovered (interrupted create)", "msgbatch_0002")
    assert creates(account) == 2


def test_a_foreign_batch_in_the_window_is_not_adopted_silently_and_no_batch_resubmits(
    account: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupted(account, "run-1")
    FakeAnthropic(account[0]).add(3)  # the same count, made by another tool on the same key
    with pytest.raises(LedgerConflictError, match="msgbatch_0001, msgbatch_0002") as refused:
        next_try(account, "run-1")
    assert creates(account) == 1
    submission = str(refused.value).split("--submission-id ")[1].split()[0]
    assert settle_here(account, monkeypatch, capsys, "--submission-id", submission, "--no-batch")[0] == 0
    assert next_try(account, "run-1") == ("submitted", "msgbatch_0003")
    assert creates(account) == 2
    # the row is settled now: settling it again is refused
    code, said = settle_here(account, monkeypatch, capsys, "--submission-id", submission, "--batch-id", "x")
    assert code == 1 and "not creating" in said


def test_batches_of_another_size_or_outside_the_window_are_not_candidates(
    account: tuple[Path, Path, Path],
) -> None:
    fake = FakeAnthropic(account[0])
    fake.add(7)  # another size, in the window
    fake.add(3, created_at=datetime.now(timezone.utc) - timedelta(hours=2))  # same size, long before
    state, ledger, part = account
    with pytest.raises(Interrupted):
        submit(state, sqlite_ledger(str(ledger)), part_of(part), "run-1", "raise_after_create")
    assert next_try(account, "run-1") == ("recovered (interrupted create)", "msgbatch_0003")
    assert [
        r.batch_id for r in sqlite_ledger(str(ledger)).records_for(TaskIdentity("dag", "llm", "run-1", 0))
    ] == ["msgbatch_0003"]
