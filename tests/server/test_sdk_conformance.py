"""The official ``together`` SDK (3.1.1) runs a whole batch against the local server (§14.2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import chat_line

together = pytest.importorskip("together")


def test_sdk_upload_create_poll_download(tmp_path: Path, together_server: LocalTogetherServer) -> None:
    lines = [chat_line(f"req-{i}", f"Question {i}") for i in range(8)]
    lines.append(chat_line("bad-model", model="no-such-org/no-such-model"))
    source = tmp_path / "batch_input.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    client = together.Together(
        api_key=together_server.api_key, base_url=together_server.root_url, max_retries=0
    )

    uploaded = client.files.upload(file=source, purpose="batch-api", check=False)
    assert uploaded.id.startswith("file-") and uploaded.bytes == source.stat().st_size
    created = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions")
    assert created.job is not None and created.job.status == "VALIDATING"
    give_up = time.monotonic() + 15
    while (job := client.batches.retrieve(created.job.id)).status != "COMPLETED":
        assert job.status in ("VALIDATING", "IN_PROGRESS") and time.monotonic() < give_up
        time.sleep(0.05)
    output = [json.loads(x) for x in client.files.content(job.output_file_id).read().decode().splitlines()]
    errors = [json.loads(x) for x in client.files.content(job.error_file_id).read().decode().splitlines()]
    assert sorted(line["custom_id"] for line in output) == [f"req-{i}" for i in range(8)]
    assert errors == [
        {
            "custom_id": "bad-model",
            "error": {"message": errors[0]["error"]["message"], "code": "invalid_model"},
        }
    ]
    assert [b.id for b in client.batches.list()] == [job.id]
    assert together_server.stats()["requests"]["POST /v1/files/{id}/preprocess"] == 1


def test_sdk_reuses_an_already_uploaded_file(tmp_path: Path, together_server: LocalTogetherServer) -> None:
    source = tmp_path / "batch_input.jsonl"
    source.write_text(json.dumps(chat_line("a")) + "\n")
    client = together.Together(
        api_key=together_server.api_key, base_url=together_server.root_url, max_retries=0
    )
    first = client.files.upload(file=source, purpose="batch-api", check=False)
    second = client.files.upload(file=source, purpose="batch-api", check=False)
    assert second.id == first.id
    stats = together_server.stats()
    assert stats["uploads"] == 1 and stats["requests"]["PUT /_uploads/{id}"] == 1


def test_sdk_cancel_reports_canceling(tmp_path: Path, together_server: LocalTogetherServer) -> None:
    together_server.configure(processing_seconds=5)
    source = tmp_path / "batch_input.jsonl"
    source.write_text(json.dumps(chat_line("a")) + "\n")
    client = together.Together(
        api_key=together_server.api_key, base_url=together_server.root_url, max_retries=0
    )
    file_id = client.files.upload(file=source, purpose="batch-api", check=False).id
    job = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions").job
    assert client.batches.cancel(job.id).status == "CANCELING"
