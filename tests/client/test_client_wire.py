"""Exact request shapes and failure handling, checked at the wire with :class:`httpx.MockTransport`.

The loopback tests (``test_client_loopback.py``) cover the same flows against the local server;
these pin down what a server cannot easily observe or script: header absence, body streaming,
the create look-up after a lost answer, and what the client does with malformed answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_batch.client import (
    AmbiguousCreateError,
    APIConnectionError,
    BatchCreateRejectedError,
    BatchStatus,
    ConflictError,
    DownloadIncompleteError,
    InternalServerError,
    ResponseValidationError,
)
from tests.client.helpers import API_KEY, call

BASE = "http://together.test/v1"
FILE_ID = "file-0d3c8a4e-1b2f-4c5d-9e8f-7a6b5c4d3e2f"
FUTURE, PAST = "2099-01-01T00:00:00Z", "2001-01-01T00:00:00Z"
REDIRECT = {"x-together-file-id": FILE_ID}
FILE_JSON = {
    "id": FILE_ID,
    "object": "file",
    "created_at": 1767261600,
    "filename": "in.jsonl",
    "bytes": 3,
    "purpose": "batch-api",
    "FileType": "jsonl",
    "LineCount": 0,
    "Processed": True,
}


def _job(job_id: str = "b-1", created_at: str = FUTURE, status: str = "VALIDATING") -> dict[str, Any]:
    return {"id": job_id, "input_file_id": FILE_ID, "status": status, "created_at": created_at}


Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """A MockTransport that records every request (with its body) and answers from ``routes``."""

    def __init__(self, routes: dict[tuple[str, str], Handler | list[Handler]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(request.content)
        route = self.routes[(request.method, request.url.path)]
        handler = route.pop(0) if isinstance(route, list) else route
        return handler(request)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


NO_BODY = object()


def answer(status: int = 200, body: Any = NO_BODY, **headers: str) -> Handler:
    content = b"" if body is NO_BODY else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers)


def fail(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("scripted", request=request)

    return handler


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"custom_id": "a", "body": {}}\n' * 1000)
    return path


async def test_upload_uses_redirect_flow_with_streamed_put(make_client, jsonl: Path) -> None:
    wire = Wire(
        {
            ("POST", "/v1/files"): answer(302, location="http://store.test/put/x?sig=abc", **REDIRECT),
            ("PUT", "/put/x"): answer(200),
            ("POST", f"/v1/files/{FILE_ID}/preprocess"): answer(200, FILE_JSON),
        }
    )
    client = make_client(BASE, wire.transport)
    told: list[tuple[str, int]] = []

    def record(file_id: str) -> None:
        told.append((file_id, len(wire.requests)))

    uploaded = await call(client.files.upload(jsonl, on_file_id=record))

    assert told == [(FILE_ID, 1)]  # the id is handed over before the bytes are sent
    assert uploaded.id == FILE_ID and uploaded.file_type == "jsonl" and uploaded.processed is True
    init, put, pre = wire.requests
    assert init.headers["authorization"] == f"Bearer {API_KEY}"
    assert parse_qs(wire.bodies[0].decode()) == {
        "purpose": ["batch-api"],
        "file_name": ["in.jsonl"],
        "file_type": ["jsonl"],
    }  # no checksum: the server must not answer with another upload's file
    assert str(put.url) == "http://store.test/put/x?sig=abc"
    assert "authorization" not in put.headers
    assert put.headers["content-length"] == str(jsonl.stat().st_size)
    assert "transfer-encoding" not in put.headers
    assert wire.bodies[1] == jsonl.read_bytes()
    assert pre.headers["authorization"] == f"Bearer {API_KEY}"


async def test_upload_with_dedupe_sends_the_checksum_and_reuses_the_file(make_client, jsonl: Path) -> None:
    wire = Wire(
        {
            ("POST", "/v1/files"): answer(409, {"file_id": FILE_ID}),
            ("GET", f"/v1/files/{FILE_ID}"): answer(200, FILE_JSON),
        }
    )
    client = make_client(BASE, wire.transport)
    assert (await call(client.files.upload(jsonl, filename="other.jsonl", dedupe=True))).id == FILE_ID
    assert [r.method for r in wire.requests] == ["POST", "GET"]  # no retry of the 409, no PUT
    assert parse_qs(wire.bodies[0].decode())["checksum"] == [hashlib.sha256(jsonl.read_bytes()).hexdigest()]


async def test_upload_without_dedupe_never_adopts_a_file_named_in_a_409(make_client, jsonl: Path) -> None:
    wire = Wire({("POST", "/v1/files"): answer(409, {"file_id": FILE_ID})})
    client = make_client(BASE, wire.transport)
    with pytest.raises(ConflictError):
        await call(client.files.upload(jsonl))
    assert len(wire.requests) == 1


async def test_upload_put_is_retried_with_the_file_reopened(make_client, jsonl: Path, sleeps) -> None:
    wire = Wire(
        {
            ("POST", "/v1/files"): answer(302, location="http://store.test/put/x", **REDIRECT),
            ("PUT", "/put/x"): [answer(503), answer(200)],
            ("POST", f"/v1/files/{FILE_ID}/preprocess"): answer(200, FILE_JSON),
        }
    )
    client = make_client(BASE, wire.transport, retry_base_delay=0)
    await call(client.files.upload(jsonl))
    assert wire.bodies[1] == wire.bodies[2] == jsonl.read_bytes()
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("headers", [{"location": "/relative"}, {"location": "http://store.test/p"}])
async def test_upload_refuses_an_unusable_redirect(make_client, jsonl: Path, headers: dict[str, str]) -> None:
    wire = Wire({("POST", "/v1/files"): answer(302, **headers)})
    client = make_client(BASE, wire.transport)
    with pytest.raises(ResponseValidationError, match="POST /files"):
        await call(client.files.upload(jsonl))


async def test_upload_refuses_unknown_extension_before_any_request(make_client, tmp_path: Path) -> None:
    wire = Wire({})
    path = tmp_path / "x.txt"
    path.write_text("{}")
    client = make_client(BASE, wire.transport)
    with pytest.raises(ValueError, match="extension"):
        await call(client.files.upload(path))
    assert wire.requests == []


async def test_download_retries_a_short_body_and_writes_atomically(make_client, tmp_path, sleeps) -> None:
    data = b'{"custom_id": "a"}\n' * 500
    route = ("GET", f"/v1/files/{FILE_ID}/content")
    wire = Wire({route: [answer_bytes(data[:100], len(data)), answer_bytes(data)]})
    dest = tmp_path / "out.jsonl"
    client = make_client(BASE, wire.transport, retry_base_delay=0)

    assert await call(client.files.content(FILE_ID, dest)) == dest
    assert dest.read_bytes() == data
    assert wire.requests[0].headers["accept"] == "application/binary"
    assert len(sleeps.delays) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def answer_bytes(data: bytes, length: int | None = None) -> Handler:
    """A streamed body (so the client counts what arrives), optionally claiming ``length`` bytes."""
    headers = {"content-length": str(len(data) if length is None else length)}
    return lambda request: httpx.Response(200, stream=httpx.ByteStream(data), headers=headers)


async def test_download_gives_up_on_persistent_truncation(make_client, tmp_path: Path) -> None:
    wire = Wire({("GET", f"/v1/files/{FILE_ID}/content"): answer_bytes(b"abc", 10)})
    dest = tmp_path / "out.jsonl"
    client = make_client(BASE, wire.transport, max_retries=2, retry_base_delay=0)
    with pytest.raises(DownloadIncompleteError) as caught:
        await call(client.files.content(FILE_ID, dest))
    assert (caught.value.expected, caught.value.received) == (10, 3)
    assert len(wire.requests) == 3
    assert list(tmp_path.iterdir()) == []  # neither dest nor a temp file


async def test_create_after_lost_answer_returns_the_batch_it_made(make_client, caplog) -> None:
    created: list[dict[str, Any]] = []

    def create_then_time_out(request: httpx.Request) -> httpx.Response:
        created.append(_job("b-made"))
        raise httpx.ReadTimeout("scripted", request=request)

    others = [_job("b-old", PAST), {**_job("b-other-file"), "input_file_id": "file-other"}]
    wire = Wire(
        {
            ("POST", "/v1/batches"): create_then_time_out,
            ("GET", "/v1/batches"): lambda r: httpx.Response(200, json=[*others, *created]),
        }
    )
    client = make_client(BASE, wire.transport)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
        response = await call(client.batches.create(FILE_ID, known_batch_ids=["b-old"]))
    assert response.job.id == "b-made"
    assert len(wire.calls("POST", "/v1/batches")) == 1
    assert "b-made" in caplog.text and API_KEY not in caplog.text


async def test_create_never_adopts_a_known_batch_however_recent(make_client, sleeps) -> None:
    """Another run's batch on the same file, created a moment ago: the old 30 s window adopted it."""
    wire = Wire(
        {
            ("POST", "/v1/batches"): [answer(500, {"error": "boom"}), answer(201, {"job": _job("b-ours")})],
            ("GET", "/v1/batches"): answer(200, [_job("b-theirs", FUTURE)]),
        }
    )
    client = make_client(BASE, wire.transport)
    assert (await call(client.batches.create(FILE_ID, known_batch_ids={"b-theirs"}))).job.id == "b-ours"
    assert [r.method for r in wire.requests] == ["POST", "GET", "POST"]


