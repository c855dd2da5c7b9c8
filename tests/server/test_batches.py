"""Batch life cycle over loopback HTTP: create, poll, complete, fail, expire, cancel, list."""

from __future__ import annotations

import json
import math
import re

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import CHAT, MODEL, Api, chat_line, jsonl

JOB_KEYS = {
    "id",
    "user_id",
    "input_file_id",
    "file_size_bytes",
    "status",
    "job_deadline",
    "created_at",
    "endpoint",
    "progress",
    "model_id",
    "output_file_id",
    "error_file_id",
    "error",
    "completed_at",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_answers_201_with_a_validating_job(api: Api) -> None:
    file_id = api.upload(jsonl([chat_line("a")]))["id"]
    response = api.create(file_id)
    assert response.status_code == 201
    body = response.json()
    assert body["warning"] is None
    job = body["job"]
    assert set(job) == JOB_KEYS
    assert job["status"] == "VALIDATING" and job["progress"] == 0.0 and job["input_file_id"] == file_id
    assert STAMP.match(job["created_at"]) and STAMP.match(job["job_deadline"])
    assert job["output_file_id"] is job["error_file_id"] is job["error"] is job["completed_at"] is None
    assert re.fullmatch(r"[0-9a-f-]{36}", job["id"]) and re.fullmatch(r"[0-9a-f]{24}", job["user_id"])


def test_job_deadline_is_created_plus_the_completion_window(api: Api) -> None:
    from datetime import datetime

    job = api.submit([chat_line("a")])
    created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(job["job_deadline"].replace("Z", "+00:00"))
    assert (deadline - created).total_seconds() == pytest.approx(86400, abs=1e-3)


def test_completed_batch_delivers_every_line_shuffled(api: Api) -> None:
    lines = [chat_line(f"req-{i}", f"Question number {i}?") for i in range(40)]
    seen = set()
    submitted = api.submit(lines)
    while (job := api.batch(submitted["id"]))["status"] != "COMPLETED":
        seen.add(job["status"])
        assert job["status"] in {"VALIDATING", "IN_PROGRESS"} and 0.0 <= job["progress"] <= 100.0
    assert "IN_PROGRESS" in seen
    assert job["progress"] == 100.0 and STAMP.match(job["completed_at"]) and job["model_id"] == MODEL
    output, errors = api.lines(job["output_file_id"]), api.lines(job["error_file_id"])
    assert errors == []
    ids = [line["custom_id"] for line in output]
    assert sorted(ids) == sorted(line["custom_id"] for line in lines)
    assert ids != [line["custom_id"] for line in lines]
    for line in output:
        assert set(line) == {"id", "custom_id", "response"}
        assert re.fullmatch(r"br_[A-Za-z0-9_-]{43}", line["id"])
        assert line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == MODEL
        assert body["choices"][0]["message"]["content"].startswith("[simulated]")
    for file_id in (job["output_file_id"], job["error_file_id"]):
        assert api.http.get(f"/v1/files/{file_id}").json()["purpose"] == "batch-generated"


def test_shuffle_is_deterministic_for_a_seed(api: Api, together_server: LocalTogetherServer) -> None:
    lines = [chat_line(f"req-{i}") for i in range(20)]
    first = [line["custom_id"] for line in api.run(lines)[1]]
    together_server.reset()
    second = [line["custom_id"] for line in api.run(lines)[1]]
    assert first == second


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        (b"{not json", "line 2: not valid JSON"),
        (b"[1, 2]", "line 2: expected a JSON object"),
        (b'{"body": {}}', "line 2: custom_id must be a non-empty string"),
        (b'{"custom_id": 7, "body": {}}', "line 2: custom_id must be a non-empty string"),
        (b'{"custom_id": "' + b"x" * 65 + b'", "body": {}}', "line 2: custom_id is longer than 64"),
        (b'{"custom_id": "a", "body": {}}', "line 2: duplicate custom_id 'a'"),
        (b'{"custom_id": "b"}', "line 2: body must be a JSON object"),
    ],
)
def test_malformed_line_fails_the_batch(api: Api, bad_line: bytes, expected: str) -> None:
    job = api.wait(api.submit([chat_line("a"), bad_line, chat_line("c")])["id"])
    assert job["status"] == "FAILED"
    assert job["error"].startswith("validation failed: " + expected)
    assert job["output_file_id"] is None and job["error_file_id"] is None


def test_too_many_lines_and_too_many_bytes_fail_the_batch(
    api: Api, together_server: LocalTogetherServer
) -> None:
    together_server.configure(max_lines=3)
    job = api.wait(api.submit([chat_line(str(i)) for i in range(4)])["id"])
    assert job["status"] == "FAILED" and "line 4: more than 3 requests" in job["error"]
    together_server.configure(max_lines=50_000, max_bytes=300)
    job = api.wait(api.submit([chat_line(str(i)) for i in range(4)])["id"])
    assert job["status"] == "FAILED" and re.search(r"line \d: input file exceeds 300 bytes", job["error"])


