"""The provider's OpenAI client against the local server's OpenAI emulation over real loopback
HTTP: a whole batch, pagination, a create whose answer is lost (found again by metadata, never
sent twice), retries, and a key that never shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from airflow_provider_batch.testing.server.process import server_process
from airflow_provider_batch.vendors.openai.client import (
    AsyncOpenAIClient,
    AuthenticationError,
    BatchStatus,
    NotFoundError,
    OpenAIClient,
    OpenAISettings,
    UnverifiableCreateError,
)
from tests.vendors.openai.conftest import chat_line, jsonl, poll, write_lines

RUN = "apb_run"


def _client(server: LocalTogetherServer, **settings: object) -> OpenAIClient:
    fast = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, **settings}
    return OpenAIClient(OpenAISettings(api_key=server.api_key, base_url=server.base_url, **fast))


def test_client_runs_a_whole_batch(server: LocalTogetherServer, tmp_path: Path) -> None:
    lines = [chat_line(f"r{i}", f"q {i}") for i in range(5)] + [chat_line("big", "x", max_tokens=10**6)]
    with _client(server) as client:
        upload = client.files.upload(write_lines(tmp_path / "in.jsonl", lines))
        assert client.files.retrieve(upload.id).bytes == upload.bytes > 0
        created = client.batches.create(upload.id, metadata={RUN: "run-1"}, identity_key=RUN)
        assert created.status is BatchStatus.VALIDATING and created.completion_window == "24h"

        batch, _ = poll(lambda: client.batches.retrieve(created.id))

        assert batch.status is BatchStatus.COMPLETED
        assert batch.request_counts is not None and batch.request_counts.model_dump() == {
            "total": 6,
            "completed": 5,
            "failed": 1,
        }
        assert batch.output_file_id and batch.error_file_id
        output = jsonl(client.files.content(batch.output_file_id, tmp_path / "out.jsonl").read_text())
        errors = jsonl(client.files.content(batch.error_file_id, tmp_path / "err.jsonl").read_text())
        assert len(output) == 5 and [e["custom_id"] for e in errors] == ["big"]
        assert client.files.delete(upload.id).deleted
        with pytest.raises(NotFoundError):
            client.files.retrieve(upload.id)


def test_client_pages_the_batch_list_and_finds_by_metadata(
    server: LocalTogetherServer, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")])
    with _client(server) as client:
        file_id = client.files.upload(path).id
        ids = [client.batches.create(file_id, metadata={RUN: f"run-{n % 3}"}).id for n in range(7)]

        page = client.batches.list_page(limit=3)
        assert [b.id for b in page.data] == ids[::-1][:3] and page.has_more and page.last_id == ids[4]
        assert [b.id for b in client.batches.iter(page_size=2)] == ids[::-1]
        assert [b.id for b in client.batches.find_by_metadata(RUN, "run-1", page_size=2)] == [ids[4], ids[1]]
        newest = client.batches.retrieve(ids[-1]).created_at
        assert newest is not None
        assert client.batches.find_by_metadata(RUN, "run-0", created_after=newest + 1) == []


@pytest.mark.parametrize("fault", ["500", "reset"])
def test_a_lost_create_is_found_by_its_metadata_and_not_sent_twice(
    server: LocalTogetherServer, tmp_path: Path, fault: str
) -> None:
    path = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")])
    with _client(server) as client:
        file_id = client.files.upload(path).id
        client.batches.create(file_id, metadata={RUN: "other-run"})
        server.inject("POST /v1/batches", fault, after=True)  # the batch is made, the answer lost

        batch = client.batches.create(file_id, metadata={RUN: "this-run"}, identity_key=RUN)

        assert batch.metadata == {RUN: "this-run"}
        assert server.stats()["batch_creates"] == 2
        assert [b.id for b in client.batches.find_by_metadata(RUN, "this-run")] == [batch.id]


def test_a_lost_create_without_an_identity_is_not_sent_again(
    server: LocalTogetherServer, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")])
    with _client(server) as client:
        file_id = client.files.upload(path).id
        server.inject("POST /v1/batches", "502", after=True)
        with pytest.raises(UnverifiableCreateError, match="identity_key"):
            client.batches.create(file_id, metadata={RUN: "r"})
        assert server.stats()["batch_creates"] == 1
        with pytest.raises(ValueError, match="identity_key"):
            client.batches.create(file_id, metadata={"other": "r"}, identity_key=RUN)


def test_reads_are_retried_and_a_429_is_waited_out(server: LocalTogetherServer, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")])
    with _client(server) as client:
        batch = client.batches.create(client.files.upload(path).id)
        server.inject("GET /v1/batches/{id}", "429", times=2, retry_after=0.01)
        server.inject("GET /v1/files/{id}", "503")
        assert client.batches.retrieve(batch.id).id == batch.id
        assert client.files.retrieve(batch.input_file_id or "").id == batch.input_file_id
        assert server.stats()["faults_injected"] == {"429": 2, "503": 1}


def test_the_key_never_shows(server: LocalTogetherServer) -> None:
    secret = "sk-proj-SECRET-never-shown"
    client = OpenAIClient(api_key=secret, base_url=server.base_url)
    assert secret not in repr(client) and secret not in repr(client.settings)
    with pytest.raises(AuthenticationError) as denied:
        client.batches.retrieve("batch_x")
    assert denied.value.status_code == 401 and secret not in str(denied.value)
    assert secret not in repr(denied.value.body)
    client.close()


def test_the_default_base_url_is_openai_and_any_compatible_url_is_taken() -> None:
    assert OpenAIClient(api_key="k").settings.base_url == "https://api.openai.com/v1"
    azure = "https://res.openai.azure.com/openai/v1/"
    assert OpenAIClient(api_key="k", base_url=azure).settings.base_url == azure.rstrip("/")


async def test_async_client_runs_a_batch_and_cancels_one(server: LocalTogetherServer, tmp_path: Path) -> None:
    server.configure(processing_seconds=5.0)
    path = write_lines(tmp_path / "in.jsonl", [chat_line(f"r{i}", "x") for i in range(4)])
    settings = OpenAISettings(api_key=server.api_key, base_url=server.base_url)
    async with AsyncOpenAIClient(settings) as client:
        upload = await client.files.upload(path)
        batch = await client.batches.create(upload.id, metadata={RUN: "a"}, identity_key=RUN)
        cancelling = await client.batches.cancel(batch.id)
        assert cancelling.status is BatchStatus.CANCELLING
        found = [b.id async for b in client.batches.iter()]
        assert found == [batch.id]
        assert [b.id for b in await client.batches.find_by_metadata(RUN, "a")] == [batch.id]
        with pytest.raises(NotFoundError):
            await client.batches.retrieve("batch_none")
    with _client(server) as sync:
        ended, _ = poll(lambda: sync.batches.retrieve(batch.id))
        assert ended.status is BatchStatus.CANCELLED and ended.error_file_id and ended.output_file_id is None
        unrun = jsonl(sync.files.content(ended.error_file_id, tmp_path / "e.jsonl").read_text())
        assert {line["error"]["code"] for line in unrun} == {"batch_cancelled"} and len(unrun) == 4


def test_the_command_line_serves_openai(tmp_path: Path) -> None:
    with server_process("cli-key", "--vendor", "openai", "--processing-seconds", "0.1") as base_url:
        client = OpenAIClient(api_key="cli-key", base_url=base_url)
        upload = client.files.upload(write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")]))
        created = client.batches.create(upload.id)
        batch, _ = poll(lambda: client.batches.retrieve(created.id))
        assert batch.status is BatchStatus.COMPLETED
        client.close()
    bad = subprocess.run(
        [sys.executable, "-m", "airflow_provider_batch.testing.server", "--api-key", "k", "--vendor", "nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
