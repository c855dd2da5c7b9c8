"""The Anthropic vendor's client over real HTTP to the local server speaking Anthropic: a whole
batch through the neutral facade (stage, create, poll, results in the shared envelope), a cancel,
and a create the server refuses (a bad custom_id the pipeline would have stopped earlier)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_provider_batch.client.errors import BadRequestError
from airflow_provider_batch.client.models import BatchJob, BatchStatus
from airflow_provider_batch.results.parse import decode_result_line
from airflow_provider_batch.testing.server import LocalTogetherServer
from airflow_provider_batch.vendors import vendor_named
from airflow_provider_batch.vendors.anthropic.client import AnthropicSettings
from airflow_provider_batch.vendors.anthropic.vendor import MESSAGES, NeutralAnthropicClient

MODEL = "claude-haiku-4-5"


def client_for(server: LocalTogetherServer) -> NeutralAnthropicClient:
    settings = AnthropicSettings(api_key=server.config.api_key.get_secret_value(), base_url=server.base_url)
    client = vendor_named("anthropic").client(settings)
    assert isinstance(client, NeutralAnthropicClient)
    return client


def staged(client: NeutralAnthropicClient, tmp_path: Path, *bodies: dict[str, object]) -> str:
    part = tmp_path / "part.jsonl"
    part.write_text(
        "".join(json.dumps({"custom_id": f"r-{i}", "body": b}) + "\n" for i, b in enumerate(bodies))
    )
    return str(client.files.upload(part, filename="apb-test-p0000.jsonl").id)


def until_ended(client: NeutralAnthropicClient, batch_id: str) -> BatchJob:
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        job: BatchJob = client.batches.retrieve(batch_id)
        if job.status.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end")


def body(text: str, **extra: object) -> dict[str, object]:
    return {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **extra}


def test_a_whole_batch_through_the_neutral_facade(
    anthropic_server: LocalTogetherServer, tmp_path: Path
) -> None:
    with client_for(anthropic_server) as client:
        input_id = staged(client, tmp_path, body("one", system="be brief"), body("two"), {"model": MODEL})
        job = client.batches.create(input_id, MESSAGES).job
        assert job is not None and job.status is BatchStatus.IN_PROGRESS
        assert job.id in {j.id for j in client.batches.iter()}
        ended = until_ended(client, job.id)
        assert ended.status is BatchStatus.COMPLETED and ended.output_file_id == f"results:{job.id}"
        out = client.files.content(str(ended.output_file_id), tmp_path / "out.jsonl")
    lines = [decode_result_line(raw, i, MESSAGES) for i, raw in enumerate(out.read_bytes().splitlines())]
    by_id = {line.custom_id: line for line in lines}
    assert by_id["r-0"].succeeded and by_id["r-0"].response_text and by_id["r-0"].prompt_tokens
    assert by_id["r-1"].succeeded
    missing_max = by_id["r-2"]  # params are checked when the batch runs: an errored result
    assert (missing_max.succeeded, missing_max.error_code, missing_max.status_code) == (
        False,
        "invalid_request_error",
        400,
    )
    assert getattr(ended, "request_counts") == {  # noqa: B009
        "processing": 0,
        "succeeded": 2,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
        "total": 3,
    }


def test_a_cancelled_batch_ends_cancelled_with_its_unrun_requests_named(
    anthropic_server: LocalTogetherServer, tmp_path: Path
) -> None:
    anthropic_server.configure(processing_seconds=30)
    with client_for(anthropic_server) as client:
        job = client.batches.create(staged(client, tmp_path, body("a"), body("b")), MESSAGES).job
        assert job is not None
        assert client.batches.cancel(job.id).status is BatchStatus.CANCELING
        ended = until_ended(client, job.id)
        assert ended.status is BatchStatus.CANCELLED
        out = client.files.content(str(ended.output_file_id), tmp_path / "out.jsonl")
    codes = {decode_result_line(raw, 0, MESSAGES).error_code for raw in out.read_bytes().splitlines()}
    assert codes == {"batch_cancelled"}


def test_the_server_refuses_a_custom_id_anthropic_refuses(
    anthropic_server: LocalTogetherServer, tmp_path: Path
) -> None:
    part = tmp_path / "part.jsonl"
    part.write_text(json.dumps({"custom_id": "ticket#1", "body": body("x")}) + "\n")
    with client_for(anthropic_server) as client:
        input_id = client.files.upload(part, filename="p.jsonl").id
        with pytest.raises(BadRequestError, match="custom_id"):
            client.batches.create(input_id, MESSAGES)


def test_prompt_cache_tokens_are_read_and_priced_at_the_batch_discount(
    anthropic_server: LocalTogetherServer, tmp_path: Path
) -> None:
    """The emulation writes a cached system prompt on the first request and reads it on the next:
    both counts come through the shared envelope, and the results' cost prices a write at 1.25x and
    a read at 0.1x of the input rate, a one-hour write at 2x, all at half price."""
    from airflow_provider_batch.results.models import ExpectedRequest
    from airflow_provider_batch.results.reconcile import reconcile

    system = [{"type": "text", "text": "rule " * 1500, "cache_control": {"type": "ephemeral"}}]
    hour = [{"type": "text", "text": "law " * 1500, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    bodies = (body("one", system=system), body("two", system=system), body("three", system=hour))
    with client_for(anthropic_server) as client:
        job = client.batches.create(staged(client, tmp_path, *bodies), MESSAGES).job
        assert job is not None
        ended = until_ended(client, job.id)
        out = client.files.content(str(ended.output_file_id), tmp_path / "out.jsonl")
    lines = [decode_result_line(raw, i, MESSAGES) for i, raw in enumerate(out.read_bytes().splitlines())]
    by_id = {line.custom_id: line for line in lines}
    first, second, third = by_id["r-0"], by_id["r-1"], by_id["r-2"]
    assert first.cache_written > 1024 and (first.cache_read, first.cache_written_1h) == (0, 0)
    assert (second.cache_written, second.cache_read) == (0, first.cache_written)
    assert third.cache_written == third.cache_written_1h > 1024 and third.cache_read == 0

    prices = vendor_named("anthropic").prices
    rate = prices.models[MODEL].input_per_1m
    expected = [ExpectedRequest(f"r-{i}", MODEL) for i in range(3)]
    found = reconcile(expected, lines, [], batch_id=job.id, batch_status="COMPLETED", prices=prices)
    cost = {row.custom_id: row.cost_usd for row in found.rows()}
    assert found.summary.cost_usd_batch == pytest.approx(sum(cost.values()), abs=1e-9)  # the spend row
    # The rows and the spend row carry the cache token counts.
    cached = {row.custom_id: (row.cache_creation_tokens, row.cache_read_tokens) for row in found.rows()}
    assert cached == {line.custom_id: (line.cache_written, line.cache_read) for line in lines}
    assert (found.summary.cache_creation_tokens, found.summary.cache_read_tokens) == (
        first.cache_written + third.cache_written,
        second.cache_read,
    )
    for line in lines:
        plain = prices.cost(MODEL, line.prompt_tokens or 0, line.completion_tokens or 0).batch_usd
        cache = (
            (line.cache_written - line.cache_written_1h) * 1.25
            + line.cache_written_1h * 2.0
            + line.cache_read * 0.1
        )
        assert cost[line.custom_id] == pytest.approx(plain + cache * rate / 1e6 * 0.5, abs=1e-9)
    # An overridden table keeps its own factors: at the input rate, a read costs as much as an input.
    flat = type(prices).from_mapping({"cache_read_factor": 1.0}, base=prices)
    again = reconcile(expected, lines, [], batch_id=job.id, batch_status="COMPLETED", prices=flat)
    (read_row,) = [row for row in again.rows() if row.custom_id == "r-1"]
    assert read_row.cost_usd == pytest.approx(
        (second.prompt_tokens + second.cache_read) * rate / 1e6 * 0.5
        + second.completion_tokens * prices.models[MODEL].output_per_1m / 1e6 * 0.5,
        abs=1e-9,
    )
