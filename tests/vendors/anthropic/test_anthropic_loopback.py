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
