"""Both clients over real loopback HTTP against the local Together-compatible server.

Every test runs with the sync and the async client (``flavour``). Retry waits go to a recorder
(``sleeps``) except where the server must get real time to act.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client import (
    AuthenticationError,
    BadRequestError,
    BatchCreateRejectedError,
    BatchStatus,
    DownloadIncompleteError,
    InternalServerError,
    NotFoundError,
    OutputLine,
)
from tests.client.helpers import call, drain

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def write_batch_file(path: Path, lines: int, pad: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(lines):
            messages = [{"role": "user", "content": f"q{n} " + "x" * pad}]
            body = {"model": MODEL, "messages": messages, "max_tokens": 8}
            handle.write(json.dumps({"custom_id": f"req-{n}", "body": body}) + "\n")
    return path


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    return write_batch_file(tmp_path / "requests.jsonl", 20)


async def wait_for(client: Any, batch_id: str, *, until: set[BatchStatus], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = await call(client.batches.retrieve(batch_id))
        if job.status in until or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)


async def test_every_route_round_trip(server, connect, batch_file: Path, tmp_path: Path) -> None:
    client = connect()
    uploaded = await call(client.files.upload(batch_file))
    assert uploaded.purpose == "batch-api" and uploaded.bytes == batch_file.stat().st_size
    assert uploaded.file_type == "jsonl" and uploaded.filename == "requests.jsonl"
    assert (await call(client.files.retrieve(uploaded.id))).id == uploaded.id
    assert uploaded.id in [f.id for f in await call(client.files.list())]

    created = await call(client.batches.create(uploaded.id))
    assert created.job.input_file_id == uploaded.id and created.job.status is BatchStatus.VALIDATING
    assert [job.id for job in await call(client.batches.list())] == [created.job.id]
    job = await wait_for(client, created.job.id, until={BatchStatus.COMPLETED})
    assert job.status.is_terminal and job.output_file_id and job.progress == 100.0

    dest = await call(client.files.content(job.output_file_id, tmp_path / "new-dir" / "output.jsonl"))
    lines = [OutputLine.model_validate_json(line) for line in dest.read_text().splitlines()]
    assert sorted(line.custom_id for line in lines) == sorted(f"req-{n}" for n in range(20))
    inputs = await call(client.files.content(uploaded.id, tmp_path / "input-copy.jsonl"))
    assert inputs.read_bytes() == batch_file.read_bytes()

    deleted = await call(client.files.delete(uploaded.id))
    assert deleted.deleted and deleted.id == uploaded.id
    with pytest.raises(NotFoundError, match=f"GET /files/{uploaded.id} returned HTTP 404"):
        await call(client.files.retrieve(uploaded.id))


async def test_identical_content_with_dedupe_reuses_the_file(server, connect, batch_file, tmp_path) -> None:
    client = connect()
    first = await call(client.files.upload(batch_file, dedupe=True))
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(batch_file.read_bytes())
    second = await call(client.files.upload(copy, dedupe=True))
    assert second.id == first.id
    stats = server.stats()
    assert stats["uploads"] == 1 and stats["requests"].get("PUT /_uploads/{id}") == 1


async def test_identical_content_without_dedupe_is_a_new_file_each_time(server, connect, batch_file) -> None:
    client = connect()
    ids = [(await call(client.files.upload(batch_file))).id for _ in range(3)]
    assert len(set(ids)) == 3
    stats = server.stats()
    assert stats["uploads"] == 3 and stats["requests"].get("PUT /_uploads/{id}") == 3
    # Another run's batch on the same bytes never shows up on this run's file.
    job = (await call(client.batches.create(ids[0]))).job
    assert await call(client.batches.find_by_input_file(ids[1])) == []
    assert [b.id for b in await call(client.batches.find_by_input_file(ids[0]))] == [job.id]


async def test_streamed_lists_and_cleanup_against_the_server(server, connect, batch_file, tmp_path) -> None:
    client = connect()
    uploaded = [await call(client.files.upload(batch_file)) for _ in range(3)]
    jobs = [(await call(client.batches.create(f.id))).job for f in uploaded[:2]]
    assert [f.id for f in await drain(client.files.iter())] == [f.id for f in uploaded]
    newest_first = [j.id for j in reversed(jobs)]
    assert [b.id for b in await drain(client.batches.iter())] == newest_first
    assert [f.id for f in await call(client.files.list())] == [f.id for f in uploaded]

    report = await call(client.files.delete_many([uploaded[2].id, uploaded[2].id, "file-never-was"]))
    assert (report.deleted, report.missing, report.failed) == ([uploaded[2].id], ["file-never-was"], {})
    assert [f.id for f in await drain(client.files.iter())] == [f.id for f in uploaded[:2]]


async def test_empty_batch_list_is_an_empty_list(server, connect) -> None:
    assert await call(connect().batches.list()) == []


@pytest.mark.parametrize(
    ("timings", "action", "expected"),
    [
        ({"validating_seconds": 30}, None, BatchStatus.VALIDATING),
        ({"validating_seconds": 0, "processing_seconds": 30}, None, BatchStatus.IN_PROGRESS),
        ({"validating_seconds": 30, "cancel_seconds": 30}, "cancel", BatchStatus.CANCELING),
        ({"validating_seconds": 30, "cancel_seconds": 0}, "cancel", BatchStatus.CANCELLED),
        ({}, None, BatchStatus.COMPLETED),
        ({"validating_seconds": 30}, "FAILED", BatchStatus.FAILED),
        ({"validating_seconds": 30}, "EXPIRED", BatchStatus.EXPIRED),
        ({"validating_seconds": 30}, "CANCELLED", BatchStatus.CANCELLED),
    ],
)
async def test_batch_statuses_parse(server, connect, batch_file: Path, timings, action, expected) -> None:
    server.configure(**timings)
    client = connect()
    file_id = (await call(client.files.upload(batch_file))).id
    job = (await call(client.batches.create(file_id))).job
    if action == "cancel":
        cancelled = await call(client.batches.cancel(job.id))
        assert cancelled.status in {BatchStatus.CANCELING, BatchStatus.CANCELLED}
    elif action is not None:
        server.force_status(job.id, action)
    job = await wait_for(client, job.id, until={expected}, timeout=5)
    assert job.status is expected and job.raw_status == expected.value


async def test_cancel_of_a_finished_batch_is_a_bad_request(server, connect, batch_file: Path) -> None:
    client = connect()
    job = (await call(client.batches.create((await call(client.files.upload(batch_file))).id))).job
    await wait_for(client, job.id, until={BatchStatus.COMPLETED})
    with pytest.raises(BadRequestError, match="cannot be cancelled") as caught:
        await call(client.batches.cancel(job.id))
    assert caught.value.request_id and f"/batches/{job.id}/cancel" in str(caught.value)


async def test_create_with_unusable_file_raises_the_warning(server, connect) -> None:
    with pytest.raises(BatchCreateRejectedError, match="validation failed") as caught:
        await call(connect().batches.create("file-missing"))
    assert caught.value.input_file_id == "file-missing" and caught.value.warning


async def test_wrong_key_is_an_authentication_error_without_retry(server, connect, sleeps) -> None:
    client = connect(api_key="sk-wrong-key-123")
    with pytest.raises(AuthenticationError) as caught:
        await call(client.batches.list())
    assert "sk-wrong-key-123" not in str(caught.value) and sleeps.delays == []


async def test_429_retry_after_is_honoured(server, connect, sleeps, batch_file: Path) -> None:
    client = connect()
    job = (await call(client.batches.create((await call(client.files.upload(batch_file))).id))).job
    server.inject("GET /v1/batches/{id}", "429", retry_after=2)
    assert (await call(client.batches.retrieve(job.id))).id == job.id
    assert sleeps.delays == [pytest.approx(2.0)]


async def test_five_500s_raise_internal_server_error(server, connect, sleeps, caplog) -> None:
    client = connect()
    server.inject("GET /v1/batches/{id}", "500", times=5)
    with caplog.at_level(logging.DEBUG), pytest.raises(InternalServerError) as caught:
        await call(client.batches.retrieve("b-unlucky"))
    error = caught.value
    assert error.status_code == 500 and error.attempts == 5 and error.request_id
    text = str(error)
    assert "GET /batches/b-unlucky" in text and "HTTP 500" in text and error.request_id in text
    for place in (text, repr(error), caplog.text):
        assert server.api_key not in place
    assert len(sleeps.delays) == 4
    assert server.stats()["requests"]["GET /v1/batches/{id}"] == 5


@pytest.mark.parametrize("kind", ["502", "503", "reset"])
async def test_transient_faults_on_reads_are_retried(server, connect, sleeps, kind: str) -> None:
    server.inject("GET /v1/files", kind)
    assert await call(connect().files.list()) == []
    assert len(sleeps.delays) == 1


async def test_upload_put_fault_is_retried(server, connect, sleeps, batch_file: Path) -> None:
    server.inject("PUT /_uploads/{id}", "500")
    uploaded = await call(connect().files.upload(batch_file))
    assert uploaded.bytes == batch_file.stat().st_size and len(sleeps.delays) == 1


async def test_large_upload_and_download_stream_intact(server, connect, tmp_path: Path) -> None:
    source = write_batch_file(tmp_path / "big.jsonl", 2000, pad=2000)  # ~4 MB
    client = connect()
    uploaded = await call(client.files.upload(source))
    dest = await call(client.files.content(uploaded.id, tmp_path / "back.jsonl"))
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


@pytest.mark.parametrize("kind", ["truncate", "reset"])
async def test_cut_download_is_retried_from_scratch(
    server, connect, sleeps, batch_file, tmp_path, kind
) -> None:
    client = connect()
    file_id = (await call(client.files.upload(batch_file))).id
    server.inject("GET /v1/files/{id}/content", kind)
    dest = await call(client.files.content(file_id, tmp_path / "dl.jsonl"))
    assert dest.read_bytes() == batch_file.read_bytes() and len(sleeps.delays) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl.jsonl", "requests.jsonl"]


async def test_persistent_truncation_raises_and_leaves_nothing(server, connect, batch_file, tmp_path) -> None:
    client = connect(max_retries=2)
    file_id = (await call(client.files.upload(batch_file))).id
    server.inject("GET /v1/files/{id}/content", "truncate", times=3, fraction=0.5)
    dest = tmp_path / "dl.jsonl"
    with pytest.raises(DownloadIncompleteError) as caught:
        await call(client.files.content(file_id, dest))
    assert caught.value.expected == batch_file.stat().st_size
    assert 0 < caught.value.received < caught.value.expected
    assert not dest.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["requests.jsonl"]


# -- create: never a second batch ------------------------------------------------------------


async def _uploaded(client: Any, batch_file: Path) -> str:
    return (await call(client.files.upload(batch_file))).id


class _LoseFirstCreateAnswer:
    """Loopback transport that delivers the first create to the server, lets the server act on it,
    then drops the answer as a read timeout: the ambiguous failure a real network can produce."""

    def _lose(self, request: httpx.Request) -> bool:
        if (request.method, request.url.path) != ("POST", "/v1/batches") or self.lost:
            return False
        self.lost = True
        return True


class LoseAnswer(_LoseFirstCreateAnswer, httpx.HTTPTransport):
    lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self._lose(request):
            response.read()
            response.close()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


class AsyncLoseAnswer(_LoseFirstCreateAnswer, httpx.AsyncHTTPTransport):
    lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self._lose(request):
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


async def test_create_whose_answer_was_lost_returns_the_batch_it_made(
    server, connect, sleeps, flavour, batch_file, caplog
) -> None:
    transport = LoseAnswer() if flavour == "sync" else AsyncLoseAnswer()
    client = connect(transport)
    file_id = await _uploaded(client, batch_file)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
        created = await call(client.batches.create(file_id))
    stats = server.stats()
    assert stats["batch_creates"] == 1 and [b["id"] for b in stats["batches"]] == [created.job.id]
    assert stats["requests"]["POST /v1/batches"] == 1 and stats["requests"]["GET /v1/batches"] == 1
    assert created.job.id in caplog.text and len(sleeps.delays) == 1


async def test_create_timed_out_before_the_server_acted_is_sent_once_more(
    server, connect, batch_file
) -> None:
    # The server holds the create for 0.5 s; the client gives up after 0.2 s, so the server sees a
    # disconnect and makes nothing. The client waits, finds no batch, and sends the create again.
    client = connect(real_sleep=True, timeout=0.2, retry_base_delay=0.05)
    file_id = await _uploaded(client, batch_file)
    server.inject("POST /v1/batches", "stall", seconds=0.5)
    created = await call(client.batches.create(file_id))
    stats = server.stats()
    assert stats["batch_creates"] == 1 and [b["id"] for b in stats["batches"]] == [created.job.id]
    assert stats["requests"]["POST /v1/batches"] == 2 and stats["requests"]["GET /v1/batches"] == 1


@pytest.mark.parametrize("kind", ["500", "502", "reset"])
async def test_create_lost_before_the_server_acted_is_sent_again_after_a_lookup(
    server, connect, sleeps, batch_file, kind
) -> None:
    client = connect()
    file_id = await _uploaded(client, batch_file)
    server.inject("POST /v1/batches", kind)
    created = await call(client.batches.create(file_id))
    stats = server.stats()
    assert stats["batch_creates"] == 1 and [b["id"] for b in stats["batches"]] == [created.job.id]
    assert stats["requests"]["POST /v1/batches"] == 2 and stats["requests"]["GET /v1/batches"] == 1


@pytest.mark.parametrize("kind", ["429", "503"])
async def test_create_refused_by_the_server_is_sent_again_without_lookup(
    server, connect, sleeps, batch_file, kind
) -> None:
    client = connect()
    file_id = await _uploaded(client, batch_file)
    server.inject("POST /v1/batches", kind, retry_after=1)
    await call(client.batches.create(file_id))
    stats = server.stats()
    assert stats["batch_creates"] == 1 and stats["requests"]["POST /v1/batches"] == 2
    assert "GET /v1/batches" not in stats["requests"]