async def test_create_refuses_to_guess_between_two_unknown_batches(make_client, sleeps) -> None:
    wire = Wire(
        {
            ("POST", "/v1/batches"): fail(httpx.ReadTimeout),
            ("GET", "/v1/batches"): answer(200, [_job("b-1"), _job("b-2"), _job("b-known", PAST)]),
        }
    )
    client = make_client(BASE, wire.transport)
    with pytest.raises(AmbiguousCreateError) as caught:
        await call(client.batches.create(FILE_ID, known_batch_ids=("b-known",)))
    assert caught.value.candidate_ids == ("b-1", "b-2") and caught.value.input_file_id == FILE_ID
    assert len(wire.calls("POST", "/v1/batches")) == 1


async def test_create_that_did_not_happen_and_may_not_be_retried_raises_the_original_error(
    make_client, sleeps
) -> None:
    wire = Wire(
        {
            ("POST", "/v1/batches"): answer(500, {"error": "boom"}),
            ("GET", "/v1/batches"): answer(200, None),
        }
    )
    client = make_client(BASE, wire.transport, max_retries=0)
    with pytest.raises(InternalServerError, match="boom"):
        await call(client.batches.create(FILE_ID))
    assert [r.method for r in wire.requests] == ["POST", "GET"]


AMBIGUOUS = [answer(500, {"error": "boom"}), answer(502), fail(httpx.RemoteProtocolError)]
NEVER_LANDED = [answer(429, {"error": "slow"}, **{"retry-after": "3"}), answer(503), fail(httpx.ConnectError)]


