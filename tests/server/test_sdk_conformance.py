"""The official ``together`` SDK (3.1.1) runs a whole batch against the local server (§14.2)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import CHAT, chat_line

together = pytest.importorskip("together")

AUDIO_MODEL = "openai/whisper-large-v3"


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


def _sdk_batch(client: Any, source: Path, endpoint: str) -> list[dict[str, Any]]:
    """Upload ``source``, run it as a batch on ``endpoint`` and return the output lines, all with the SDK."""
    file_id = client.files.upload(file=source, purpose="batch-api", check=False).id
    job = client.batches.create(input_file_id=file_id, endpoint=endpoint).job
    give_up = time.monotonic() + 15
    while (job := client.batches.retrieve(job.id)).status != "COMPLETED":
        assert job.status in ("VALIDATING", "IN_PROGRESS") and time.monotonic() < give_up
        time.sleep(0.05)
    return [json.loads(x) for x in client.files.content(job.output_file_id).read().decode().splitlines()]


def test_every_output_body_validates_against_the_sdk_types(
    tmp_path: Path, together_server: LocalTogetherServer
) -> None:
    """Chat completions against ``ChatCompletion`` (which requires ``prompt``), audio answers against the
    SDK's transcription and translation response types, exactly as a user of the SDK would parse them."""
    from together.types.audio.transcription_create_response import AudioTranscriptionJsonResponse
    from together.types.audio.translation_create_response import AudioTranslationJsonResponse
    from together.types.chat.chat_completion import ChatCompletion

    client = together.Together(
        api_key=together_server.api_key, base_url=together_server.root_url, max_retries=0
    )
    chat = [
        chat_line("plain", "Question"),
        chat_line("short", "Tell me a long story", max_tokens=2),
        chat_line("echo", "Repeat after me", echo=True),
        chat_line("json", "Give JSON", response_format={"type": "json_object"}),
    ]
    clip = {"file": "https://x.test/a.wav", "model": AUDIO_MODEL}
    audio = [{"custom_id": "clip", "method": "FILE", "body": clip}]
    checks: list[tuple[list[dict[str, Any]], str, Any]] = [
        (chat, CHAT, ChatCompletion),
        (audio, "/v1/audio/transcriptions", AudioTranscriptionJsonResponse),
        (audio, "/v1/audio/translations", AudioTranslationJsonResponse),
    ]
    parsed: dict[str, Any] = {}
    for lines, endpoint, model in checks:
        source = tmp_path / f"{endpoint.rsplit('/', 1)[-1]}.jsonl"
        source.write_text("".join(json.dumps(line) + "\n" for line in lines))
        output = _sdk_batch(client, source, endpoint)
        assert len(output) == len(lines)
        for line in output:
            parsed[f"{endpoint}:{line['custom_id']}"] = model.model_validate(line["response"]["body"])
    completions = {key.rsplit(":", 1)[1]: value for key, value in parsed.items() if key.startswith(CHAT)}
    assert completions["short"].choices[0].finish_reason == "length"
    assert completions["plain"].prompt == [] and completions["echo"].prompt[0].text == "Repeat after me"
    assert all(c.usage is not None and c.usage.total_tokens > 0 for c in completions.values())
