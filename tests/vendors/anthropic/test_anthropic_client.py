"""Anthropic's vendor at the wire (httpx MockTransport): inline creates, headers, statuses, results,
listing, an ambiguous create, validation of ``custom_id`` and the reversible mapping."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client.models import BatchStatus
from airflow_provider_batch.inputs.validate import validate_batch_file
from airflow_provider_batch.results.parse import ParsedFile, decode_result_line
from airflow_provider_batch.vendors import vendor_for, vendor_named
from airflow_provider_batch.vendors.anthropic import custom_ids
from airflow_provider_batch.vendors.anthropic.client import MessageBatch, UnverifiableCreateError
from airflow_provider_batch.vendors.anthropic.vendor import (
    MESSAGES,
    NeutralAnthropicClient,
    decode_result,
    neutral_job,
    write_envelope,
)
from tests.vendors.anthropic._fake_api import FakeAnthropic, settings

MODEL = "claude-haiku-4-5"


def line(custom_id: str, text: str = "hi", **body: Any) -> str:
    params = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **body}
    return json.dumps({"custom_id": custom_id, "body": params}) + "\n"


def client_on(handler: Any) -> NeutralAnthropicClient:
    client = NeutralAnthropicClient(
        settings(), http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    client.vendor = vendor_named("anthropic")
    return client


def test_the_connection_type_of_the_anthropic_provider_names_this_vendor() -> None:
    assert vendor_for("anthropic").name == "anthropic"
    assert vendor_named("anthropic").recovery == "ledger"


def test_a_part_is_staged_then_sent_inline_with_anthropics_headers(tmp_path: Path) -> None:
    fake = FakeAnthropic(tmp_path / "state.json")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake.handler(request)

    part = tmp_path / "part.jsonl"
    part.write_text(line("a-1") + line("b_2", system="be brief"))
    with client_on(handler) as client:
        staged = client.files.upload(part, filename="apb-abc-def-p0000.jsonl")
        assert not seen, "staging sends nothing"
        again = client.files.upload(part, filename="apb-abc-def-p0000.jsonl")
        assert again.id == staged.id == "inline:apb-abc-def-p0000"
        job = client.batches.create(staged.id, MESSAGES).job
    assert job is not None and job.status is BatchStatus.IN_PROGRESS and job.id == "msgbatch_0001"
    (create,) = seen
    body = json.loads(create.read())
    assert [r["custom_id"] for r in body["requests"]] == ["a-1", "b_2"]
    assert body["requests"][1]["params"]["system"] == "be brief"
    assert create.headers["content-length"] == str(len(create.read()))


def test_a_create_that_may_have_reached_the_server_is_never_sent_twice(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}})

    part = tmp_path / "part.jsonl"
    part.write_text(line("a"))
    client = NeutralAnthropicClient(
        settings(max_retries=3),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client._wire._wire._sleep = lambda _: None  # type: ignore[attr-defined]
    staged = client.files.upload(part, filename="p.jsonl")
    with pytest.raises(UnverifiableCreateError, match="not re-sent"):
        client.batches.create(staged.id, MESSAGES)
    assert calls == ["POST"]


def _batch(**fields: Any) -> MessageBatch:
    counts = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}
    base = {"id": "msgbatch_1", "processing_status": "ended", "request_counts": counts}
    base.update(fields)
    return MessageBatch.model_validate(base)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"processing_status": "in_progress"}, BatchStatus.IN_PROGRESS),
        (
            {"processing_status": "in_progress", "cancel_initiated_at": "2026-01-01T00:00:00Z"},
            BatchStatus.CANCELING,
        ),
        ({"processing_status": "canceling"}, BatchStatus.CANCELING),
        ({}, BatchStatus.COMPLETED),
        ({"cancel_initiated_at": "2026-01-01T00:00:00Z"}, BatchStatus.CANCELLED),
        (
            {"request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 2, "expired": 0}},
            BatchStatus.CANCELLED,
        ),
        (
            {"request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 2}},
            BatchStatus.EXPIRED,
        ),
    ],
)
def test_processing_status_maps_onto_the_neutral_status(fields: dict[str, Any], status: BatchStatus) -> None:
    assert neutral_job(_batch(**fields)).status is status


def test_an_unknown_processing_status_keeps_its_name_and_is_not_terminal() -> None:
    job = neutral_job(_batch(processing_status="paused_for_maintenance"))
    assert job.status is BatchStatus.UNKNOWN and not job.status.is_terminal
    assert job.raw_status == "paused_for_maintenance"


def test_an_ended_batch_offers_its_results_and_counts() -> None:
    job = neutral_job(_batch(ended_at="2026-01-01T01:00:00Z"))
    assert job.output_file_id == "results:msgbatch_1" and job.progress == 100.0
    assert job.completed_at == datetime(2026, 1, 1, 1, tzinfo=timezone.utc)
    assert getattr(job, "request_counts")["total"] == 4  # noqa: B009
    running = neutral_job(
        _batch(
            processing_status="in_progress",
            request_counts={"processing": 3, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 0},
        )
    )
    assert running.output_file_id is None and running.progress == 25.0


def test_results_become_the_shared_envelope(tmp_path: Path) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "model": MODEL,
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 4},
    }
    rows = [
        {"custom_id": "ok", "result": {"type": "succeeded", "message": message}},
        {
            "custom_id": "bad",
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}},
            },
        },
        {
            "custom_id": "busy",
            "result": {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error"}}},
        },
        {"custom_id": "late", "result": {"type": "expired"}},
        {"custom_id": "stop", "result": {"type": "canceled"}},
    ]
    raw = tmp_path / "results.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert write_envelope(raw, tmp_path / "out.jsonl") == 5
    parsed = [
        decode_result_line(b, i, MESSAGES)
        for i, b in enumerate((tmp_path / "out.jsonl").read_bytes().splitlines())
    ]
    by_id = {p.custom_id: p for p in parsed}
    ok = by_id["ok"]
    assert (ok.succeeded, ok.response_text, ok.prompt_tokens, ok.completion_tokens) == (True, "hello", 10, 3)
    assert ok.finish_reason == "end_turn"
    bad = by_id["bad"]
    assert (bad.succeeded, bad.status_code, bad.error_code) == (False, 400, "invalid_request_error")
    assert by_id["busy"].error_code == "overloaded_error"
    assert by_id["late"].error_code == "batch_expired"
    assert by_id["stop"].error_code == "batch_cancelled"


def test_results_read_straight_as_their_envelope_reads(tmp_path: Path) -> None:
    """The vendor's decoder reads Anthropic's lines into what their envelope lines parse to: on
    the fast path (text blocks), off it (prompt-cache tokens, a tool block), errors and unrun."""
    usage = {"input_tokens": 10, "output_tokens": 3}
    cached = {**usage, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 4}
    cached["cache_creation"] = {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 5}

    def message(content: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
        fields = {"id": "m", "type": "message", "model": MODEL, "stop_reason": "end_turn"}
        return {**fields, "content": content, "usage": usage}

    text = [{"type": "text", "text": "hé"}, {"type": "text", "text": " there"}]
    tool = [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]
    rows = [
        {"custom_id": "ok", "result": {"type": "succeeded", "message": message(text, usage)}},
        {"custom_id": "cached", "result": {"type": "succeeded", "message": message(text, cached)}},
        {"custom_id": "tool", "result": {"type": "succeeded", "message": message(tool, usage)}},
        {
            "custom_id": "bad",
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}},
            },
        },
        {"custom_id": "late", "result": {"type": "expired"}},
        {"custom_id": "stop", "result": {"type": "canceled"}},
    ]
    raw = tmp_path / "results.jsonl"
    raw.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_envelope(raw, tmp_path / "out.jsonl")
    expected = list(ParsedFile(tmp_path / "out.jsonl", "output", MESSAGES))
    assert list(ParsedFile(raw, "output", MESSAGES, decode_result)) == expected
    by_id = {p.custom_id: p for p in expected}
    assert by_id["ok"].response_text == "hé there" and by_id["ok"].succeeded
    cached_line = by_id["cached"]
    assert (cached_line.cache_written, cached_line.cache_written_1h, cached_line.cache_read) == (7, 5, 4)
    # a blank line holds no record; a line that is not a result line is named, with its id
    assert decode_result(b"\n", 1, MESSAGES) is None
    odd = decode_result(b'{"custom_id": "x1", "result": 3}\n', 2, MESSAGES)
    assert odd is not None and odd.problem is not None and odd.reported_id == "x1"
    assert "result" in odd.problem


def test_listing_pages_with_after_id(tmp_path: Path) -> None:
    fake = FakeAnthropic(tmp_path / "state.json")
    for count in (1, 2, 3):
        fake.add(count)
    with client_on(fake.handler) as client:
        ids = [b.id for b in client._wire.batches.iter(page_size=2)]
    assert ids == ["msgbatch_0003", "msgbatch_0002", "msgbatch_0001"]


def test_a_custom_id_anthropic_refuses_is_named_before_any_spend(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(line("fine-1") + line("ticket#2") + line(custom_ids.encode("ticket#3")))
    report = validate_batch_file(
        path, endpoint=MESSAGES, limits=vendor_named("anthropic").limits, endpoints=(MESSAGES,)
    )
    (problem,) = report.problems
    assert (problem.line, problem.custom_id, problem.rule) == (2, "ticket#2", "custom_id_pattern")


def test_messages_bodies_need_max_tokens_and_keep_system_out_of_messages(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    no_max = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    system_msg = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}
    path.write_text(
        "".join(
            json.dumps({"custom_id": f"r{i}", "body": b}) + "\n" for i, b in enumerate((no_max, system_msg))
        )
    )
    report = validate_batch_file(
        path, endpoint=MESSAGES, limits=vendor_named("anthropic").limits, endpoints=(MESSAGES,)
    )
    assert [(p.line, p.rule) for p in report.problems] == [(1, "max_tokens_missing"), (2, "message_bad_role")]


@pytest.mark.parametrize("key", ["ticket#42", "a.b/c", "é" * 22, "apbx_abc", "plain-key_1"])
def test_the_custom_id_mapping_is_reversible_and_valid(key: str) -> None:
    encoded = custom_ids.encode(key)
    assert custom_ids.is_valid(encoded) and custom_ids.decode(encoded) == key


def test_the_custom_id_mapping_refuses_a_key_too_long_to_fit() -> None:
    with pytest.raises(ValueError, match="at most 44"):
        custom_ids.encode("#" * 45)


def test_the_console_link() -> None:
    vendor = vendor_named("anthropic")
    assert vendor.console_url("https://api.anthropic.com/v1", "msgbatch_1").endswith("/batches/msgbatch_1")
    assert vendor.console_url("http://127.0.0.1:9/v1", "b") == "http://127.0.0.1:9/batches/b"


def test_rows_build_messages_bodies_with_system_apart(tmp_path: Path) -> None:
    from airflow_provider_batch.inputs.build import build_batch_file

    rows = [{"id": "t-1", "text": "hello"}, {"id": "t-2", "text": "bye"}]
    schema = {"type": "object", "properties": {"mood": {"type": "string"}}}
    built = build_batch_file(
        rows,
        tmp_path / "in.jsonl",
        key_column="id",
        model=MODEL,
        user_template="Mood of: {text}",
        system_prompt="Answer in JSON.",
        body={"max_tokens": 64, "output_config": {"format": {"type": "json_schema", "schema": schema}}},
        endpoint=MESSAGES,
        endpoints=(MESSAGES,),
    )
    first = json.loads(built.path.read_text().splitlines()[0])
    assert first["body"]["system"] == "Answer in JSON."
    assert first["body"]["messages"] == [{"role": "user", "content": "Mood of: hello"}]
    assert first["body"]["output_config"]["format"]["schema"] == schema
    report = validate_batch_file(
        built.path, endpoint=MESSAGES, limits=vendor_named("anthropic").limits, endpoints=(MESSAGES,)
    )
    assert report.problems == []