@pytest.mark.parametrize("first", AMBIGUOUS)
async def test_create_resends_after_ambiguous_failure_if_nothing_was_made(make_client, sleeps, first) -> None:
    wire = Wire(
        {
            ("POST", "/v1/batches"): [first, answer(201, {"job": _job("b-2"), "warning": None})],
            ("GET", "/v1/batches"): answer(200, None),
        }
    )
    client = make_client(BASE, wire.transport)
    assert (await call(client.batches.create(FILE_ID))).job.id == "b-2"
    assert [(r.method, r.url.path) for r in wire.requests] == [
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("POST", "/v1/batches"),
    ]
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("first", NEVER_LANDED)
async def test_create_resends_without_lookup_when_it_never_landed(make_client, sleeps, first) -> None:
    wire = Wire({("POST", "/v1/batches"): [first, answer(200, {"job": _job(), "warning": None})]})
    client = make_client(BASE, wire.transport)
    assert (await call(client.batches.create(FILE_ID, completion_window="24h", priority=1))).job.id == "b-1"
    assert [r.method for r in wire.requests] == ["POST", "POST"]
    assert json.loads(wire.bodies[1]) == {
        "input_file_id": FILE_ID,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "priority": 1,
    }


async def test_create_null_job_raises_with_the_warning(make_client) -> None:
    rejected = {"job": None, "warning": "validation failed: bad line 3"}
    wire = Wire({("POST", "/v1/batches"): answer(200, rejected)})
    client = make_client(BASE, wire.transport)
    with pytest.raises(BatchCreateRejectedError, match="bad line 3") as caught:
        await call(client.batches.create(FILE_ID))
    assert caught.value.input_file_id == FILE_ID


