"""The official ``openai`` SDK runs whole batches against the local server's OpenAI emulation,
unchanged: upload, create with metadata, poll, request counts, both files, cancel, expiry, list
with pagination, validation failures, 401 and 404 (run on the newest SDK and on the floor)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.vendors.openai.conftest import CHAT, MODEL, chat_line, jsonl, poll, write_lines


def _sdk(server: LocalTogetherServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=key or server.api_key, base_url=server.base_url, max_retries=0)


def _submit(sdk: openai.OpenAI, path: Path, endpoint: str = CHAT, **metadata: str) -> openai.types.Batch:
    with path.open("rb") as handle:
        upload = sdk.files.create(file=handle, purpose="batch")
    assert upload.purpose == "batch" and upload.status == "processed"
    return sdk.batches.create(
        input_file_id=upload.id, endpoint=endpoint, completion_window="24h", metadata=metadata or None
    )


def test_sdk_runs_a_whole_batch(server: LocalTogetherServer, tmp_path: Path) -> None:
    lines = [chat_line(f"row-{i}", f"Summarise item {i}") for i in range(6)]
    lines.append(chat_line("too-long", "Write a novel", max_tokens=1_000_000))
    server.configure(processing_seconds=1.0)  # long enough that polling sees in_progress
    sdk = _sdk(server)
    created = _submit(sdk, write_lines(tmp_path / "in.jsonl", lines), run="dag.task.2026-01-01")
    assert created.status == "validating" and created.metadata == {"run": "dag.task.2026-01-01"}

    batch, seen = poll(lambda: sdk.batches.retrieve(created.id))

    assert batch.status == "completed" and "in_progress" in seen
    counts = batch.request_counts
    assert (counts.total, counts.completed, counts.failed) == (7, 6, 1)
    assert batch.model == MODEL and batch.completed_at and batch.in_progress_at and batch.finalizing_at
    assert batch.usage.input_tokens > 0 and batch.usage.output_tokens > 0
    output = jsonl(sdk.files.content(batch.output_file_id).text)
    assert sorted(line["custom_id"] for line in output) == [f"row-{i}" for i in range(6)]
    first = output[0]
    assert first["id"].startswith("batch_req_") and first["error"] is None
    assert first["response"]["status_code"] == 200 and first["response"]["request_id"]
    assert first["response"]["body"]["usage"]["prompt_tokens"] > 0
    (refused,) = jsonl(sdk.files.content(batch.error_file_id).text)
    assert refused["custom_id"] == "too-long" and refused["response"]["status_code"] == 400
    assert refused["response"]["body"]["error"]["code"] == "context_length_exceeded"
    assert sdk.files.delete(batch.output_file_id).deleted


def test_sdk_cancel_keeps_the_answered_rows(server: LocalTogetherServer, tmp_path: Path) -> None:
    server.configure(processing_seconds=1.5, cancel_seconds=0.2)
    sdk = _sdk(server)
    lines = [chat_line(f"r{i}", f"q {i}") for i in range(40)]
    created = _submit(sdk, write_lines(tmp_path / "in.jsonl", lines))
    poll(lambda: sdk.batches.retrieve(created.id), until=("in_progress",))
    time.sleep(0.5)  # a third of the requests finish
    assert sdk.batches.cancel(created.id).status == "cancelling"

    batch, seen = poll(lambda: sdk.batches.retrieve(created.id))

    assert batch.status == "cancelled" and "cancelling" in seen and batch.cancelled_at and batch.cancelling_at
    answered = jsonl(sdk.files.content(batch.output_file_id).text)
    unrun = jsonl(sdk.files.content(batch.error_file_id).text)
    assert 0 < len(answered) < 40 and len(answered) + len(unrun) == 40
    assert {line["error"]["code"] for line in unrun} == {"batch_cancelled"}
    assert {line["response"] for line in unrun} == {None}
    assert batch.request_counts.completed == len(answered) and batch.request_counts.total == 40


def test_sdk_expiry_keeps_the_answered_rows(server: LocalTogetherServer, tmp_path: Path) -> None:
    server.configure(processing_seconds=2.0, completion_window_seconds=1.0)
    sdk = _sdk(server)
    lines = [chat_line(f"r{i}", f"q {i}") for i in range(30)]
    created = _submit(sdk, write_lines(tmp_path / "in.jsonl", lines))

    batch, _ = poll(lambda: sdk.batches.retrieve(created.id))

    assert batch.status == "expired" and batch.expired_at
    answered = jsonl(sdk.files.content(batch.output_file_id).text)
    unrun = jsonl(sdk.files.content(batch.error_file_id).text)
    assert 0 < len(answered) < 30 and len(answered) + len(unrun) == 30
    assert {line["error"]["code"] for line in unrun} == {"batch_expired"}
    assert {line["custom_id"] for line in answered + unrun} == {f"r{i}" for i in range(30)}


def test_sdk_lists_batches_newest_first_with_pagination(server: LocalTogetherServer, tmp_path: Path) -> None:
    sdk = _sdk(server)
    path = write_lines(tmp_path / "in.jsonl", [chat_line("a", "hello")])
    ids = [_submit(sdk, path, n=str(n)).id for n in range(5)]

    page = sdk.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in sdk.batches.list(limit=2)] == ids[::-1]  # the SDK follows last_id
    last = sdk.batches.list(limit=2, after=ids[1])
    assert [b.id for b in last.data] == [ids[0]] and not last.has_more


@pytest.mark.parametrize(
    ("lines", "code", "line"),
    [
        ([chat_line("a", "x"), chat_line("b", "y", model="gpt-4o")], "model_mismatch", 2),
        ([chat_line("a", "x", model="no-such-model")], "model_not_found", 1),
        ([chat_line("a", "x"), chat_line("a", "y")], "duplicate_custom_id", 2),
    ],
)
def test_sdk_sees_a_file_that_breaks_a_rule_fail_validation(
    server: LocalTogetherServer, tmp_path: Path, lines: list[dict], code: str, line: int
) -> None:
    sdk = _sdk(server)
    created = _submit(sdk, write_lines(tmp_path / "in.jsonl", lines))
    assert created.status == "validating"  # the create is accepted: the file is checked after it

    batch, _ = poll(lambda: sdk.batches.retrieve(created.id))

    assert batch.status == "failed" and batch.failed_at
    (error,) = batch.errors.data
    assert (error.code, error.line) == (code, line) and error.message
    assert batch.output_file_id is None and batch.error_file_id is None


def test_sdk_gets_embeddings_and_responses_with_usage(server: LocalTogetherServer, tmp_path: Path) -> None:
    sdk = _sdk(server)
    embed = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings"}
    embed["body"] = {"model": "text-embedding-3-small", "input": "a short text", "dimensions": 8}
    respond = {"custom_id": "r", "method": "POST", "url": "/v1/responses"}
    respond["body"] = {"model": MODEL, "input": "Say hello", "instructions": "Be brief."}
    first = _submit(sdk, write_lines(tmp_path / "e.jsonl", [embed]), endpoint="/v1/embeddings")
    second = _submit(sdk, write_lines(tmp_path / "r.jsonl", [respond]), endpoint="/v1/responses")

    embedded, _ = poll(lambda: sdk.batches.retrieve(first.id))
    responded, _ = poll(lambda: sdk.batches.retrieve(second.id))

    (vector,) = jsonl(sdk.files.content(embedded.output_file_id).text)
    body = vector["response"]["body"]
    assert len(body["data"][0]["embedding"]) == 8 and body["usage"]["prompt_tokens"] == 3
    (answer,) = jsonl(sdk.files.content(responded.output_file_id).text)
    body = answer["response"]["body"]
    assert body["object"] == "response" and body["output"][0]["content"][0]["text"]
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0


def test_sdk_gets_401_for_a_bad_key_and_404_for_unknown_ids(server: LocalTogetherServer) -> None:
    with pytest.raises(openai.AuthenticationError) as denied:
        _sdk(server, key="sk-wrong").batches.list()
    assert denied.value.status_code == 401 and denied.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(denied.value)
    sdk = _sdk(server)
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.batches.retrieve("batch_unknown")
    assert missing.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve("file-unknown")
    with pytest.raises(openai.NotFoundError):
        sdk.batches.cancel("batch_unknown")


def test_sdk_input_must_be_jsonl_with_purpose_batch(server: LocalTogetherServer, tmp_path: Path) -> None:
    sdk = _sdk(server)
    text = tmp_path / "in.txt"
    text.write_text(json.dumps(chat_line("a", "x")))
    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        sdk.files.create(file=text.open("rb"), purpose="batch")
