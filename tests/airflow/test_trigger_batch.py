"""TogetherBatchTrigger against the local server over real loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import threading
import time
from typing import Any

import pytest

from airflow_provider_batch.events import BatchEvent, EventStatus
from airflow_provider_batch.ledger import SubmissionLedger, TaskIdentity
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger
from tests.airflow_compat import serde_round_trip

pytestmark = pytest.mark.timeout(60)

CLASSPATH = "airflow_provider_batch.triggers.batch.TogetherBatchTrigger"


def _batches(server: Any) -> str:
    """The route of the server's batches (Anthropic's under ``/v1/messages``)."""
    return "/v1/messages/batches" if server.vendor == "anthropic" else "/v1/batches"


async def _events(trigger: TogetherBatchTrigger) -> list[BatchEvent]:
    try:
        return [BatchEvent.from_payload(e.payload) async for e in trigger.run()]
    finally:
        await trigger.cleanup()


def _status(server: Any, batch_id: str) -> str:
    return next(b["status"] for b in server.batches() if b["id"] == batch_id)


# -- serialization ----------------------------------------------------------------------------


def test_serialize_round_trip_and_pinned_classpath() -> None:
    trigger = TogetherBatchTrigger(
        batch_ids=["b-1", "b-2"],
        together_conn_id="c",
        poll_interval=12,
        deadlines={"b-1": 1_900_000_000.5, "b-2": 1_900_000_060.0},
        max_poll_failures=3,
        cancel_on_kill=False,
        cancel_on_timeout=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "batch_ids": ["b-1", "b-2"],
        "together_conn_id": "c",
        "poll_interval": 12.0,
        "deadlines": {"b-1": 1_900_000_000.5, "b-2": 1_900_000_060.0},
        "max_poll_failures": 3,
        "cancel_on_kill": False,
        "cancel_on_timeout": True,
        "record_status": False,
        "ledger_conn_id": None,
    }
    json.dumps(kwargs)  # primitives only
    assert TogetherBatchTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_serde_round_trip_used_by_the_triggerer() -> None:
    trigger = TogetherBatchTrigger(batch_ids=["b-1"], deadlines={"b-1": 1_900_000_000.5})
    classpath, kwargs = trigger.serialize()
    assert TogetherBatchTrigger(**serde_round_trip(kwargs)).serialize() == (classpath, kwargs)


def test_kwargs_of_a_release_before_status_recording_still_resume() -> None:
    old = {"batch_ids": ["b-1"], "together_conn_id": "c", "poll_interval": 5.0, "deadlines": {},
           "max_poll_failures": 5, "cancel_on_kill": True, "cancel_on_timeout": True}  # fmt: skip
    trigger = TogetherBatchTrigger(**old)
    assert trigger.record_status is False and trigger.serialize()[1]["ledger_conn_id"] is None


def test_empty_batch_ids_refused() -> None:
    with pytest.raises(ValueError):
        TogetherBatchTrigger(batch_ids=[])


# -- polling ----------------------------------------------------------------------------------


def _log_lines(capsys: pytest.CaptureFixture[str], needle: str) -> list[str]:
    out = capsys.readouterr()
    return [line for line in (out.out + out.err).splitlines() if needle in line]


async def test_completes_with_one_event_and_logs_progress(
    vendor_conn: str, make_batch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [make_batch(), make_batch(3)]
    deadlines = dict.fromkeys(ids, time.time() + 30)
    trigger = TogetherBatchTrigger(batch_ids=ids, poll_interval=0.05, deadlines=deadlines)
    events = await _events(trigger)
    assert [e.status for e in events] == [EventStatus.COMPLETED]
    assert events[0].batch_ids == ids
    assert all(
        b.status == "COMPLETED" and b.output_file_id and b.progress == 100.0 for b in events[0].batches
    )
    polls = _log_lines(capsys, f"batch {ids[0]}: ")
    assert polls and f"batch {ids[0]}: COMPLETED 100.0%" in polls[-1]
    assert all("[info" in line for line in polls)


@pytest.mark.parametrize("status", ["FAILED", "EXPIRED", "CANCELLED"])
async def test_terminal_outcomes(vendor_conn: str, vendor_server: Any, make_batch: Any, status: str) -> None:
    vendor_server.configure(processing_seconds=60)
    ok, bad = make_batch(), make_batch()
    vendor_server.force_status(ok, "COMPLETED")
    vendor_server.force_status(bad, status)
    events = await _events(TogetherBatchTrigger(batch_ids=[ok, bad], poll_interval=0.05))
    assert [e.status.value for e in events] == [status.lower()]
    assert [b.status for b in events[0].batches] == ["COMPLETED", status]


async def test_transient_failures_tolerated_up_to_the_limit(
    vendor_conn: str, vendor_server: Any, make_batch: Any
) -> None:
    batch_id = make_batch()
    vendor_server.inject(f"GET {_batches(vendor_server)}/{{id}}", "503", times=3)
    events = await _events(
        TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.01, max_poll_failures=3)
    )
    assert [e.status for e in events] == [EventStatus.COMPLETED]
    assert vendor_server.stats()["faults_injected"] == {"503": 3}


async def test_one_failure_beyond_the_limit_is_an_error_event(
    vendor_conn: str, vendor_server: Any, make_batch: Any
) -> None:
    batch_id = make_batch()
    vendor_server.inject(f"GET {_batches(vendor_server)}/{{id}}", "500", times=4)
    events = await _events(
        TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.01, max_poll_failures=3)
    )
    assert [e.status for e in events] == [EventStatus.ERROR]
    assert events[0].error_type == "InternalServerError"
    assert "4 consecutive" in events[0].message
    assert _status(vendor_server, batch_id) in {"VALIDATING", "IN_PROGRESS", "COMPLETED"}  # never cancelled


async def test_non_transient_error_ends_at_once(
    monkeypatch: pytest.MonkeyPatch, vendor_server: Any, make_batch: Any
) -> None:
    batch_id = make_batch()
    conn = {"conn_type": vendor_server.vendor, "password": "wrong-key", "host": vendor_server.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_BADKEY", json.dumps(conn))
    trigger = TogetherBatchTrigger(
        batch_ids=[batch_id], together_conn_id="together_badkey", max_poll_failures=5
    )
    events = await _events(trigger)
    assert [e.error_type for e in events] == ["AuthenticationError"]
    assert "wrong-key" not in json.dumps(events[0].to_payload())


async def test_unknown_status_is_logged_and_polling_continues(
    vendor_conn: str, vendor_server: Any, make_batch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor_server.configure(validating_seconds=60)
    batch_id = make_batch()
    record = vendor_server.controller.store.get_batch(batch_id)
    record.status = "PAUSED_FOR_MAINTENANCE"  # a status this client has never heard of

    async def finish_after_three_polls() -> None:
        while vendor_server.stats()["requests"].get(f"GET {_batches(vendor_server)}/{{id}}", 0) < 3:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(vendor_server.force_status, batch_id, "COMPLETED")

    events, _ = await asyncio.gather(
        _events(TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.02)), finish_after_three_polls()
    )
    assert [e.status for e in events] == [EventStatus.COMPLETED]
    warnings = _log_lines(capsys, "unrecognised status 'PAUSED_FOR_MAINTENANCE'")
    assert len(warnings) >= 2 and all("[warning" in line for line in warnings)


# -- deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cancel_on_timeout", [True, False])
async def test_deadline_gives_timeout_and_cancels_only_when_asked(
    vendor_conn: str, vendor_server: Any, make_batch: Any, cancel_on_timeout: bool
) -> None:
    vendor_server.configure(processing_seconds=60)
    batch_id = make_batch()
    trigger = TogetherBatchTrigger(
        batch_ids=[batch_id],
        poll_interval=0.05,
        deadlines={batch_id: time.time() + 0.3},
        cancel_on_timeout=cancel_on_timeout,
    )
    events = await _events(trigger)
    assert [e.status for e in events] == [EventStatus.TIMEOUT]
    status = _status(vendor_server, batch_id)
    assert (status in {"CANCELING", "CANCELLED"}) is cancel_on_timeout


async def test_deadline_survives_a_recreated_trigger(
    vendor_conn: str, vendor_server: Any, make_batch: Any
) -> None:
    vendor_server.configure(processing_seconds=60)
    batch_id = make_batch()
    deadlines = {batch_id: time.time() + 0.2}
    original = TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=3600, deadlines=deadlines)
    _, kwargs = original.serialize()
    await asyncio.sleep(0.3)  # the triggerer restarts; the deadline has passed meanwhile
    recreated = TogetherBatchTrigger(**kwargs)
    # With a deadline measured from run() start, this would sleep an hour and hit the test timeout.
    events = await asyncio.wait_for(_events(recreated), timeout=20)
    assert [e.status for e in events] == [EventStatus.TIMEOUT]


# -- kill and cleanup -------------------------------------------------------------------------


async def _poll_once_then_stop(trigger: TogetherBatchTrigger) -> None:
    task = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(0.3)
    task.cancel()  # the triggerer cancels run() on restart, redistribution or user action
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("cancel_on_kill", [True, False])
async def test_on_kill_cancels_only_when_asked(
    vendor_conn: str, vendor_server: Any, make_batch: Any, cancel_on_kill: bool
) -> None:
    vendor_server.configure(processing_seconds=60)
    batch_id = make_batch()
    trigger = TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.05, cancel_on_kill=cancel_on_kill)
    await _poll_once_then_stop(trigger)
    await trigger.cleanup()
    await trigger.on_kill()
    assert (_status(vendor_server, batch_id) in {"CANCELING", "CANCELLED"}) is cancel_on_kill


async def test_cleanup_closes_but_never_cancels(
    vendor_conn: str, vendor_server: Any, make_batch: Any
) -> None:
    vendor_server.configure(processing_seconds=60)
    batch_id = make_batch()
    trigger = TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.05, cancel_on_kill=True)
    await _poll_once_then_stop(trigger)
    client = trigger._client
    assert client is not None
    await trigger.cleanup()
    assert trigger._client is None and client._pool.is_closed
    assert _status(vendor_server, batch_id) in {"VALIDATING", "IN_PROGRESS"}
    assert vendor_server.stats()["requests"].get(f"POST {_batches(vendor_server)}/{{id}}/cancel", 0) == 0


@pytest.mark.parametrize("batches", [1, 2])
async def test_cancelled_mid_poll_propagates_without_an_event(
    vendor_conn: str, vendor_server: Any, make_batch: Any, batches: int
) -> None:
    """A triggerer cancelling the trigger while a poll is in flight: the cancellation propagates,
    whether the poll is awaited directly (one batch) or gathered (several); no event, no failure."""
    vendor_server.configure(latency_ms=5000)
    trigger = TogetherBatchTrigger(batch_ids=[make_batch() for _ in range(batches)], poll_interval=0.01)
    task = asyncio.ensure_future(_events(trigger))
    while vendor_server.stats()["requests"].get(f"GET {_batches(vendor_server)}/{{id}}", 0) < batches:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trigger._client is None  # cleanup ran


# -- status changes in the ledger, for the page --------------------------------------------------


def _in_ledger(ledger: SubmissionLedger, batch_id: str) -> None:
    record = ledger.open(
        TaskIdentity("d", "submit", "r"), part_index=0, part_sha256="0" * 64, generation=0,
        request_count=2, endpoint="/v1/chat/completions", together_conn_id="together_default",
    )  # fmt: skip
    ledger.record_batch(record, batch_id, None, "VALIDATING")


async def test_status_changes_reach_the_ledger_off_the_event_loop(
    vendor_conn: str, vendor_server: Any, make_batch: Any, together_ledger: SubmissionLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    vendor_server.configure(validating_seconds=0.1, processing_seconds=2.0)
    batch_id = make_batch()
    _in_ledger(together_ledger, batch_id)
    seen: list[tuple[str, float | None, bool]] = []
    write = SubmissionLedger.record_status

    def spy(self: SubmissionLedger, batch: str, status: str, progress: float | None = None) -> None:
        seen.append((status, progress, threading.current_thread() is threading.main_thread()))
        write(self, batch, status, progress)

    monkeypatch.setattr(SubmissionLedger, "record_status", spy)
    trigger = TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.05, record_status=True)
    events = await _events(trigger)
    assert [e.status for e in events] == [EventStatus.COMPLETED]
    statuses = [s for s, _, _ in seen]
    assert "IN_PROGRESS" in statuses and statuses[-1] == "COMPLETED"
    assert statuses.index("IN_PROGRESS") < statuses.index("COMPLETED")
    running = [p for s, p, _ in seen if s == "IN_PROGRESS"]
    if vendor_server.vendor == "anthropic":  # its request counts move only once the batch ends
        assert running == [0.0], running
    else:
        assert any(p is not None and 0.0 < p < 100.0 for p in running), running
    assert not any(on_loop for _, _, on_loop in seen)  # written on the writer's threads
    # Only changes: far fewer writes than polls, and never the same figures twice in a row.
    assert all(a[:2] != b[:2] for a, b in itertools.pairwise(seen))
    row = together_ledger.by_batch(batch_id)
    assert row is not None and row.last_status == "COMPLETED" and row.last_progress == 100.0
    # What the trigger carries and writes names no key.
    key = vendor_server.api_key
    assert key not in json.dumps(trigger.serialize()[1])
    assert key not in json.dumps(row.model_dump(mode="json"))


async def test_a_ledger_that_cannot_be_written_does_not_stop_the_wait(
    vendor_conn: str, make_batch: Any, together_ledger: SubmissionLedger,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    batch_id = make_batch()
    _in_ledger(together_ledger, batch_id)

    def refuse(self: SubmissionLedger, *args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(SubmissionLedger, "record_status", refuse)
    events = await _events(TogetherBatchTrigger(batch_ids=[batch_id], poll_interval=0.05, record_status=True))
    assert [e.status for e in events] == [EventStatus.COMPLETED]
    warned = _log_lines(capsys, "could not be recorded in the submission ledger")
    assert len(warned) == 1 and "OperationalError" in warned[0]  # once, not once per poll