async def test_create_warning_is_logged(make_client, caplog) -> None:
    wire = Wire({("POST", "/v1/batches"): answer(201, {"job": _job(), "warning": "model overridden"})})
    client = make_client(BASE, wire.transport)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
        response = await call(client.batches.create(FILE_ID))
    assert response.warning == "model overridden" and "model overridden" in caplog.text


async def test_persistent_500_names_path_status_request_id_never_the_key(make_client, sleeps, caplog) -> None:
    wire = Wire({("GET", "/v1/batches/b-9"): answer(500, {"error": "db down"}, **{"x-request-id": "req-77"})})
    client = make_client(BASE, wire.transport)
    with (
        caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"),
        pytest.raises(InternalServerError) as caught,
    ):
        await call(client.batches.retrieve("b-9"))
    text = str(caught.value)
    assert "GET /batches/b-9" in text and "500" in text and "req-77" in text and API_KEY not in text
    assert len(wire.requests) == 5 and len(sleeps.delays) == 4
    assert caplog.text.count("Retrying GET /batches/b-9 after HTTP 500") == 4 and API_KEY not in caplog.text
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, []),
        ([], []),
        ([_job("a", status="IN_PROGRESS"), _job("b", status="SOMETHING_NEW")], ["IN_PROGRESS", "UNKNOWN"]),
    ],
)
async def test_batch_list_shapes(make_client, body: Any, expected: list[str]) -> None:
    wire = Wire({("GET", "/v1/batches"): answer(200, body)})
    client = make_client(BASE, wire.transport)
    jobs = await call(client.batches.list())
    assert [str(job.status) for job in jobs] == expected
    if len(jobs) == 2:
        assert jobs[1].status is BatchStatus.UNKNOWN and jobs[1].raw_status == "SOMETHING_NEW"


@pytest.mark.parametrize("content", [b"<html>oops</html>", b'{"job": 5}', b'[{"no_id": 1}]'])
async def test_unparseable_success_bodies_raise_validation_errors(make_client, content: bytes) -> None:
    wire = Wire({("GET", "/v1/batches/b-1"): lambda r: httpx.Response(200, content=content)})
    client = make_client(BASE, wire.transport)
    with pytest.raises(ResponseValidationError, match="GET /batches/b-1"):
        await call(client.batches.retrieve("b-1"))


async def test_refused_connection_is_retried_then_raised_without_the_key(make_client, sleeps) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(APIConnectionError) as caught:
        await call(client.files.list())
    assert str(caught.value).startswith("GET /files failed after 3 attempt(s): ConnectError")
    assert API_KEY not in str(caught.value) and caught.value.__cause__ is None
    assert len(sleeps.delays) == 2
