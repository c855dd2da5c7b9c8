"""Where the results operator gets its manifest: ``manifest``, ``submit_task_id`` or ``batch_ids``."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

PUSHED = {
    "batches": [
        {
            "batch_id": "b-9",
            "part": 1,
            "status": "EXPIRED",
            "input_file_id": "file-9",
            "output_file_id": "file-out",
        }
    ],
    "metadata_manifest": "/tmp/meta.jsonl",
}


class PullingTI:
    """Records what is pulled; answers with ``value``."""

    def __init__(self, value: Any) -> None:
        self.value, self.calls = value, []

    def xcom_pull(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.value


def _op(**kwargs: Any) -> TogetherBatchResultsOperator:
    return TogetherBatchResultsOperator(task_id="results", **kwargs)


def test_submit_task_id_reads_the_manifest_key_of_that_task() -> None:
    ti = PullingTI(PUSHED)
    manifest = _op(submit_task_id="submit")._manifest({"ti": ti})
    assert ti.calls == [{"task_ids": "submit", "key": "manifest"}]
    assert [b.batch_id for b in manifest.batches] == ["b-9"]
    assert manifest.batches[0].output_file_id == "file-out"
    assert manifest.metadata_manifest == "/tmp/meta.jsonl"


def test_submit_task_id_without_a_push_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'submit' pushed no manifest"):
        _op(submit_task_id="submit")._manifest({"ti": PullingTI(None)})


def test_an_explicit_manifest_wins_over_submit_task_id() -> None:
    ti = PullingTI({"batches": []})
    manifest = _op(manifest=PUSHED, submit_task_id="submit")._manifest({"ti": ti})
    assert [b.batch_id for b in manifest.batches] == ["b-9"] and ti.calls == []


def test_no_source_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="submit_task_id"):
        _op()._manifest({"ti": PullingTI(None)})


def test_submit_task_id_is_templated() -> None:
    assert "submit_task_id" in TogetherBatchResultsOperator.template_fields
