"""Each batch carries its own deadline: its ``created_at`` plus the timeout.

A part re-attached from an earlier try must not shorten the wait of a part created now; a batch
past its own deadline is timed out (and cancelled when asked) while the others keep being polled;
the deadlines travel in the trigger kwargs, and kwargs of the previous release (one shared
``deadline``) still resume as before. Against the local server, through the real trigger.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch._compat import TaskDeferred
from airflow_provider_batch.collect.plan import ResultsPlan
from airflow_provider_batch.collect.state import FollowUpState
from airflow_provider_batch.events import EventStatus
from airflow_provider_batch.exceptions import TogetherBatchTimeoutError
from airflow_provider_batch.inputs import BatchLimits
from airflow_provider_batch.operators._batch_common import check_once, wait_sync
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger
from tests.airflow_compat import serde_round_trip

from apb_airflow_helpers import (
    DictStateStore,
    FakeTI,
    age_batch,
    batch_status,
    cancel_requests,
    context,
    trigger_events,
    write_input,
)

pytestmark = [pytest.mark.usefixtures("vendor_conn"), pytest.mark.timeout(90)]

TIMEOUT = 3600.0
CANCELLED = {"CANCELING", "CANCELLED"}


def _op(path: Path, **kwargs: Any) -> TogetherBatchOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return TogetherBatchOperator(
        task_id="submit", input_path=str(path), limits=BatchLimits(max_lines=2),
        timeout=timedelta(seconds=TIMEOUT), **kwargs,
    )  # fmt: skip


def _recreated(trigger: TogetherBatchTrigger) -> TogetherBatchTrigger:
    """The trigger as a triggerer rebuilds it: kwargs through serde, then the constructor."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_batch.triggers.batch.TogetherBatchTrigger"
    return TogetherBatchTrigger(**serde_round_trip(kwargs))


# -- a part re-attached from an earlier try, a part created now --------------------------------


def _old_part_and_resubmit(tmp_path: Path, server: Any) -> tuple[Path, DictStateStore, str, str]:
    """Yesterday's try created parts 1 and 2; part 1 COMPLETED, part 2 was CANCELLED. Part 1's
    creation is moved back beyond ``TIMEOUT``: its own deadline has long passed. A re-run with
    ``force_resubmit`` re-attaches part 1 and creates part 2 again."""
    server.configure(processing_seconds=60)
    path = write_input(tmp_path / "in.jsonl", 4)
    store = DictStateStore()
    manifest = _op(path, wait_for_completion=False).execute(context(FakeTI(), store))
    old_part, lost_part = [b["batch_id"] for b in manifest["batches"]]
    server.force_status(old_part, "COMPLETED")
    server.force_status(lost_part, "CANCELLED")
    age_batch(server, old_part, TIMEOUT + 600)
    server.configure(processing_seconds=0.5)  # the new part 2 finishes half a second after create
    return path, store, old_part, lost_part


def test_reattached_old_part_does_not_shorten_the_new_parts_wait(tmp_path: Path, vendor_server: Any) -> None:
    path, store, old_part, lost_part = _old_part_and_resubmit(tmp_path, vendor_server)
    ti = FakeTI(try_number=2)
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        _op(path, force_resubmit=True).execute(context(ti, store))
    old, new = ti.xcom["batch_ids"]
    assert old == old_part and new not in (old_part, lost_part)
    assert vendor_server.stats()["batch_creates"] == 3

    # With one deadline anchored to the oldest batch, the new part was cancelled on the first poll.
    (event,) = asyncio.run(trigger_events(_recreated(deferred.value.trigger)))
    assert event.status is EventStatus.COMPLETED, event.message
    assert batch_status(vendor_server, new) == "COMPLETED"
    assert cancel_requests(vendor_server) == 0
    result = _op(path).execute_complete(context(ti), event=event.to_payload(), **deferred.value.kwargs)
    assert [b["status"] for b in result["batches"]] == ["COMPLETED", "COMPLETED"]

    deadlines = deferred.value.trigger.serialize()[1]["deadlines"]
    assert deadlines[old] < started - 600  # its own deadline: long gone, but it is COMPLETED
    assert started + TIMEOUT - 5 <= deadlines[new] <= time.time() + TIMEOUT  # a full timeout
    # Airflow's backstop lies beyond the latest batch deadline, never before it.
    assert deferred.value.timeout.total_seconds() > deadlines[new] - started


