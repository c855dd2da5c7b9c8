"""What each supported Airflow version can and cannot do for the provider, pinned per version.

``scripts/test_matrix.sh`` runs this file on Airflow 3.1, 3.2 and 3.3. Each 3.3-only feature has
a test of the feature (``requires_3_3``) and a test of the documented fallback on 3.1 and 3.2
(``before_3_3``), so a fallback that stops working fails on the version that needs it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from airflow_provider_batch._compat import AIRFLOW_HAS_TRIGGER_ON_KILL, warn_if_kill_cannot_cancel
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger
from tests.airflow_compat import AIRFLOW_V_3_3_PLUS, before_3_3, requires_3_3

pytestmark = pytest.mark.timeout(60)

RUNNING = {"VALIDATING", "IN_PROGRESS"}
CANCELLING = {"CANCELING", "CANCELLED"}


def _status(server: Any, batch_id: str) -> str:
    return next(b["status"] for b in server.batches() if b["id"] == batch_id)


def _cancel_calls(server: Any) -> int:
    return int(server.stats()["requests"].get("POST /v1/batches/{id}/cancel", 0))


async def _run_in_triggerer(trigger: TogetherBatchTrigger, *, user_action: bool) -> None:
    """Run ``trigger`` in Airflow's own ``TriggerRunner`` of this version, then remove it.

    ``user_action=True`` is what the triggerer does when the scheduler drops the trigger because a
    user marked, cleared or failed the deferred task (``cancel_triggers``); ``False`` is a triggerer
    shutdown or redistribution (the task is cancelled directly).
    """
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    trigger.timeout_after = None  # early 3.1 patches read it from the trigger; the runner sets it
    runner.triggers[1] = {"name": "together-test", "events": 0, "is_watcher": False}
    task = asyncio.ensure_future(runner.run_trigger(1, trigger))
    runner.triggers[1]["task"] = task
    await asyncio.sleep(0.3)  # at least one polling round
    if user_action:
        runner.to_cancel.append(1)
        await runner.cancel_triggers()
    else:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.fixture
def running_batch(vendor_conn: str, vendor_server: Any, make_batch: Any) -> str:
    vendor_server.configure(processing_seconds=60)
    return str(make_batch())


def test_version_flag_matches_the_base_trigger() -> None:
    assert AIRFLOW_HAS_TRIGGER_ON_KILL is AIRFLOW_V_3_3_PLUS


# -- user kill of a deferred task ---------------------------------------------------------------


@requires_3_3
async def test_user_kill_in_the_triggerer_cancels_the_batch(vendor_server: Any, running_batch: str) -> None:
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=True)
    assert _status(vendor_server, running_batch) in CANCELLING


@before_3_3
async def test_user_kill_in_the_triggerer_leaves_the_batch_running_before_3_3(
    vendor_server: Any, running_batch: str
) -> None:
    # Documented limit: Airflow < 3.3 only cancels run() and calls cleanup(), never on_kill().
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=True)
    assert _status(vendor_server, running_batch) in RUNNING
    assert _cancel_calls(vendor_server) == 0
    assert trigger._client is None  # cleanup() still released the HTTP client


async def test_triggerer_shutdown_never_cancels(vendor_server: Any, running_batch: str) -> None:
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=False)
    assert _status(vendor_server, running_batch) in RUNNING
    assert _cancel_calls(vendor_server) == 0


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_defer_warns_when_a_kill_cannot_cancel(
    caplog: pytest.LogCaptureFixture, cancel_on_kill: bool
) -> None:
    log = logging.getLogger("apb-test")
    with caplog.at_level(logging.WARNING, logger="apb-test"):
        warn_if_kill_cannot_cancel(log, cancel_on_kill=cancel_on_kill)
    warned = "cannot cancel" in caplog.text
    assert warned is (cancel_on_kill and not AIRFLOW_V_3_3_PLUS)


# -- Airflow 3.1 with cryptography 51: every connection "isn't defined" -------------------------


@pytest.mark.parametrize(
    ("airflow_version", "cryptography_version", "conflict"),
    [
        ("3.1.8", "51.0.1", True),
        ("3.1.1", "52.0.0", True),
        ("3.1.8", "50.0.2", False),
        ("3.2.2", "51.0.1", False),
        ("3.3.2", "51.0.1", False),
        ("3.1.8rc1", "51.0.0.dev1", True),
    ],
)
def test_fernet_conflict_names_the_pair_and_the_remedy(
    airflow_version: str, cryptography_version: str, conflict: bool
) -> None:
    from airflow_provider_batch._compat import fernet_conflict

    message = fernet_conflict(airflow_version, cryptography_version)
    if not conflict:
        assert message is None
        return
    assert message is not None
    assert airflow_version in message and cryptography_version in message
    assert "cryptography<51" in message and "3.2" in message


def test_installed_pair_is_not_in_conflict() -> None:
    """CI holds cryptography<51 on the 3.1 legs: the pair every leg installs must be a good one."""
    from airflow_provider_batch._compat import fernet_conflict

    assert fernet_conflict() is None


def test_missing_connection_error_carries_the_fernet_explanation(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the bad pair, the hook's "isn't defined" error says why, and how to fix it."""
    from airflow_provider_batch import _compat
    from airflow_provider_batch.hooks.together import TogetherBatchHook

    monkeypatch.setattr(_compat, "fernet_conflict", lambda *a: "Install 'cryptography<51'")
    with pytest.raises(Exception, match=r"isn't defined.*Install 'cryptography<51'") as info:
        TogetherBatchHook("apb_no_such_connection").connection()
    assert type(info.value).__name__ == "AirflowNotFoundException"

    monkeypatch.setattr(_compat, "fernet_conflict", lambda *a: None)
    with pytest.raises(Exception, match=r"isn't defined") as info:
        TogetherBatchHook("apb_no_such_connection").connection()
    assert "cryptography" not in str(info.value)


def test_provider_load_warns_once_about_the_pair(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_batch import _compat
    from airflow_provider_batch.get_provider_info import get_provider_info

    monkeypatch.setattr(_compat, "fernet_conflict", lambda *a: "Install 'cryptography<51'")
    monkeypatch.setattr(_compat, "_fernet_warned", False)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch"):
        get_provider_info()
        get_provider_info()
    assert [r.getMessage() for r in caplog.records].count("Install 'cryptography<51'") == 1
