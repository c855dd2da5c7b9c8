"""The common.ai adapter method by method, against the local server (the wire, not a fake client).

Every test with an ``adapter`` runs once per registered vendor (``vendor_server``: Together, OpenAI,
Anthropic); the cases that do not apply to a vendor are in tests/vendors/<name>/not_applicable.py.
The cases common.ai checks for its own adapters (custom_id shape, directive placement, limits,
status mapping, both result files, orphan recovery's three conditions) are covered, plus what the
vendors differ in: the request shape of the endpoint, CANCELING, requests that never ran (no line on
Together, an error line on OpenAI and Anthropic), and the search for an interrupted create.
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
from airflow_provider_batch.common_ai import TogetherBatchAdapter, VendorBatchAdapter, adapter_for
from airflow_provider_batch.common_ai._recovery import identity_for
from airflow_provider_batch.common_ai._results import Expected, iter_batch_results
from airflow_provider_batch.common_ai.adapter import STATUS_MAP
from airflow_provider_batch.endpoints import CHAT_COMPLETIONS, MESSAGES
from airflow_provider_batch.ledger import LedgerConflictError
from airflow_provider_batch.vendors import VENDORS, vendor_named

from apb_commonai_helpers import MODEL, wait_for_progress, wait_until_done

KEY = "a1b2c3d4e5f60718"
FP = "f" * 64
TEXT = build_output_spec(str)


class Verdict(BaseModel):
    label: str
    score: int


def _submit(adapter: VendorBatchAdapter, prompts: list[str], *, key: str = KEY, fp: str = FP,
            spec: Any = TEXT, **kwargs: Any) -> str:  # fmt: skip
    return adapter.submit(
        [{"prompt": p} for p in prompts], model=MODEL, idempotency_key=key, input_fingerprint=fp,
        output_spec=spec, max_tokens=64, **kwargs,
    ).batch_id  # fmt: skip


def _input_lines(server: Any, batch_id: str) -> list[dict[str, Any]]:
    """The requests the server received for a batch, as ``{custom_id, body}`` (OpenAI's ``method``
    and ``url`` left out; Anthropic's ``params`` are the body), read from the server's own store."""
    store = server.controller.store
    record = store.get_batch(batch_id)
    assert record is not None
    source = store.get_file(record.input_file_id)
    assert source is not None
    lines = [json.loads(line) for line in source.path.read_text().splitlines() if line.strip()]
    return [{"custom_id": line["custom_id"], "body": line.get("body", line.get("params"))} for line in lines]


#: The first request of test_submit_uploads_..., per endpoint: the system prompt is a message on
#: chat completions and a field of its own on Messages.
_FIRST_BODY = {
    CHAT_COMPLETIONS: {
        "temperature": 0.2, "model": MODEL, "max_tokens": 64,
        "messages": [{"role": "system", "content": "shared"}, {"role": "user", "content": "a"}],
    },
    MESSAGES: {
        "temperature": 0.2, "model": MODEL, "max_tokens": 64, "system": "shared",
        "messages": [{"role": "user", "content": "a"}],
    },
}  # fmt: skip


# -- submit: the request file ------------------------------------------------------------------


def test_submit_sends_the_endpoints_bodies_with_key_dash_index_custom_ids(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    result = adapter.submit(
        [{"prompt": "a"}, {"prompt": "b", "system_prompt": "own", "max_tokens": 8, "params": {"seed": 3}}],
        model=MODEL, idempotency_key=KEY, input_fingerprint=FP, output_spec=TEXT,
        system_prompt="shared", max_tokens=64,
        request_params={"temperature": 0.2, "model": "ignored", "messages": []},
    )  # fmt: skip
    assert result.provider_input_ref == adapter._client.batches.retrieve(result.batch_id).input_file_id
    vendor = adapter.vendor
    if not vendor.input_staged_locally:  # Anthropic's requests go inline in the create
        (upload,) = [f for f in vendor_server.files() if f["id"] == result.provider_input_ref]
        assert upload["purpose"] == vendor.upload_purpose

    first, second = _input_lines(vendor_server, result.batch_id)
    assert [first["custom_id"], second["custom_id"]] == [f"{KEY}-0", f"{KEY}-1"]
    assert first["body"] == _FIRST_BODY[adapter.endpoint]
    own_system = second["body"].get("system") or second["body"]["messages"][0]["content"]
    assert own_system == "own"
    assert (second["body"]["max_tokens"], second["body"]["seed"]) == (8, 3)


def test_anthropic_bodies_carry_max_tokens_and_the_system_field() -> None:
    """Messages requires ``max_tokens`` and refuses a ``system`` message: the default cap applies."""
    from airflow_provider_batch.common_ai._requests import LineBuilder

    builder = LineBuilder(
        lambda *a, **k: MODEL, endpoint=MESSAGES, model=MODEL, directive={}, system_prompt="s"
    )
    body = builder.body({"prompt": "p"}, 0)
    assert body == {"model": MODEL, "system": "s", "messages": [{"role": "user", "content": "p"}],
                    "max_tokens": 1024}  # fmt: skip


#: Structured output per endpoint: chat's ``response_format``, Messages' ``output_config.format``.
_DIRECTIVE = {
    CHAT_COMPLETIONS: {"response_format": {
        "type": "json_schema", "json_schema": {"name": "Verdict", "schema": Verdict.model_json_schema()},
    }},
    MESSAGES: {"output_config": {"format": {"type": "json_schema", "schema": Verdict.model_json_schema()}}},
}  # fmt: skip


def test_the_structured_output_directive_is_inside_the_body(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    batch_id = _submit(adapter, ["a"], spec=build_output_spec(Verdict))
    (line,) = _input_lines(vendor_server, batch_id)
    ((field, value),) = _DIRECTIVE[adapter.endpoint].items()
    assert line["body"][field] == value
    assert wait_until_done(adapter, batch_id) == "completed"
    (item,) = adapter.iter_results(batch_id)
    assert item.provider_status == "success" and item.raw


def test_submit_records_key_and_fingerprint_in_the_ledger(
    adapter: VendorBatchAdapter, together_ledger: Any
) -> None:
    batch_id = _submit(adapter, ["a", "b"])
    (row,) = together_ledger.records_for(identity_for(KEY))
    assert (row.dag_id, row.task_id, row.run_id) == ("common.ai", "llm_batch", KEY)
    assert (row.part_sha256, row.state, row.batch_id, row.request_count) == (FP, "created", batch_id, 2)


def test_submit_again_reattaches_but_a_failed_batch_is_replaced(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    first = _submit(adapter, ["a"])
    assert _submit(adapter, ["a"]) == first
    assert vendor_server.stats()["batch_creates"] == 1
    vendor_server.force_status(first, "FAILED")
    second = _submit(adapter, ["a"])
    assert second != first
    assert vendor_server.stats()["batch_creates"] == 2


# -- validate_requests ------------------------------------------------------------------------


def _validate(adapter: VendorBatchAdapter, requests: list[dict[str, Any]], *, key: str = KEY,
              spec: Any = TEXT) -> None:  # fmt: skip
    adapter.validate_requests(requests, model=MODEL, output_spec=spec, idempotency_key=key, max_tokens=64)


def test_valid_requests_pass_without_any_network_call(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    _validate(adapter, [{"prompt": "a"}, {"prompt": "b", "model": f"{adapter.name}:{MODEL}"}])
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (0, 0)


def test_over_the_request_limit_is_refused_with_the_expand_remedy(adapter: VendorBatchAdapter) -> None:
    adapter.max_requests = 2
    with pytest.raises(LLMBatchLimitExceededError, match=r"at most 2 requests.*\.expand\(\)"):
        _validate(adapter, [{"prompt": "a"}] * 3)


def test_payload_size_counts_the_schema_repeated_in_every_request(adapter: VendorBatchAdapter) -> None:
    class Big(BaseModel):
        field: str = Field(description="x" * 5000)

    adapter.max_payload_bytes = 4000
    with pytest.raises(LLMBatchLimitExceededError, match=r"schema adds ~\d+ bytes.*file_too_large"):
        _validate(adapter, [{"prompt": "a"}], spec=build_output_spec(Big))


def test_over_long_custom_id_is_refused(adapter: VendorBatchAdapter) -> None:
    key = "k" * (adapter.limits.max_custom_id_len - 4)  # "-9999" makes it one too long
    with pytest.raises(LLMBatchLimitExceededError, match="custom_id"):
        _validate(adapter, [{"prompt": "a"}] * 10_000, key=key)


def test_a_key_outside_the_vendors_custom_id_pattern_is_refused_before_any_call(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    pattern = adapter.limits.custom_id_pattern
    if pattern is None:
        _validate(adapter, [{"prompt": "a"}], key="key.with.dots")  # any custom_id is taken
    else:
        with pytest.raises(LLMBatchInputError, match="custom_id"):
            _validate(adapter, [{"prompt": "a"}], key="key.with.dots")
    assert vendor_server.stats()["batch_creates"] == 0


def test_per_request_model_of_another_provider_is_refused(adapter: VendorBatchAdapter) -> None:
    with pytest.raises(LLMBatchModelMismatchError, match="Request 1"):
        _validate(adapter, [{"prompt": "a"}, {"prompt": "b", "model": "vertex:gemini-2.5-pro"}])


def test_a_per_request_model_without_a_prefix_is_refused(adapter: VendorBatchAdapter) -> None:
    with pytest.raises(LLMBatchModelMismatchError, match=f"'{adapter.name}:<model>'"):
        _validate(adapter, [{"prompt": "a", "model": MODEL}])


def test_a_per_request_model_is_sent_bare(adapter: VendorBatchAdapter, vendor_server: Any) -> None:
    other = "Qwen/Qwen2.5-7B-Instruct-Turbo"
    result = adapter.submit(
        [{"prompt": "a"}, {"prompt": "b", "model": f"{adapter.name}:{other}"}],
        model=MODEL, idempotency_key=KEY, input_fingerprint=FP, output_spec=TEXT,
    )  # fmt: skip
    lines = _input_lines(vendor_server, result.batch_id)
    assert [line["body"]["model"] for line in lines] == [MODEL, other]


def test_a_line_rule_from_our_validator_is_an_input_error(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    with pytest.raises(LLMBatchInputError, match="max_tokens_invalid") as raised:
        _validate(adapter, [{"prompt": "a", "max_tokens": -5}])
    assert not isinstance(raised.value, LLMBatchLimitExceededError)
    assert vendor_server.stats()["uploads"] == 0


def test_a_ledger_this_deployment_cannot_use_fails_validation(
    vendor_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_batch.ledger import LedgerUnavailableError

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")  # workers share no local file
    adapter = adapter_for(vendor_server.vendor)(
        api_key=vendor_server.api_key, base_url=vendor_server.base_url
    )
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


def test_completed_batch_maps_to_completed_without_counts(adapter: VendorBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    assert wait_until_done(adapter, batch_id) == "completed"
    state = adapter.get_batch(batch_id)
    assert (state.counts, state.error_message) == (None, None)


def test_failed_batch_carries_the_error_text(adapter: VendorBatchAdapter, vendor_server: Any) -> None:
    vendor_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a"])
    vendor_server.force_status(batch_id, "FAILED")
    state = adapter.get_batch(batch_id)
    assert state.status == "failed" and state.error_message


def test_an_unknown_status_keeps_polling() -> None:
    job = BatchJob.from_wire({"id": "b-1", "status": "PAUSED"})
    client = SimpleNamespace(batches=SimpleNamespace(retrieve=lambda batch_id: job), close=lambda: None)
    state = TogetherBatchAdapter(client=client).get_batch("b-1")
    assert state.status == "in_progress"


def test_cancel_is_canceling_then_cancelled(adapter: VendorBatchAdapter, vendor_server: Any) -> None:
    vendor_server.configure(processing_seconds=30, cancel_seconds=0.5)
    batch_id = _submit(adapter, ["a", "b"])
    adapter.cancel_batch(batch_id)
    assert adapter._client.batches.retrieve(batch_id).status is BatchStatus.CANCELING
    assert adapter.get_batch(batch_id).status == "in_progress"
    assert wait_until_done(adapter, batch_id) == "cancelled"


# -- iter_results / extract_output ------------------------------------------------------------


#: A finished answer's ending, in the endpoint's own words (common.ai passes it on as it is).
_STOP = {CHAT_COMPLETIONS: "stop", MESSAGES: "end_turn"}
#: A server error of one request, as the endpoint's wire names it.
_SERVER_ERROR = {CHAT_COMPLETIONS: "server_error", MESSAGES: "api_error"}


def test_output_and_error_lines_each_come_once(adapter: VendorBatchAdapter) -> None:
    batch_id = _submit(adapter, ["hello", "[[fail:server_error]] boom", "world"])
    wait_until_done(adapter, batch_id)
    items = sorted(adapter.iter_results(batch_id), key=lambda item: item.index)
    assert [(i.index, i.custom_id, i.provider_status) for i in items] == [
        (0, f"{KEY}-0", "success"), (1, f"{KEY}-1", "errored"), (2, f"{KEY}-2", "success"),
    ]  # fmt: skip
    ok, failed = items[0], items[1]
    assert ok.raw and ok.model == MODEL and ok.finish_reason == _STOP[adapter.endpoint]
    assert ok.usage is not None and ok.usage["input_tokens"] > 0 and ok.usage["output_tokens"] > 0
    assert failed.error is not None
    assert (failed.error["provider_code"], failed.error["stage"]) == (
        _SERVER_ERROR[adapter.endpoint],
        "provider",
    )


def test_an_expired_batch_yields_its_unrun_requests_as_expired(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    vendor_server.configure(processing_seconds=4)
    batch_id = _submit(adapter, ["a", "b", "c", "d"])
    wait_for_progress(vendor_server, batch_id, 40)
    vendor_server.force_status(batch_id, "EXPIRED")
    assert wait_until_done(adapter, batch_id) == "expired"
    items = list(adapter.iter_results(batch_id))
    assert sorted(i.index for i in items) == [0, 1, 2, 3]
    statuses = [i.provider_status for i in items]
    assert "success" in statuses and "expired" in statuses and set(statuses) == {"success", "expired"}


def test_a_cancelled_batch_yields_every_request_as_cancelled(
    adapter: VendorBatchAdapter, vendor_server: Any
) -> None:
    vendor_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a", "b"])
    vendor_server.force_status(batch_id, "CANCELLED")
    items = list(adapter.iter_results(batch_id))
    assert sorted((i.index, i.provider_status) for i in items) == [(0, "cancelled"), (1, "cancelled")]


def test_without_a_ledger_row_the_input_file_names_the_requests(
    adapter: VendorBatchAdapter, vendor_server: Any, tmp_path: Path
) -> None:
    from airflow_provider_batch.ledger import sqlite_ledger

    vendor_server.configure(processing_seconds=30)
    batch_id = _submit(adapter, ["a", "b", "c"])
    vendor_server.force_status(batch_id, "CANCELLED")
    other = type(adapter)(client=adapter._client, ledger=sqlite_ledger(str(tmp_path / "empty.db")))
    assert sorted(i.custom_id for i in other.iter_results(batch_id)) == [f"{KEY}-{n}" for n in range(3)]


def test_a_finished_batch_missing_a_line_yields_it_as_errored(adapter: VendorBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    wait_until_done(adapter, batch_id)
    job = adapter._client.batches.retrieve(batch_id)
    items = list(iter_batch_results(adapter._client, job, Expected(KEY, 2), vendor=adapter.vendor,
                                    endpoint=adapter.endpoint))  # fmt: skip
    assert [(i.index, i.provider_status) for i in items] == [(0, "success"), (1, "errored")]
    assert items[1].error is not None and items[1].error["type"] == "missing_result"


def test_a_line_of_another_key_is_out_of_range_not_a_request(adapter: VendorBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a", "b"])
    wait_until_done(adapter, batch_id)
    job = adapter._client.batches.retrieve(batch_id)
    items = list(iter_batch_results(adapter._client, job, Expected("0000000000000000", 2),
                                    vendor=adapter.vendor, endpoint=adapter.endpoint))  # fmt: skip
    assert sorted(i.index for i in items) == [-1, -1, 0, 1]  # two foreign lines, two unreported
    assert {i.provider_status for i in items if i.index >= 0} == {"errored"}


def test_an_unknown_batch_raises_before_iteration(adapter: VendorBatchAdapter) -> None:
    with pytest.raises(NotFoundError):
        adapter.iter_results("no-such-batch")


@pytest.mark.parametrize(
    ("raw", "spec", "kind"),
    [("hello", TEXT, "text"), ('{"label": "x", "score": 1}', build_output_spec(Verdict), "json_text"),
     (None, TEXT, "absent")],
)  # fmt: skip
def test_extract_output(adapter: VendorBatchAdapter, raw: str | None, spec: Any, kind: str) -> None:
    item = RawResultItem(f"{KEY}-0", 0, "success", MODEL, None, "stop", None, raw)
    extracted = adapter.extract_output(item, spec)
    assert (extracted.kind, extracted.text) == (kind, raw)


# -- find_orphaned_batch ----------------------------------------------------------------------

EPOCH = "1970-01-01T00:00:00+00:00"


def test_orphan_recovery_finds_the_submitted_batch(adapter: VendorBatchAdapter) -> None:
    batch_id = _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == batch_id


def test_orphan_recovery_finds_nothing_without_a_record(adapter: VendorBatchAdapter) -> None:
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_another_task_instances_batch_is_never_returned(adapter: VendorBatchAdapter) -> None:
    _submit(adapter, ["a"], key="0000000000000000")
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_a_fingerprint_mismatch_is_not_recovered(adapter: VendorBatchAdapter) -> None:
    _submit(adapter, ["a"], fp="e" * 64)
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) is None


def test_a_batch_recorded_before_not_before_is_not_recovered(adapter: VendorBatchAdapter) -> None:
    _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, "2999-01-01T00:00:00+00:00") is None


def test_the_newest_matching_batch_wins(adapter: VendorBatchAdapter, vendor_server: Any) -> None:
    first = _submit(adapter, ["a"])
    vendor_server.force_status(first, "FAILED")
    second = _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == second != first


def test_an_expired_batch_is_replaced_by_the_newest(adapter: VendorBatchAdapter, vendor_server: Any) -> None:
    vendor_server.configure(processing_seconds=30)
    first = _submit(adapter, ["a"])
    vendor_server.force_status(first, "EXPIRED")
    assert wait_until_done(adapter, first) == "expired"
    second = _submit(adapter, ["a"])
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == second != first
    assert vendor_server.stats()["batch_creates"] == 2


def _interrupted_create(adapter: VendorBatchAdapter, ledger: Any, tmp_path: Path, key: str, *,
                        made: bool = True) -> Any:  # fmt: skip
    """A submit of ``key`` that dies after the ledger marked the create: the create reached the
    vendor (``made``) or not. Returns the batch it made, or ``None``."""
    vendor = adapter.vendor
    path = tmp_path / f"{key}.jsonl"
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a"}], "max_tokens": 8}
    path.write_text(json.dumps({"custom_id": f"{key}-0", "body": body}) + "\n")
    row = ledger.open(
        identity_for(key), part_index=0, part_sha256=FP, generation=1, request_count=1,
        endpoint=adapter.endpoint, together_conn_id="common.ai", vendor=vendor.name,
    )  # fmt: skip
    wire = vendor.wire_input(path, adapter.endpoint)
    uploaded = vendor.upload_input(adapter._client, wire, filename=path.name, on_file_id=lambda _: None)
    row = ledger.mark_creating(ledger.record_upload(row, uploaded.id))
    if not made:
        return None
    return adapter._client.batches.create(uploaded.id, adapter.endpoint).job  # the worker dies here


def test_a_create_interrupted_before_it_was_recorded_is_bound_and_returned(
    adapter: VendorBatchAdapter, together_ledger: Any, tmp_path: Path
) -> None:
    made = _interrupted_create(adapter, together_ledger, tmp_path, KEY)
    assert adapter.find_orphaned_batch(KEY, FP, EPOCH) == made.id
    (bound,) = together_ledger.records_for(identity_for(KEY))
    assert (bound.state, bound.batch_id) == ("created", made.id)


def test_another_runs_interrupted_create_is_never_adopted(
    adapter: VendorBatchAdapter, together_ledger: Any, vendor_server: Any, tmp_path: Path
) -> None:
    """Two interrupted creates; only the other one reached the vendor. Its batch is never this
    key's: the vendors that search by input file or metadata find none, the one that cannot search
    (the ledger decides) sees a rival ``creating`` row and refuses to guess."""
    theirs = _interrupted_create(adapter, together_ledger, tmp_path, "0000000000000000")
    _interrupted_create(adapter, together_ledger, tmp_path, KEY, made=False)
    try:
        found = adapter.find_orphaned_batch(KEY, FP, EPOCH)
    except LedgerConflictError as refused:
        assert theirs.id in str(refused)
    else:
        assert found is None
    (mine,) = together_ledger.records_for(identity_for(KEY))
    assert mine.batch_id is None
    assert vendor_server.stats()["batch_creates"] == 1


def test_a_resubmit_after_an_interrupted_create_binds_its_batch_and_creates_none(
    adapter: VendorBatchAdapter, together_ledger: Any, vendor_server: Any, tmp_path: Path
) -> None:
    made = _interrupted_create(adapter, together_ledger, tmp_path, KEY)
    assert _submit(adapter, ["a"]) == made.id
    assert vendor_server.stats()["batch_creates"] == 1


def test_every_vendor_has_an_adapter_named_after_it() -> None:
    for name in VENDORS:
        cls = adapter_for(name)
        vendor = vendor_named(name)
        assert (cls.name, cls.vendor_name) == (name, name)
        assert cls.conn_types == {*vendor.conn_types, "pydanticai"}
        assert (cls.max_requests, cls.max_payload_bytes) == (vendor.limits.max_lines, vendor.limits.max_bytes)
    assert adapter_for("together") is TogetherBatchAdapter


def test_close_closes_the_client() -> None:
    closed: list[bool] = []
    adapter = TogetherBatchAdapter(client=SimpleNamespace(close=lambda: closed.append(True)))
    adapter.close()
    assert closed == [True]
