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
def running_batch(together_conn: str, together_server: Any, make_batch: Any) -> str:
    together_server.configure(processing_seconds=60)
    return str(make_batch())


def test_version_flag_matches_the_base_trigger() -> None:
    assert AIRFLOW_HAS_TRIGGER_ON_KILL is AIRFLOW_V_3_3_PLUS


# -- user kill of a deferred task ---------------------------------------------------------------


@requires_3_3
async def test_user_kill_in_the_triggerer_cancels_the_batch(together_server: Any, running_batch: str) -> None:
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=True)
    assert _status(together_server, running_batch) in CANCELLING


@before_3_3
async def test_user_kill_in_the_triggerer_leaves_the_batch_running_before_3_3(
    together_server: Any, running_batch: str
) -> None:
    # Documented limit: Airflow < 3.3 only cancels run() and calls cleanup(), never on_kill().
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=True)
    assert _status(together_server, running_batch) in RUNNING
    assert _cancel_calls(together_server) == 0
    assert trigger._client is None  # cleanup() still released the HTTP client


async def test_triggerer_shutdown_never_cancels(together_server: Any, running_batch: str) -> None:
    trigger = TogetherBatchTrigger(batch_ids=[running_batch], poll_interval=0.05, cancel_on_kill=True)
    await _run_in_triggerer(trigger, user_action=False)
    assert _status(together_server, running_batch) in RUNNING
    assert _cancel_calls(together_server) == 0


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_defer_warns_when_a_kill_cannot_cancel(
    caplog: pytest.LogCaptureFixture, cancel_on_kill: bool
) -> None:
    log = logging.getLogger("apb-test")
    with caplog.at_level(logging.WARNING, logger="apb-test"):
        warn_if_kill_cannot_cancel(log, cancel_on_kill=cancel_on_kill)
    warned = "cannot cancel" in caplog.text
    assert warned is (cancel_on_kill and not AIRFLOW_V_3_3_PLUS)
