"""A poll interval below the floor (or not a positive number) is refused where the DAG is parsed,
and a connection's ``poll_interval`` extra is refused where it is read, before any upload."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch._compat import TaskDeferred
from airflow_provider_batch._poll_interval import MIN_POLL_INTERVAL, MIN_POLL_INTERVAL_ENV, min_poll_interval
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger
from airflow_provider_batch.vendors import VENDORS

from apb_airflow_helpers import context, set_connection, write_input

BAD = [0, -30, math.nan, math.inf, "30", True, 4.99]


@pytest.fixture
def default_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the test session's opt-out: the floor users get."""
    monkeypatch.delenv(MIN_POLL_INTERVAL_ENV, raising=False)


def _constructors() -> dict[str, Any]:
    return {
        "submit": lambda v: TogetherBatchOperator(task_id="submit", input_path="in.jsonl", poll_interval=v),
        "results": lambda v: TogetherBatchResultsOperator(
            task_id="results", batch_ids=["b"], poll_interval=v
        ),
        "sensor": lambda v: TogetherBatchSensor(task_id="sensor", batch_id="b", poke_interval=v),
    }


@pytest.mark.usefixtures("default_floor")
@pytest.mark.parametrize("owner", ["submit", "results", "sensor"])
@pytest.mark.parametrize("value", BAD, ids=repr)
def test_bad_interval_is_refused_by_the_constructor(owner: str, value: Any) -> None:
    name = "poke_interval" if owner == "sensor" else "poll_interval"
    # The sensor's base class refuses negative, NaN, infinite and text values itself.
    with pytest.raises((ValueError, OverflowError)) as caught:
        _constructors()[owner](value)
    if owner != "sensor" or value in (0, 4.99, True):
        assert f"'{owner}': {name} must be a number of seconds >= 5 s, got " in str(caught.value)


@pytest.mark.usefixtures("default_floor")
@pytest.mark.parametrize("owner", ["submit", "results", "sensor"])
def test_the_floor_and_above_are_accepted(owner: str) -> None:
    assert MIN_POLL_INTERVAL == 5.0 and min_poll_interval() == 5.0
    for value in (5, 30.0, 3600):
        _constructors()[owner](value)


@pytest.mark.usefixtures("default_floor")
def test_message_names_the_parameter_the_bound_and_the_recommendation() -> None:
    with pytest.raises(ValueError) as caught:
        TogetherBatchOperator(task_id="submit", input_path="x", poll_interval=1)
    assert str(caught.value) == (
        "TogetherBatchOperator 'submit': poll_interval must be a number of seconds >= 5 s, got 1; "
        "Together recommends 30-60 s. Only tests against a local server may lower the floor, with the "
        "APB_MIN_POLL_INTERVAL environment variable"
    )


