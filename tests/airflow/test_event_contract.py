"""The trigger <-> operator contract: parsing is an allow-list, outcomes are exhaustive."""

from __future__ import annotations

import pytest

from airflow_provider_batch.events import BatchEvent, BatchState, EventStatus, InvalidEventError, outcome_of


def _state(status: str, batch_id: str = "b1") -> BatchState:
    return BatchState(batch_id=batch_id, status=status)


@pytest.mark.parametrize("payload", [None, "completed", 3, {"status": "succeeded"}, {"status": None}, {}])
def test_from_payload_refuses_missing_or_unknown(payload: object) -> None:
    with pytest.raises(InvalidEventError):
        BatchEvent.from_payload(payload)


def test_from_payload_refuses_unknown_keys() -> None:
    with pytest.raises(InvalidEventError):
        BatchEvent.from_payload({"status": "completed", "batches": [], "api_key": "x"})


@pytest.mark.parametrize("status", list(EventStatus))
def test_round_trip_every_status(status: EventStatus) -> None:
    event = BatchEvent(status=status, batches=[_state("COMPLETED")], message="m", error_type="E")
    assert BatchEvent.from_payload(event.to_payload()) == event


def test_payload_of_the_previous_release_parses() -> None:
    # Written by a triggerer still on the previous release: no ``timed_out`` in the states.
    payload = {
        "status": "timeout",
        "batches": [
            {
                "batch_id": "b1",
                "status": "IN_PROGRESS",
                "progress": 40.0,
                "input_file_id": "f",
                "output_file_id": None,
                "error_file_id": None,
                "error": None,
                "created_at": "2026-11-01T00:00:00Z",
                "completed_at": None,
            }
        ],
        "message": "deadline passed with 1 batch(es) unfinished: b1",
        "error_type": None,
    }
    event = BatchEvent.from_payload(payload)
    assert (event.status, event.batch_ids, event.timed_out) == (EventStatus.TIMEOUT, ["b1"], [])


def test_timed_out_batches_round_trip() -> None:
    states = [_state("COMPLETED", "b1"), BatchState(batch_id="b2", status="IN_PROGRESS", timed_out=True)]
    event = BatchEvent.from_payload(BatchEvent(status=EventStatus.TIMEOUT, batches=states).to_payload())
    assert event.timed_out == ["b2"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["COMPLETED", "COMPLETED"], EventStatus.COMPLETED),
        (["COMPLETED", "FAILED"], EventStatus.FAILED),
        (["EXPIRED", "CANCELLED", "COMPLETED"], EventStatus.EXPIRED),
        (["CANCELLED", "COMPLETED"], EventStatus.CANCELLED),
        (["FAILED", "EXPIRED"], EventStatus.FAILED),
        (["COMPLETED", "IN_PROGRESS"], None),
        (["CANCELING"], None),
        (["SOMETHING_NEW"], None),
        ([], None),
    ],
)
def test_outcome_of(statuses: list[str], expected: EventStatus | None) -> None:
    assert outcome_of([_state(s, f"b{i}") for i, s in enumerate(statuses)]) == expected
