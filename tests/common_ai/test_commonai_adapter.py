"""TogetherBatchAdapter method by method, against the local server (the wire, not a fake client).

The cases common.ai checks for its own adapters (custom_id shape, directive placement, limits,
status mapping, both result files, orphan recovery's three conditions) are covered for Together's
semantics, plus what is Together's own: CANCELING, no per-request counts, unreported requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.ai.batch.base import RawResultItem
from airflow.providers.common.ai.batch.output_schema import build_output_spec
from airflow.providers.common.ai.exceptions import (
    LLMBatchInputError,
    LLMBatchLimitExceededError,
    LLMBatchModelMismatchError,
)
from pydantic import BaseModel, Field

from airflow_provider_batch.client import NotFoundError
from airflow_provider_batch.client.models import BatchJob, BatchStatus
from airflow_provider_batch.common_ai import TogetherBatchAdapter
from airflow_provider_batch.common_ai._recovery import identity_for
from airflow_provider_batch.common_ai._results import Expected, iter_batch_results
from airflow_provider_batch.common_ai.adapter import STATUS_MAP

from apb_commonai_helpers import MODEL, wait_for_progress, wait_until_done

KEY = "a1b2c3d4e5f60718"
FP = "f" * 64
TEXT = build_output_spec(str)


class Verdict(BaseModel):
    label: str
    score: int


def _submit(adapter: TogetherBatchAdapter, prompts: list[str], *, key: str = KEY, fp: str = FP,
            spec: Any = TEXT, **kwargs: Any) -> str:  # fmt: skip
    return adapter.submit(
        [{"prompt": p} for p in prompts], model=MODEL, idempotency_key=key, input_fingerprint=fp,
        output_spec=spec, max_tokens=64, **kwargs,
    ).batch_id  # fmt: skip


def _input_lines(adapter: TogetherBatchAdapter, batch_id: str, tmp_path: Path) -> list[dict[str, Any]]:
    job = adapter._client.batches.retrieve(batch_id)
    path = adapter._client.files.content(job.input_file_id, tmp_path / "input.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- submit: the request file ------------------------------------------------------------------


def test_submit_uploads_batch_api_file_with_key_dash_index_custom_ids(
    adapter: TogetherBatchAdapter, together_server: Any, tmp_path: Path
) -> None:
    result = adapter.submit(
        [{"prompt": "a"}, {"prompt": "b", "system_prompt": "own", "max_tokens": 8, "params": {"seed": 3}}],
        model=MODEL, idempotency_key=KEY, input_fingerprint=FP, output_spec=TEXT,
        system_prompt="shared", max_tokens=64, request_params={"temperature": 0.2, "model": "ignored"},
    )  # fmt: skip
    assert result.provider_input_ref == adapter._client.batches.retrieve(result.batch_id).input_file_id
    (upload,) = [f for f in together_server.files() if f["id"] == result.provider_input_ref]
    assert upload["purpose"] == "batch-api"

    first, second = _input_lines(adapter, result.batch_id, tmp_path)
    assert [first["custom_id"], second["custom_id"]] == [f"{KEY}-0", f"{KEY}-1"]
    assert set(first) == {"custom_id", "body"}
    assert first["body"] == {
        "temperature": 0.2, "model": MODEL, "max_tokens": 64,
        "messages": [{"role": "system", "content": "shared"}, {"role": "user", "content": "a"}],
    }  # fmt: skip
    assert second["body"]["messages"][0] == {"role": "system", "content": "own"}
    assert (second["body"]["max_tokens"], second["body"]["seed"]) == (8, 3)


def test_response_format_is_a_json_schema_inside_the_body(
    adapter: TogetherBatchAdapter, tmp_path: Path
) -> None:
    batch_id = _submit(adapter, ["a"], spec=build_output_spec(Verdict))
    (line,) = _input_lines(adapter, batch_id, tmp_path)
    assert "response_format" not in line
    assert line["body"]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Verdict", "schema": Verdict.model_json_schema()},
    }


def test_submit_records_key_and_fingerprint_in_the_ledger(
    adapter: TogetherBatchAdapter, together_ledger: Any
) -> None:
    batch_id = _submit(adapter, ["a", "b"])
    (row,) = together_ledger.records_for(identity_for(KEY))
    assert (row.dag_id, row.task_id, row.run_id) == ("common.ai", "llm_batch", KEY)
    assert (row.part_sha256, row.state, row.batch_id, row.request_count) == (FP, "created", batch_id, 2)


def test_submit_again_reattaches_but_a_failed_batch_is_replaced(
    adapter: TogetherBatchAdapter, together_server: Any
) -> None:
    first = _submit(adapter, ["a"])
    assert _submit(adapter, ["a"]) == first
    assert together_server.stats()["batch_creates"] == 1
    together_server.force_status(first, "FAILED")
    second = _submit(adapter, ["a"])
    assert second != first
    assert together_server.stats()["batch_creates"] == 2


# -- validate_requests ------------------------------------------------------------------------


def _validate(adapter: TogetherBatchAdapter, requests: list[dict[str, Any]], *, key: str = KEY,
              spec: Any = TEXT) -> None:  # fmt: skip
    adapter.validate_requests(requests, model=MODEL, output_spec=spec, idempotency_key=key, max_tokens=64)


def test_valid_requests_pass_without_any_network_call(
    adapter: TogetherBatchAdapter, together_server: Any
) -> None:
    _validate(adapter, [{"prompt": "a"}, {"prompt": "b", "model": f"together:{MODEL}"}])
    assert together_server.stats()["uploads"] == 0


def test_over_the_request_limit_is_refused_with_the_expand_remedy(adapter: TogetherBatchAdapter) -> None:
    adapter.max_requests = 2
    with pytest.raises(LLMBatchLimitExceededError, match=r"at most 2 requests.*\.expand\(\)"):
        _validate(adapter, [{"prompt": "a"}] * 3)


def test_payload_size_counts_the_schema_repeated_in_every_request(adapter: TogetherBatchAdapter) -> None:
    class Big(BaseModel):
        field: str = Field(description="x" * 5000)

    adapter.max_payload_bytes = 4000
    with pytest.raises(LLMBatchLimitExceededError, match=r"schema adds ~\d+ bytes.*file_too_large"):
        _validate(adapter, [{"prompt": "a"}], spec=build_output_spec(Big))


def test_over_long_custom_id_is_refused(adapter: TogetherBatchAdapter) -> None:
    with pytest.raises(LLMBatchLimitExceededError, match="custom_id"):
        _validate(adapter, [{"prompt": "a"}] * 10_000, key="k" * 60)


def test_per_request_model_of_another_provider_is_refused(adapter: TogetherBatchAdapter) -> None:
    with pytest.raises(LLMBatchModelMismatchError, match="Request 1"):
        _validate(adapter, [{"prompt": "a"}, {"prompt": "b", "model": "openai:gpt-5"}])


def test_a_per_request_model_without_a_prefix_is_refused(adapter: TogetherBatchAdapter) -> None:
    with pytest.raises(LLMBatchModelMismatchError, match="'together:<model>'"):
        _validate(adapter, [{"prompt": "a", "model": MODEL}])


def test_a_per_request_together_model_is_sent_bare(adapter: TogetherBatchAdapter, tmp_path: Path) -> None:
    other = "Qwen/Qwen2.5-7B-Instruct-Turbo"
    result = adapter.submit(
        [{"prompt": "a"}, {"prompt": "b", "model": f"together:{other}"}],
        model=MODEL, idempotency_key=KEY, input_fingerprint=FP, output_spec=TEXT,
    )  # fmt: skip
    lines = _input_lines(adapter, result.batch_id, tmp_path)
    assert [line["body"]["model"] for line in lines] == [MODEL, other]


def test_a_line_rule_from_our_validator_is_an_input_error(
    adapter: TogetherBatchAdapter, together_server: Any
) -> None:
    with pytest.raises(LLMBatchInputError, match="max_tokens_invalid") as raised:
        _validate(adapter, [{"prompt": "a", "max_tokens": -5}])
    assert not isinstance(raised.value, LLMBatchLimitExceededError)
    assert together_server.stats()["uploads"] == 0


def test_a_ledger_this_deployment_cannot_use_fails_validation(
    together_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_batch.ledger import LedgerUnavailableError

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")  # workers share no local file
    adapter = TogetherBatchAdapter(api_key=together_server.api_key, base_url=together_server.base_url)
    with pytest.raises(LedgerUnavailableError, match="ledger_conn_id"):
        _validate(adapter, [{"prompt": "a"}])
    adapter.close()


# -- get_batch / cancel_batch -----------------------------------------------------------------


def test_every_together_status_has_a_common_ai_status() -> None:
    assert set(STATUS_MAP) == set(BatchStatus)
    running = {s for s, mapped in STATUS_MAP.items() if mapped == "in_progress"}
    assert running == {
        BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS, BatchStatus.CANCELING, BatchStatus.UNKNOWN
    }  # fmt: skip


def test_completed_batch_maps_to_completed_without_counts(adapter: TogetherBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    assert wait_until_done(adapter, batch_id) == "completed"
    state = adapter.get_batch(batch_id)
    assert (state.counts, state.error_message) == (None, None)


def test_failed_batch_carries_the_error_text(adapter: TogetherBatchAdapter, together_server: Any) -> None:
    together_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a"])
    together_server.force_status(batch_id, "FAILED")
    state = adapter.get_batch(batch_id)
    assert state.status == "failed" and state.error_message


def test_an_unknown_status_keeps_polling() -> None:
    job = BatchJob.from_wire({"id": "b-1", "status": "PAUSED"})
    client = SimpleNamespace(batches=SimpleNamespace(retrieve=lambda batch_id: job), close=lambda: None)
    state = TogetherBatchAdapter(client=client).get_batch("b-1")
    assert state.status == "in_progress"


def test_cancel_is_canceling_then_cancelled(adapter: TogetherBatchAdapter, together_server: Any) -> None:
    together_server.configure(processing_seconds=30, cancel_seconds=0.5)
    batch_id = _submit(adapter, ["a", "b"])
    adapter.cancel_batch(batch_id)
    assert adapter._client.batches.retrieve(batch_id).status is BatchStatus.CANCELING
    assert adapter.get_batch(batch_id).status == "in_progress"
    assert wait_until_done(adapter, batch_id) == "cancelled"


# -- iter_results / extract_output ------------------------------------------------------------


def test_output_and_error_lines_each_come_once(adapter: TogetherBatchAdapter) -> None:
    batch_id = _submit(adapter, ["hello", "[[fail:server_error]] boom", "world"])
    wait_until_done(adapter, batch_id)
    items = sorted(adapter.iter_results(batch_id), key=lambda item: item.index)
    assert [(i.index, i.custom_id, i.provider_status) for i in items] == [
        (0, f"{KEY}-0", "success"), (1, f"{KEY}-1", "errored"), (2, f"{KEY}-2", "success"),
    ]  # fmt: skip
    ok, failed = items[0], items[1]
    assert ok.raw and ok.model == MODEL and ok.finish_reason == "stop"
    assert ok.usage is not None and ok.usage["input_tokens"] > 0 and ok.usage["output_tokens"] > 0
    assert failed.error is not None
    assert (failed.error["provider_code"], failed.error["stage"]) == ("server_error", "provider")


def test_an_expired_batch_yields_its_unrun_requests_as_expired(
    adapter: TogetherBatchAdapter, together_server: Any
) -> None:
    together_server.configure(processing_seconds=4)
    batch_id = _submit(adapter, ["a", "b", "c", "d"])
    wait_for_progress(together_server, batch_id, 40)
    together_server.force_status(batch_id, "EXPIRED")
    assert wait_until_done(adapter, batch_id) == "expired"
    items = list(adapter.iter_results(batch_id))
    assert sorted(i.index for i in items) == [0, 1, 2, 3]
    statuses = [i.provider_status for i in items]
    assert "success" in statuses and "expired" in statuses and set(statuses) == {"success", "expired"}


def test_a_cancelled_batch_yields_every_request_as_cancelled(
    adapter: TogetherBatchAdapter, together_server: Any
) -> None:
    together_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a", "b"])
    together_server.force_status(batch_id, "CANCELLED")
    items = list(adapter.iter_results(batch_id))
    assert sorted((i.index, i.provider_status) for i in items) == [(0, "cancelled"), (1, "cancelled")]


def test_without_a_ledger_row_the_input_file_names_the_requests(
    adapter: TogetherBatchAdapter, together_server: Any, tmp_path: Path
) -> None:
    from airflow_provider_batch.ledger import sqlite_ledger

    together_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a", "b", "c"])
    together_server.force_status(batch_id, "CANCELLED")
    other = TogetherBatchAdapter(client=adapter._client, ledger=sqlite_ledger(str(tmp_path / "empty.db")))
    assert sorted(i.custom_id for i in other.iter_results(batch_id)) == [f"{KEY}-{n}" for n in range(3)]


def test_a_finished_batch_missing_a_line_yields_it_as_errored(adapter: TogetherBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    wait_until_done(adapter, batch_id)
    job = adapter._client.batches.retrieve(batch_id)
    items = list(iter_batch_results(adapter._client, job, Expected(KEY, 2)))
    assert [(i.index, i.provider_status) for i in items] == [(0, "success"), (1, "errored")]
    assert items[1].error is not None and items[1].error["type"] == "missing_result"


def test_a_line_of_another_key_is_out_of_range_not_a_request(adapter: TogetherBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a", "b"])
    wait_until_done(adapter, batch_id)
    job = adapter._client.batches.retrieve(batch_id)
    items = list(iter_batch_results(adapter._client, job, Expected("0000000000000000", 2)))
    assert sorted(i.index for i in items) == [-1, -1, 0, 1]  # two foreign lines, two unreported
    assert {i.provider_status for i in items if i.index >= 0} == {"errored"}


def test_an_unknown_batch_raises_before_iteration(adapter: TogetherBatchAdapter) -> None:
    with pytest.raises(NotFoundError):
        adapter.iter_results("no-such-batch")


@pytest.mark.parametrize(
    ("raw", "spec", "kind"),
    [("hello", TEXT, "text"), ('{"label": "x", "score": 1}', build_output_spec(Verdict), "json_text"),
     (None, TEXT, "absent")],
)  # fmt: skip
def test_extract_output(adapter: TogetherBatchAdapter, raw: str | None, spec: Any, kind: str) -> None:
    item = RawResultItem(f"{KEY}-0", 0, "success", MODEL, None, "stop", None, raw)
    extracted = adapter.extract_output(item, spec)
    assert (extracted.kind, extracted.text) == (kind, raw)


# -- find_orphaned_batch ----------------------------------------------------------------------

EPOCH = "1970-01-01T00:00:00+00:00"


def test_orphan_recovery_finds_the_submitted_batch(adapter: TogetherBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == batch_id


def test_orphan_recovery_finds_nothing_without_a_record(adapter: TogetherBatchAdapter) -> None:
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_another_task_instances_batch_is_never_returned(adapter: TogetherBatchAdapter) -> None:
    _submit(adapter, ["a"], key="0000000000000000")
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_a_fingerprint_mismatch_is_not_recovered(adapter: TogetherBatchAdapter) -> None:
    _submit(adapter, ["a"], fp="e" * 64)
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_a_batch_recorded_before_not_before_is_not_recovered(adapter: TogetherBatchAdapter) -> None:
    _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, "2999-01-01T00:00:00+00:00") is None


def test_the_newest_matching_batch_wins(adapter: TogetherBatchAdapter, together_server: Any) -> None:
    first = _submit(adapter, ["a"])
    together_server.force_status(first, "FAILED")
    second = _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == second != first


def test_a_create_interrupted_before_it_was_recorded_is_bound_and_returned(
    adapter: TogetherBatchAdapter, together_ledger: Any, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a"}], "max_tokens": 8}
    path.write_text(json.dumps({"custom_id": f"{KEY}-0", "body": body}) + "\n")
    row = together_ledger.open(identity_for(KEY), part_index=0, part_sha256=FP, generation=1, request_count=1,
                               endpoint="/v1/chat/completions", together_conn_id="common.ai")  # fmt: skip
    uploaded = adapter._client.files.upload(path)
    row = together_ledger.mark_creating(together_ledger.record_upload(row, uploaded.id))
    made = adapter._client.batches.create(uploaded.id).job  # the worker dies before recording it
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == made.id
    (bound,) = together_ledger.records_for(identity_for(KEY))
    assert (bound.state, bound.batch_id) == ("created", made.id)


def test_close_closes_the_client() -> None:
    closed: list[bool] = []
    adapter = TogetherBatchAdapter(client=SimpleNamespace(close=lambda: closed.append(True)))
    adapter.close()
    assert closed == [True]
