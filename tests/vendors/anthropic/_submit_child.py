"""One submit of one Anthropic part, in a process of its own, optionally killed with SIGKILL at a
crash point: ``before_create`` (the row is ``creating``, nothing sent) or ``after_create`` (the
batch exists, its id is not recorded). Prints the outcome as JSON when it is not killed.

    python _submit_child.py STATE LEDGER PART RUN_ID CRASH_POINT
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from airflow_provider_batch.idempotency import SubmitContext, submit_or_attach
from airflow_provider_batch.ledger import SubmissionLedger, TaskIdentity, sqlite_ledger
from airflow_provider_batch.vendors import vendor_named
from airflow_provider_batch.vendors.anthropic.vendor import MESSAGES, NeutralAnthropicClient
from tests.vendors.anthropic._fake_api import FakeAnthropic, settings


@dataclass(frozen=True)
class Part:
    index: int
    path: Path
    lines: int
    sha256: str


def part_of(path: Path) -> Part:
    data = path.read_bytes()
    return Part(0, path, data.count(b"\n"), hashlib.sha256(data).hexdigest())


class Interrupted(BaseException):
    """Stands for a worker that died between the create's answer and the ledger write."""


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Interrupted


def submit(state: Path, ledger: SubmissionLedger, part: Part, run_id: str, crash: str = "none") -> Any:
    vendor = vendor_named("anthropic")
    transport = httpx.MockTransport(FakeAnthropic(state).handler)
    client = NeutralAnthropicClient(settings(), http_client=httpx.Client(transport=transport))
    client.vendor = vendor
    ctx = SubmitContext(
        TaskIdentity("dag", "llm", run_id, 0), ledger, MESSAGES, "anthropic_default", vendor=vendor
    )
    if crash == "before_create":
        client.batches.create = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
    if crash == "after_create":
        ledger.record_batch = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
    if crash == "raise_after_create":  # the same state as a kill there, without a process of its own
        ledger.record_batch = _raise  # type: ignore[method-assign]
    with client:
        return submit_or_attach(client, [part], ctx)


if __name__ == "__main__":
    state, ledger_path, part_path, run_id, crash = sys.argv[1:6]
    (outcome,) = submit(Path(state), sqlite_ledger(ledger_path), part_of(Path(part_path)), run_id, crash)
    print(json.dumps({"path": outcome.path, "batch_id": outcome.job.id}))
