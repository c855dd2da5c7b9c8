"""execute_complete: every EventStatus has a branch; ids come from the event; manifest always pushed."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batch.events import (
    XCOM_BATCH_IDS,
    XCOM_MANIFEST,
    BatchEvent,
    BatchState,
    EventStatus,
    InvalidEventError,
)
from airflow_provider_batch.exceptions import (
    TogetherBatchCancelledError,
    TogetherBatchError,
    TogetherBatchExpiredError,
    TogetherBatchFailedError,
    TogetherBatchPollingError,
    TogetherBatchTimeoutError,
)
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor

EXPECTED: dict[EventStatus, type[Exception] | None] = {
    EventStatus.COMPLETED: None,
    EventStatus.FAILED: TogetherBatchFailedError,
    EventStatus.EXPIRED: TogetherBatchExpiredError,
    EventStatus.CANCELLED: TogetherBatchCancelledError,
    EventStatus.TIMEOUT: TogetherBatchTimeoutError,
    EventStatus.ERROR: TogetherBatchPollingError,
}


class RecordingTI:
    """Just enough of a task instance for execute_complete: XCom in a dict."""

    task_id = "submit"
    map_index = -1

    def __init__(self, pulled: Any = None) -> None:
        self.pushed: dict[str, Any] = {}
        self.pulled = pulled

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, **_: Any) -> Any:
        return self.pulled


def _event(status: EventStatus) -> dict[str, Any]:
    batch_status = {"completed": "COMPLETED", "timeout": "IN_PROGRESS", "error": "IN_PROGRESS"}.get(
        status.value, status.value.upper()
    )
    states = [
        BatchState(
            batch_id="b-1",
            status=batch_status,
            progress=100.0,
            input_file_id="file-1",
            output_file_id="file-out",
            error_file_id="file-err",
        ),
        BatchState(
            batch_id="b-2",
            status="COMPLETED",
            progress=100.0,
            input_file_id="file-2",
            output_file_id="file-out-2",
        ),
    ]
    error_type = "X" if status == "error" else None
    return BatchEvent(status=status, batches=states, message="done", error_type=error_type).to_payload()


def test_every_status_is_covered() -> None:
    assert set(EXPECTED) == set(EventStatus)


@pytest.mark.parametrize("status", list(EventStatus))
def test_execute_complete_maps_every_status(status: EventStatus) -> None:
    op = TogetherBatchOperator(task_id="submit", input_path="/nowhere.jsonl")
    ti = RecordingTI()
    expected = EXPECTED[status]
    if expected is None:
        manifest = op.execute_complete({"ti": ti}, event=_event(status))
    else:
        with pytest.raises(expected) as info:
            op.execute_complete({"ti": ti}, event=_event(status))
        assert info.value.batch_ids == ["b-1", "b-2"]
        manifest = info.value.manifest
        assert manifest is not None
    # The resumed instance knows nothing: every id comes from the event.
    assert [b["batch_id"] for b in manifest["batches"]] == ["b-1", "b-2"]
    assert manifest["batches"][0]["output_file_id"] == "file-out"
    assert manifest["batches"][0]["error_file_id"] == "file-err"
    assert ti.pushed[XCOM_MANIFEST] == manifest
    assert ti.pushed[XCOM_BATCH_IDS] == ["b-1", "b-2"]


def test_terminal_errors_do_not_retry_but_polling_errors_do() -> None:
    from airflow_provider_batch._compat import AirflowFailException

    for status, error in EXPECTED.items():
        if error is None:
            continue
        assert issubclass(error, TogetherBatchError) == (status is not EventStatus.ERROR)
        assert issubclass(error, AirflowFailException) == (status is not EventStatus.ERROR)


@pytest.mark.parametrize("event", [None, {"status": "success"}, {"status": "COMPLETED", "batches": []}])
def test_execute_complete_refuses_missing_or_unknown_event(event: Any) -> None:
    op = TogetherBatchOperator(task_id="submit", input_path="/nowhere.jsonl")
    with pytest.raises(InvalidEventError):
        op.execute_complete({"ti": RecordingTI()}, event=event)


def test_execute_complete_keeps_part_numbers_and_counts_from_the_pre_defer_manifest() -> None:
    op = TogetherBatchOperator(task_id="submit", input_path="/in.jsonl", metadata_manifest="/meta.jsonl")
    before = {
        "together_conn_id": "together_default",
        "input_path": "/in.jsonl",
        "metadata_manifest": "/meta.jsonl",
        "batches": [
            {
                "batch_id": "b-2",
                "part": 2,
                "status": "VALIDATING",
                "input_file_id": "file-2",
                "request_count": 7,
            },
            {
                "batch_id": "b-1",
                "part": 1,
                "status": "VALIDATING",
                "input_file_id": "file-1",
                "request_count": 5,
            },
        ],
    }
    ti = RecordingTI(pulled=before)  # defer kwargs dropped (dag.test): read the pre-defer XCom push
    manifest = op.execute_complete({"ti": ti}, event=_event(EventStatus.COMPLETED))
    by_id = {b["batch_id"]: b for b in manifest["batches"]}
    assert (by_id["b-1"]["part"], by_id["b-1"]["request_count"]) == (1, 5)
    assert (by_id["b-2"]["part"], by_id["b-2"]["request_count"]) == (2, 7)
    assert by_id["b-1"]["status"] == "COMPLETED"
    assert manifest["metadata_manifest"] == "/meta.jsonl"
    assert manifest["completed_at"] is not None


@pytest.mark.parametrize("status", list(EventStatus))
def test_sensor_execute_complete_same_contract(status: EventStatus) -> None:
    sensor = TogetherBatchSensor(task_id="wait", batch_id="b-1")
    expected = EXPECTED[status]
    if expected is None:
        assert sensor.execute_complete({"ti": RecordingTI()}, event=_event(status))["batches"]
    else:
        with pytest.raises(expected):
            sensor.execute_complete({"ti": RecordingTI()}, event=_event(status))
