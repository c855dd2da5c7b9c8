"""The Anthropic emulation on the wire: authentication and ``anthropic-version``, error shapes,
the create's limits, prompt caching and structured output in the answers, and the shared control
plane and faults on its routes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from airflow_provider_batch.testing.server.process import server_process
from tests.server.anthropic.conftest import VERSION, poll, request

_BATCHES = "/messages/batches"


def _create(http: httpx.Client, requests: list[dict[str, Any]]) -> dict[str, Any]:
    answer = http.post(_BATCHES, json={"requests": requests})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _ended(http: httpx.Client, batch_id: str) -> dict[str, Any]:
    batch, _ = poll(lambda: http.get(f"{_BATCHES}/{batch_id}").json())
    return batch  # type: ignore[no-any-return]


def _results(http: httpx.Client, batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answer = http.get(batch["results_url"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/binary"
    lines = [json.loads(line) for line in answer.text.splitlines()]
    return {line["custom_id"]: line["result"] for line in lines}


@pytest.mark.parametrize(
    ("headers", "status", "kind", "message"),
    [
        ({"x-api-key": "local-test-key", "anthropic-version": VERSION}, 200, None, None),
        ({"authorization": "Bearer local-test-key", "anthropic-version": "2026-10-21"}, 200, None, None),
        ({"anthropic-version": VERSION}, 401, "authentication_error", "x-api-key header is required"),
        (
            {"x-api-key": "nope", "anthropic-version": VERSION},
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        # x-api-key, when sent, decides alone
        (
            {"x-api-key": "nope", "authorization": "Bearer local-test-key", "anthropic-version": VERSION},
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        (
            {"x-api-key": "local-test-key"},
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ),
        ({"authorization": "Bearer local-test-key"}, 400, "invalid_request_error", "anthropic-version"),
    ],
)
def test_authentication_and_version(
    server: LocalTogetherServer, headers: dict[str, str], status: int, kind: str | None, message: str | None
) -> None:
    answer = httpx.get(server.base_url + _BATCHES, headers=headers)
    assert answer.status_code == status
    assert answer.headers["request-id"].startswith("req_")
    if kind is not None:
        body = answer.json()
        assert (
            body["type"] == "error" and body["error"]["type"] == kind and message in body["error"]["message"]
        )
        assert body["request_id"] == answer.headers["request-id"]
        assert "local-test-key" not in answer.text


def test_unknown_route_and_method_have_anthropic_error_shapes(http: httpx.Client) -> None:
    missing = http.get("/messages/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = http.put(_BATCHES)
    assert wrong.status_code == 405 and wrong.json()["type"] == "error"


def test_limits_of_one_create(server: LocalTogetherServer, http: httpx.Client) -> None:
    server.configure(max_lines=3, max_bytes=4000)
    too_many = http.post(_BATCHES, json={"requests": [request(f"r{i}", "x") for i in range(4)]})
    assert too_many.status_code == 400 and "at most 3 items" in too_many.json()["error"]["message"]
    too_big = http.post(_BATCHES, json={"requests": [request("big", "x" * 5000)]})
    assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "request_too_large"
    for body in ({}, {"requests": []}, {"requests": [{"custom_id": "a"}]}, {"requests": ["a"]}):
        refused = http.post(_BATCHES, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert http.post(_BATCHES, content=b"{not json").status_code == 400
    assert server.stats()["batch_creates"] == 0
    server.restore_defaults()
    assert (
        http.post(_BATCHES, json={"requests": [request(f"r{i}", "x") for i in range(4)]}).status_code == 200
    )


def test_prompt_caching_writes_once_then_reads(http: httpx.Client) -> None:
    long_system = [{"type": "text", "text": "policy " * 1100, "cache_control": {"type": "ephemeral"}}]
    hour = [{"type": "text", "text": "rules " * 1100, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    requests = [request(f"c{i}", f"question {i}", system=long_system) for i in range(3)]
    requests.append(
        request(
            "short", "q", system=[{"type": "text", "text": "tiny", "cache_control": {"type": "ephemeral"}}]
        )
    )
    requests.append(request("hour", "q", system=hour))
    batch = _ended(http, _create(http, requests)["id"])

    usage = {cid: result["message"]["usage"] for cid, result in _results(http, batch).items()}

    assert [usage[f"c{i}"]["cache_creation_input_tokens"] for i in range(3)] == [1100, 0, 0]
    assert [usage[f"c{i}"]["cache_read_input_tokens"] for i in range(3)] == [0, 1100, 1100]
    assert usage["c0"]["input_tokens"] == usage["c1"]["input_tokens"] == 2  # "question N" after the prefix
    assert usage["c0"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 1100,
        "ephemeral_1h_input_tokens": 0,
    }
    assert usage["hour"]["cache_creation"]["ephemeral_1h_input_tokens"] == 1100
    assert usage["short"]["cache_creation_input_tokens"] == usage["short"]["cache_read_input_tokens"] == 0
    assert {u["service_tier"] for u in usage.values()} == {"batch"}


def test_structured_output_fits_the_schema(http: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["label", "score"], "additionalProperties": False}  # fmt: skip
    requests = [
        request("new", "classify", output_config={"format": {"type": "json_schema", "schema": schema}}),
        request("beta", "classify", output_format={"type": "json_schema", "schema": schema}),
    ]
    results = _results(http, _ended(http, _create(http, requests)["id"]))
    for result in results.values():
        value = json.loads(result["message"]["content"][0]["text"])
        assert isinstance(value["label"], str) and isinstance(value["score"], int)


def test_markers_give_errored_results_of_that_type(server: LocalTogetherServer, http: httpx.Client) -> None:
    requests = [
        request("hard", "x [[fail:overloaded_error]]"),
        request("odd", "x [[fail:weird]]"),
        request("flaky", "x [[fail-once:overloaded_error]]"),
    ]
    first = _results(http, _ended(http, _create(http, requests)["id"]))
    assert first["hard"]["error"]["error"]["type"] == "overloaded_error"
    assert first["odd"]["error"]["error"]["type"] == "invalid_request_error"
    assert first["flaky"]["error"] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "simulated transient failure: overloaded_error"},
    }
    again = _results(http, _ended(http, _create(http, [requests[2]])["id"]))
    assert again["flaky"]["type"] == "succeeded"


def test_omitted_line_fields_are_left_out(server: LocalTogetherServer, http: httpx.Client) -> None:
    server.configure(omit_line_fields=("result.message.usage.cache_read_input_tokens", "result.message.id"))
    (result,) = _results(http, _ended(http, _create(http, [request("a", "x")])["id"])).values()
    assert "id" not in result["message"] and "cache_read_input_tokens" not in result["message"]["usage"]
    assert result["message"]["usage"]["input_tokens"] == 1


@pytest.mark.parametrize(
    ("status", "unrun"), [("EXPIRED", "expired"), ("CANCELLED", "canceled"), ("FAILED", "errored")]
)
def test_forced_end_delivers_what_finished(
    server: LocalTogetherServer, http: httpx.Client, status: str, unrun: str
) -> None:
    server.configure(processing_seconds=30.0)
    created = _create(http, [request(f"f{i}", "x") for i in range(4)])

    server.force_status(created["id"], status)

    batch = _ended(http, created["id"])
    assert batch["request_counts"][unrun] == 4 and batch["request_counts"]["processing"] == 0
    results = _results(http, batch)
    assert {r["type"] for r in results.values()} == {unrun}
    if unrun == "errored":
        assert {r["error"]["error"]["type"] for r in results.values()} == {"api_error"}


def test_injected_faults_have_anthropic_shapes(server: LocalTogetherServer, http: httpx.Client) -> None:
    server.inject("POST /v1/messages/batches", "429", retry_after=3)
    limited = http.post(_BATCHES, json={"requests": [request("a", "x")]})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert server.stats()["batch_creates"] == 0
    server.inject("GET /v1/messages/batches", "503")
    failed = http.get(_BATCHES)
    assert failed.status_code == 503 and failed.json()["error"]["type"] == "api_error"
    server.inject("POST /v1/messages/batches", "500", after=True)  # the create happens, its answer is lost
    assert http.post(_BATCHES, json={"requests": [request("a", "x")]}).status_code == 500
    assert server.stats()["batch_creates"] == 1 and len(http.get(_BATCHES).json()["data"]) == 1
    assert server.stats()["faults_injected"] == {"429": 1, "503": 1, "500": 1}


def test_truncated_results_are_a_short_read(server: LocalTogetherServer, http: httpx.Client) -> None:
    batch = _ended(http, _create(http, [request(f"t{i}", "x") for i in range(20)])["id"])
    server.inject("GET /v1/messages/batches/{id}/results", "truncate", fraction=0.5)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(batch["results_url"])
    assert len(_results(http, batch)) == 20


def test_results_cancel_and_delete_follow_the_status(server: LocalTogetherServer, http: httpx.Client) -> None:
    server.configure(processing_seconds=30.0)
    created = _create(http, [request("a", "x")])
    early = http.get(f"{_BATCHES}/{created['id']}/results")
    assert early.status_code == 400 and early.json()["error"]["type"] == "invalid_request_error"
    assert http.post(f"{_BATCHES}/{created['id']}/cancel").json()["processing_status"] == "canceling"
    again = http.post(f"{_BATCHES}/{created['id']}/cancel").json()  # canceling twice changes nothing
    assert again["processing_status"] in ("canceling", "ended")
    _ended(http, created["id"])
    assert http.delete(f"{_BATCHES}/{created['id']}").json()["type"] == "message_batch_deleted"
    assert http.delete(f"{_BATCHES}/{created['id']}").status_code == 404
    assert server.stats()["files"] == 0  # the requests and results went with it


def test_list_refuses_bad_paging(http: httpx.Client) -> None:
    for query in ("limit=0", "limit=1001", "limit=x", "after_id=msgbatch_01none", "after_id=a&before_id=b"):
        refused = http.get(f"{_BATCHES}?{query}")
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error", (
            query
        )
    assert http.get(f"{_BATCHES}?limit=1000").json() == {
        "data": [],
        "has_more": False,
        "first_id": None,
        "last_id": None,
    }


def test_command_line_serves_anthropic() -> None:
    with server_process("cli-key", "--vendor", "anthropic", "--processing-seconds", "0") as base_url:
        headers = {"x-api-key": "cli-key", "anthropic-version": VERSION}
        created = httpx.post(base_url + _BATCHES, headers=headers, json={"requests": [request("a", "hi")]})
        assert created.status_code == 200 and created.json()["type"] == "message_batch"
        control = httpx.get(
            base_url.removesuffix("/v1") + "/_control/stats", headers={"authorization": "Bearer cli-key"}
        )
        assert control.json()["batch_creates"] == 1
