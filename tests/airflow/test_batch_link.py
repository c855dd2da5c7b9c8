"""TogetherBatchLink: URL from the connection template or derived from the base URL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_batch.links import TogetherBatchLink
from airflow_provider_batch.operators.batch import TogetherBatchOperator


class _Key:
    dag_id, task_id, run_id, map_index = "d", "submit", "r", -1


@pytest.fixture
def xcom_value(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What BaseXCom.get_value answers (the dag.test() tests read the real XCom table)."""
    values: dict[str, Any] = {}
    from airflow_provider_batch._compat import BaseXCom

    monkeypatch.setattr(BaseXCom, "get_value", classmethod(lambda cls, *, ti_key, key: values.get(key)))
    return values


def _op(conn_id: str) -> TogetherBatchOperator:
    return TogetherBatchOperator(task_id="submit", input_path="x.jsonl", together_conn_id=conn_id)


def test_link_from_template(monkeypatch: pytest.MonkeyPatch, xcom_value: dict[str, Any]) -> None:
    extra = {"console_url_template": "https://console.example/jobs/{batch_id}?tab=1"}
    conn = {"conn_type": "together", "password": "k", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LINKED", json.dumps(conn))
    xcom_value["batch_id"] = "b-42"
    url = TogetherBatchLink().get_link(_op("linked"), ti_key=_Key())
    assert url == "https://console.example/jobs/b-42?tab=1"


def test_link_derived_from_the_public_api(
    monkeypatch: pytest.MonkeyPatch, xcom_value: dict[str, Any]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PUBLIC", json.dumps({"conn_type": "together", "password": "k"}))
    xcom_value["batch_id"] = "b-42"
    assert (
        TogetherBatchLink().get_link(_op("public"), ti_key=_Key()) == "https://api.together.ai/batches/b-42"
    )


def test_no_batch_yet_no_link(xcom_value: dict[str, Any]) -> None:
    assert TogetherBatchLink().get_link(_op("public"), ti_key=_Key()) == ""
    assert TogetherBatchLink().name == "Together batch"


def test_page_link_opens_the_page_filtered_to_the_task_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_batch.links import TogetherBatchesPageLink

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example/af")
    key = _Key()
    key.map_index = 3  # type: ignore[misc]
    url = TogetherBatchesPageLink().get_link(_op("public"), ti_key=key)
    assert url == (
        "https://airflow.example/af/together-batches/page?dag_id=d&run_id=r&task_id=submit&map_index=3"
    )
    names = [link.name for link in TogetherBatchOperator.operator_extra_links]
    assert names == ["Together batch", "Together batches"]