def test_an_oversized_line_fails_alone(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.configure(max_line_bytes=200)
    job, output, errors = api.run([chat_line("small"), chat_line("huge", "word " * 100)])
    assert job["status"] == "COMPLETED"
    assert [line["custom_id"] for line in output] == ["small"]
    assert errors == [
        {"custom_id": "huge", "error": {"message": "error reading input file", "code": "invalid_request"}}
    ]


@pytest.mark.parametrize(
    "file_id, purpose, reason",
    [
        ("file-unknown", None, "not found"),
        (None, "fine-tune", "purpose 'fine-tune'"),
        (None, None, "not been uploaded"),
    ],
)
def test_unusable_input_gives_a_null_job_and_a_warning(
    api: Api, file_id: str | None, purpose: str | None, reason: str
) -> None:
    if file_id is None and purpose:
        file_id = api.upload(jsonl([chat_line("a")]), purpose=purpose)["id"]
    elif file_id is None:
        file_id = api.http.post("/v1/files", data={"purpose": "batch-api", "file_name": "x.jsonl"}).headers[
            "x-together-file-id"
        ]
    response = api.create(file_id)
    assert response.status_code == 200  # deliberate: see the server's module docstring
    body = response.json()
    assert (
        body["job"] is None
        and body["warning"].startswith("validation failed: ")
        and reason in body["warning"]
    )
    assert api.server.stats()["batch_creates"] == 0


@pytest.mark.parametrize(
    "payload", [{"endpoint": CHAT}, {"input_file_id": "f", "endpoint": "/v1/embeddings"}]
)
def test_bad_create_requests_are_400_with_a_string_error(api: Api, payload: dict[str, str]) -> None:
    response = api.http.post("/v1/batches", json=payload)
    assert response.status_code == 400 and isinstance(response.json()["error"], str)


def test_expired_batch_delivers_only_finished_requests(
    api: Api, together_server: LocalTogetherServer
) -> None:
    together_server.configure(processing_seconds=1.0, completion_window_seconds=0.5)
    lines = [chat_line(f"r{i}") for i in range(30)] + [chat_line("bad", model="no/such-model")]
    lines[-1]["body"]["model"] = "no/such-model"
    job, output, errors = api.run(lines)
    assert job["status"] == "EXPIRED" and 0.0 < job["progress"] < 100.0
    delivered = [line["custom_id"] for line in output + errors]
    assert len(delivered) == math.floor(len(lines) * job["progress"] / 100.0)
    assert len(set(delivered)) == len(delivered) and 0 < len(delivered) < len(lines)


def test_cancel_goes_through_canceling_to_cancelled(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.configure(processing_seconds=2.0, cancel_seconds=0.2)
    job = api.wait(api.submit([chat_line(f"r{i}") for i in range(20)])["id"], {"IN_PROGRESS"})
    cancel = api.http.post(f"/v1/batches/{job['id']}/cancel")
    assert (
        cancel.status_code == 200
        and cancel.json()["status"] == "CANCELING"
        and set(cancel.json()) == JOB_KEYS
    )
    final = api.wait(job["id"])
    assert final["status"] == "CANCELLED"
    delivered = api.lines(final["output_file_id"]) + api.lines(final["error_file_id"])
    assert len(delivered) == math.floor(20 * final["progress"] / 100.0) < 20
    again = api.http.post(f"/v1/batches/{job['id']}/cancel")
    assert again.status_code == 400 and "cannot be cancelled" in again.json()["error"]


def test_unknown_batch_is_404_with_a_string_error(api: Api) -> None:
    for response in (api.http.get("/v1/batches/nope"), api.http.post("/v1/batches/nope/cancel")):
        assert response.status_code == 404 and response.json() == {"error": "batch nope not found"}


def test_list_is_null_when_empty_then_a_bare_array_newest_first(
    api: Api, together_server: LocalTogetherServer
) -> None:
    assert api.http.get("/v1/batches").text == "null"
    together_server.configure(list_null_when_empty=False)
    assert api.http.get("/v1/batches").json() == []
    first, second = api.submit([chat_line("a")]), api.submit([chat_line("b")])
    listed = api.http.get("/v1/batches").json()
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert all(set(job) == JOB_KEYS for job in listed)


@pytest.mark.parametrize("status", ["EXPIRED", "FAILED", "COMPLETED", "CANCELLED"])
def test_force_status_ends_a_batch_now(api: Api, together_server: LocalTogetherServer, status: str) -> None:
    together_server.configure(processing_seconds=30.0)
    job = api.submit([chat_line("a")])
    together_server.force_status(job["id"], status)
    final = api.batch(job["id"])
    assert final["status"] == status and final["completed_at"] is not None
    assert (final["output_file_id"] is None) == (status == "FAILED")


def test_request_ids_on_every_response(api: Api) -> None:
    for response in (api.http.get("/v1/batches"), api.http.get("/_control/stats")):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        assert response.headers["cf-ray"]


def test_odd_but_valid_bodies_do_not_break_the_worker(api: Api) -> None:
    weird_schema = {"type": "json_schema", "json_schema": {"schema": {"type": "array", "minItems": "two"}}}
    lines = [
        {"custom_id": "a", "body": {"model": MODEL, "messages": "not a list"}},
        {
            "custom_id": "b",
            "body": {"model": ["a", "list"], "messages": [None, 3, {"content": [{"type": "x"}]}]},
        },
        chat_line("c", response_format=weird_schema),
    ]
    job, output, errors = api.run(lines)
    assert job["status"] == "COMPLETED"
    assert sorted(line["custom_id"] for line in output) == ["a", "c"]
    assert [(line["custom_id"], line["error"]["code"]) for line in errors] == [("b", "invalid_model")]
    content = output[[line["custom_id"] for line in output].index("c")]["response"]["body"]["choices"][0]
    assert isinstance(json.loads(content["message"]["content"]), list)


def test_cancel_while_validating_delivers_nothing(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.configure(validating_seconds=5.0)
    job = api.submit([chat_line("a"), chat_line("b")])
    assert api.http.post(f"/v1/batches/{job['id']}/cancel").json()["status"] == "CANCELING"
    final = api.wait(job["id"])
    assert final["status"] == "CANCELLED" and final["progress"] == 0.0
    assert api.lines(final["output_file_id"]) == [] and api.lines(final["error_file_id"]) == []