def test_worker_path_applies_the_same_rule(tmp_path: Path, vendor_server: Any) -> None:
    path, store, old_part, _ = _old_part_and_resubmit(tmp_path, vendor_server)
    ti = FakeTI(try_number=2)
    result = _op(path, force_resubmit=True, deferrable=False).execute(context(ti, store))
    assert next(b["batch_id"] for b in result["batches"]) == old_part
    assert [b["status"] for b in result["batches"]] == ["COMPLETED", "COMPLETED"]
    assert cancel_requests(vendor_server) == 0


# -- a batch past its own deadline, the other still on time --------------------------------------


def _late_and_on_time(server: Any, make_batch: Any) -> tuple[str, str, dict[str, float]]:
    """``late`` runs for a minute and was created ``TIMEOUT - 0.3`` s ago; ``on_time`` was just
    created and completes in two seconds (still running at the first poll, even on a busy
    machine). Deadlines are each one's created_at + ``TIMEOUT``."""
    server.configure(processing_seconds=60)
    late = make_batch()
    server.configure(processing_seconds=2.0)
    on_time = make_batch()
    created = {late: age_batch(server, late, TIMEOUT - 0.3), on_time: age_batch(server, on_time, 0)}
    return late, on_time, {b: c + TIMEOUT for b, c in created.items()}


def _wait(path: str, batch_ids: list[str], deadlines: dict[str, float], cancel: bool, client: Any) -> Any:
    if path == "trigger":
        trigger = TogetherBatchTrigger(
            batch_ids=batch_ids, poll_interval=0.05, deadlines=deadlines, cancel_on_timeout=cancel
        )
        (event,) = asyncio.run(asyncio.wait_for(trigger_events(_recreated(trigger)), timeout=30))
        return event
    return wait_sync(
        client, batch_ids, poll_interval=0.05, deadlines=deadlines, max_poll_failures=3,
        cancel_on_timeout=cancel,
    )  # fmt: skip


@pytest.mark.parametrize("cancel_on_timeout", [True, False])
@pytest.mark.parametrize("path", ["trigger", "worker"])
def test_only_the_batch_past_its_own_deadline_times_out(
    vendor_server: Any, make_batch: Any, vendor_client: Any, path: str, cancel_on_timeout: bool
) -> None:
    late, on_time, deadlines = _late_and_on_time(vendor_server, make_batch)
    event = _wait(path, [late, on_time], deadlines, cancel_on_timeout, vendor_client)
    assert event.status is EventStatus.TIMEOUT
    assert event.timed_out == [late]
    by_id = {b.batch_id: b for b in event.batches}
    assert by_id[on_time].status == "COMPLETED" and by_id[on_time].output_file_id  # polled to its end
    assert batch_status(vendor_server, on_time) == "COMPLETED"
    assert (batch_status(vendor_server, late) in CANCELLED) is cancel_on_timeout
    assert cancel_requests(vendor_server) == int(cancel_on_timeout)
    assert f"unfinished: {late}" in event.message


def test_check_once_ends_the_wait_only_when_nothing_else_is_left(
    vendor_server: Any, make_batch: Any, vendor_client: Any
) -> None:
    vendor_server.configure(processing_seconds=60)
    late, running, done = make_batch(), make_batch(), make_batch()
    vendor_server.force_status(done, "COMPLETED")
    past, future = time.time() - 1, time.time() + 60
    # Another batch is still on time: the late one is left to the wait that follows.
    deadlines = {late: past, running: future}
    assert check_once(vendor_client, [late, running], deadlines=deadlines, cancel_on_timeout=True) is None
    assert cancel_requests(vendor_server) == 0
    # Nothing else to wait for: timeout now. A COMPLETED batch past its deadline is not late.
    event = check_once(
        vendor_client, [late, done], deadlines={late: past, done: past}, cancel_on_timeout=True
    )
    assert event is not None and (event.status, event.timed_out) == (EventStatus.TIMEOUT, [late])
    assert cancel_requests(vendor_server) == 1 and batch_status(vendor_server, late) in CANCELLED


