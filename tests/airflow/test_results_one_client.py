"""The results task opens one hook, one vendor client and one ledger for all its steps: the
first load, a follow-up round waited for on the worker, and the deletion of the inputs. Counted
at the hook and at the ledger's factory, against the local server of each vendor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_batch.ledger.location as hooks_ledger
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

from apb_airflow_helpers import DictStateStore, FakeTI, context, write_input

pytestmark = [pytest.mark.usefixtures("vendor_conn"), pytest.mark.timeout(90)]


def _counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, counts: dict[str, int]) -> None:
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts[name] = counts.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)


def test_one_hook_one_client_and_one_ledger_per_results_task(
    tmp_path: Path, vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_input(tmp_path / "in.jsonl", 3, tag=" [[fail-once:server_overloaded]]")
    submit = TogetherBatchOperator(
        task_id="submit", input_path=str(path), deferrable=False, poll_interval=0.05
    )
    manifest = submit.execute(context(FakeTI(), DictStateStore()))
    warehouse = {"conn_type": "sqlite", "host": str(tmp_path / "wh.db")}
    monkeypatch.setenv("AIRFLOW_CONN_APB_ONE_CLIENT_WH", json.dumps(warehouse))
    results = TogetherBatchResultsOperator(
        task_id="results", manifest=manifest, warehouse_conn_id="apb_one_client_wh", follow_up_rounds=1,
        deferrable=False, poll_interval=0.05, delete_input_files=True, outlets=[],
    )  # fmt: skip

    counts: dict[str, int] = {}
    _counted(monkeypatch, TogetherBatchHook, "__init__", counts)
    _counted(monkeypatch, TogetherBatchHook, "get_conn", counts)
    _counted(monkeypatch, hooks_ledger, "get_ledger", counts)
    result = results.execute(context(FakeTI(task_id="results"), DictStateStore()))

    assert result["counts"]["succeeded"] == 3 and result["follow_up_rounds"] == 1
    # Anthropic has no input files: the results task removes only the body it staged itself
    # for the follow-up (the submit's was staged by another client)
    inputs = 1 if vendor_server.vendor == "anthropic" else 2
    assert len(result["follow_up_batch_ids"]) == 1 and result["deleted_input_files"] == inputs
    assert counts == {"__init__": 1, "get_conn": 1, "get_ledger": 1}