@pytest.mark.usefixtures("default_floor")
def test_refused_when_the_dag_file_is_parsed(tmp_path: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    (tmp_path / "too_eager.py").write_text(
        textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow_provider_batch.operators.batch import TogetherBatchOperator

        with DAG("too_eager", schedule=None, start_date=datetime(2026, 1, 1)):
            TogetherBatchOperator(task_id="submit", input_path="/in.jsonl", poll_interval=0.5)
    """)
    )
    bag = DagBag(dag_folder=str(tmp_path))
    assert "too_eager" not in bag.dag_ids
    (error,) = bag.import_errors.values()
    assert (
        "TogetherBatchOperator 'submit': poll_interval must be a number of seconds >= 5 s, got 0.5" in error
    )


def test_the_opt_out_lowers_the_floor_and_must_itself_be_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_POLL_INTERVAL_ENV, "0.05")
    assert TogetherBatchOperator(task_id="s", input_path="x", poll_interval=0.05).poll_interval == 0.05
    with pytest.raises(ValueError, match=r">= 0\.05 s, got 0\.01"):
        TogetherBatchOperator(task_id="s", input_path="x", poll_interval=0.01)
    for raw in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv(MIN_POLL_INTERVAL_ENV, raw)
        with pytest.raises(ValueError, match=f"{MIN_POLL_INTERVAL_ENV}='{raw}' must be a positive number"):
            TogetherBatchOperator(task_id="s", input_path="x", poll_interval=30)


@pytest.mark.usefixtures("default_floor")
@pytest.mark.parametrize("value", [0, -1, math.nan, "30"], ids=repr)
def test_trigger_refuses_non_positive_intervals_but_keeps_no_floor(value: Any) -> None:
    expected = "TogetherBatchTrigger: poll_interval must be a number of seconds > 0 s"
    with pytest.raises(ValueError, match=expected):
        TogetherBatchTrigger(batch_ids=["b"], poll_interval=value)
    # Re-created from stored kwargs in a triggerer: a value its operator accepted must never fail here.
    assert TogetherBatchTrigger(batch_ids=["b"], poll_interval=0.01).poll_interval == 0.01


@pytest.mark.usefixtures("default_floor")
@pytest.mark.parametrize(
    ("raw", "shown"),
    [("0", "0.0"), ("1", "1.0"), (2, "2"), ("soon", "'soon'"), ("nan", "nan"), ([30], "[30]")],
)
@pytest.mark.parametrize("vendor", VENDORS)
def test_connection_extra_is_checked_when_read(
    monkeypatch: pytest.MonkeyPatch, vendor: str, raw: Any, shown: str
) -> None:
    extra = {"poll_interval": raw}
    conn = {"conn_type": vendor, "password": "k", "host": "http://127.0.0.1:1/v1", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_POLLTEST", json.dumps(conn))
    with pytest.raises(ValueError) as caught:
        TogetherBatchHook("together_polltest").poll_interval()
    assert str(caught.value).startswith(
        f"connection 'together_polltest' extra: poll_interval must be a number of seconds >= 5 s, got {shown}"
    )


@pytest.mark.usefixtures("default_floor")
@pytest.mark.parametrize(("raw", "expected"), [("7", 7.0), (60, 60.0), ("", None), (None, None)])
@pytest.mark.parametrize("vendor", VENDORS)
def test_connection_extra_accepted(
    monkeypatch: pytest.MonkeyPatch, vendor: str, raw: Any, expected: float | None
) -> None:
    extra = {} if raw is None else {"poll_interval": raw}
    conn = {"conn_type": vendor, "password": "k", "host": "http://127.0.0.1:1/v1", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TOGETHER_POLLTEST", json.dumps(conn))
    assert TogetherBatchHook("together_polltest").poll_interval() == expected


@pytest.mark.timeout(60)
def test_bad_extra_refused_before_any_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor_server: Any
) -> None:
    set_connection(monkeypatch, vendor_server, poll_interval=0)
    op = TogetherBatchOperator(task_id="submit", input_path=str(write_input(tmp_path / "in.jsonl", 2)))
    with pytest.raises(ValueError, match="connection 'together_default' extra: poll_interval"):
        op.execute(context())
    assert vendor_server.stats()["uploads"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("given", "expected"), [(None, 7.0), (6, 6.0)])
def test_sensor_polls_at_the_connection_extra_unless_given(
    monkeypatch: pytest.MonkeyPatch,
    vendor_server: Any,
    make_batch: Any,
    given: float | None,
    expected: float,
) -> None:
    monkeypatch.delenv(MIN_POLL_INTERVAL_ENV, raising=False)
    vendor_server.configure(processing_seconds=60)
    set_connection(monkeypatch, vendor_server, poll_interval="7")
    kwargs = {} if given is None else {"poke_interval": given}
    sensor = TogetherBatchSensor(task_id="sensor", batch_id=make_batch(2), deferrable=True, **kwargs)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    assert deferred.value.trigger.poll_interval == expected and sensor.poke_interval == expected