def test_a_batch_cancelled_after_its_deadline_still_counts_as_timed_out(
    vendor_server: Any, make_batch: Any, vendor_client: Any
) -> None:
    # The first triggerer cancelled the late batch at its deadline, then died; its successor
    # finds the batch CANCELLED and reports a timeout, not a cancellation.
    late, on_time, deadlines = _late_and_on_time(vendor_server, make_batch)
    time.sleep(max(0.0, deadlines[late] - time.time()) + 0.05)
    vendor_client.batches.cancel(late)
    event = _wait("trigger", [late, on_time], deadlines, True, vendor_client)
    assert (event.status, event.timed_out) == (EventStatus.TIMEOUT, [late])
    assert cancel_requests(vendor_server) == 1  # not cancelled a second time
    with pytest.raises(TogetherBatchTimeoutError, match=rf"{late}: CANCEL\w+ \(timed out\)"):
        TogetherBatchSensor(task_id="wait", batch_id=late).execute_complete(
            context(), event=event.to_payload()
        )


# -- kwargs ---------------------------------------------------------------------------------------


def test_a_batch_without_a_deadline_and_unknown_ids_refused() -> None:
    trigger = TogetherBatchTrigger(batch_ids=["b-1", "b-2"], deadlines={"b-2": 1_900_000_000.0})
    assert trigger.serialize()[1]["deadlines"] == {"b-2": 1_900_000_000.0}
    with pytest.raises(ValueError, match="b-3"):
        TogetherBatchTrigger(batch_ids=["b-1"], deadlines={"b-3": 1.0})


#: Exactly what the previous release's ``serialize()`` wrote for an in-flight deferred task.
def _previous_release_kwargs(batch_ids: list[str], deadline: float | None) -> dict[str, Any]:
    return {
        "batch_ids": batch_ids,
        "together_conn_id": "together_default",
        "poll_interval": 0.05,
        "deadline": deadline,
        "max_poll_failures": 5,
        "cancel_on_kill": True,
        "cancel_on_timeout": True,
    }


@pytest.mark.parametrize("deadline", [1_900_000_000.5, None])
def test_previous_release_kwargs_deserialize(deadline: float | None) -> None:
    stored = serde_round_trip(_previous_release_kwargs(["b-1", "b-2"], deadline))
    _, kwargs = TogetherBatchTrigger(**stored).serialize()
    expected = {} if deadline is None else {"b-1": deadline, "b-2": deadline}
    assert kwargs["deadlines"] == expected and "deadline" not in kwargs
    assert TogetherBatchTrigger(**kwargs).serialize()[1] == kwargs


def test_previous_release_trigger_behaves_as_before(vendor_server: Any, make_batch: Any) -> None:
    # One shared deadline: when it passes every unfinished batch is timed out and cancelled.
    vendor_server.configure(processing_seconds=60)
    ids = [make_batch(), make_batch()]
    trigger = TogetherBatchTrigger(**serde_round_trip(_previous_release_kwargs(ids, time.time() + 0.3)))
    (event,) = asyncio.run(asyncio.wait_for(trigger_events(trigger), timeout=30))
    assert event.status is EventStatus.TIMEOUT and "deadline passed with 2 batch(es)" in event.message
    assert all(batch_status(vendor_server, b) in CANCELLED for b in ids)


# -- the sensor and the results operator's follow-up batches ----------------------------------


def test_deferred_sensor_gives_each_batch_its_own_deadline(vendor_server: Any, make_batch: Any) -> None:
    late, on_time, deadlines = _late_and_on_time(vendor_server, make_batch)
    sensor = TogetherBatchSensor(
        task_id="wait", batch_ids=[late, on_time], deferrable=True, timeout=TIMEOUT, poke_interval=0.05
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["deadlines"] == pytest.approx(deadlines, abs=1.0)  # whole-second created_at
    assert deferred.value.timeout.total_seconds() > max(deadlines.values()) - time.time()
    (event,) = asyncio.run(asyncio.wait_for(trigger_events(_recreated(deferred.value.trigger)), 30))
    assert (event.status, event.timed_out) == (EventStatus.TIMEOUT, [late])
    assert cancel_requests(vendor_server) == 0  # a sensor never cancels
    with pytest.raises(TogetherBatchTimeoutError):
        sensor.execute_complete(context(), event=event.to_payload())


def test_poking_sensor_times_out_a_batch_past_its_own_deadline(vendor_server: Any, make_batch: Any) -> None:
    vendor_server.configure(processing_seconds=60)
    late, running = make_batch(), make_batch()
    age_batch(vendor_server, late, TIMEOUT + 1)
    sensor = TogetherBatchSensor(task_id="wait", batch_ids=[late, running], timeout=TIMEOUT)
    assert sensor.poke(context()) is False  # the other batch is still on time: keep waiting
    vendor_server.force_status(running, "COMPLETED")
    with pytest.raises(TogetherBatchTimeoutError, match=f"unfinished: {late}"):
        sensor.poke(context())
    assert batch_status(vendor_server, late) in {"VALIDATING", "IN_PROGRESS"}  # never cancelled


def test_follow_up_batches_each_get_their_own_deadline(vendor_server: Any, make_batch: Any) -> None:
    op = TogetherBatchResultsOperator(
        task_id="results", batch_ids=["b-0"], follow_up_timeout=TIMEOUT, poll_interval=0.05
    )
    ctx = context()
    plan = ResultsPlan.resolve(op, ctx, op._manifest(ctx))
    with plan.session() as session:  # opened first: the late batch has 0.3 s left once created
        late, on_time, deadlines = _late_and_on_time(vendor_server, make_batch)
        state = FollowUpState.model_validate(
            {"round": 1, "result": {}, "chains": [{"batch_id": late}, {"batch_id": on_time}]}
        )
        with pytest.raises(TaskDeferred) as deferred:
            op._await_follow_up(ctx, session, state)
    assert deferred.value.trigger.serialize()[1]["deadlines"] == pytest.approx(deadlines, abs=1.0)
    assert deferred.value.timeout.total_seconds() > max(deadlines.values()) - time.time()
    (event,) = asyncio.run(asyncio.wait_for(trigger_events(_recreated(deferred.value.trigger)), 30))
    assert (event.status, event.timed_out) == (EventStatus.TIMEOUT, [late])
    assert batch_status(vendor_server, late) in CANCELLED
    assert batch_status(vendor_server, on_time) == "COMPLETED"


@pytest.mark.parametrize(
    ("ended", "timed_out"),
    [
        (1_000_000_000.0, True),  # whole seconds (OpenAI's Unix times): the deadline's own second
        (999_999_999.0, False),  # the second before it
        (1_000_000_000.6, False),  # a finer clock: just before the deadline
        (1_000_000_000.8, True),  # a finer clock: just after it
    ],
)
def test_a_cancellation_in_the_deadlines_own_second_counts_as_timed_out(
    ended: float, timed_out: bool
) -> None:
    """A timeout cancels a batch at its deadline; an API that stamps whole seconds reports that
    moment truncated, which must not turn the timeout into a user's cancellation (a triggerer
    restarted after the cancel reads only the stamp)."""
    import logging
    from datetime import datetime, timezone

    from airflow_provider_batch.client.models import BatchJob, BatchStatus
    from airflow_provider_batch.triggers._polling import PollTracker

    tracker = PollTracker(
        ["b"], max_poll_failures=3, deadlines={"b": 1_000_000_000.7}, logger=logging.getLogger("t")
    )
    tracker.record_round(
        [
            BatchJob(
                id="b", status=BatchStatus.CANCELLED, completed_at=datetime.fromtimestamp(ended, timezone.utc)
            )
        ]
    )
    assert tracker.timed_out() == (["b"] if timed_out else [])
