"""Injected faults, each observed by a plain httpx client; latency; fault statistics."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import Api, chat_line, jsonl, plain


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors(api: Api, together_server: LocalTogetherServer, kind: str) -> None:
    together_server.inject("GET /v1/batches", kind)
    first, second = api.http.get("/v1/batches"), api.http.get("/v1/batches")
    assert first.status_code == int(kind) and isinstance(first.json()["error"], str)
    assert second.status_code == 200
    assert together_server.stats()["faults_injected"] == {kind: 1}


def test_429_carries_retry_after_in_seconds_and_ms(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.inject("GET /v1/files/{id}", "429", times=2, retry_after=2)
    responses = [api.http.get("/v1/files/file-x") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 404]
    assert responses[0].headers["retry-after"] == "2" and responses[0].headers["retry-after-ms"] == "2000"
    assert set(responses[0].json()["error"]) == {"message", "type", "param", "code"}


def test_reset_drops_the_connection(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.inject("GET /v1/batches/{id}", "reset")
    with pytest.raises(httpx.TransportError):
        api.http.get("/v1/batches/some-id")
    assert api.http.get("/v1/batches/some-id").status_code == 404


def test_reset_after_handling_loses_the_answer_of_a_create(
    api: Api, together_server: LocalTogetherServer
) -> None:
    file_id = api.upload(jsonl([chat_line("a")]))["id"]
    together_server.inject("POST /v1/batches", "reset", after=True)
    with pytest.raises(httpx.TransportError):
        api.create(file_id)
    stats = together_server.stats()
    assert stats["batch_creates"] == 1 and stats["batches"][0]["input_file_id"] == file_id
    assert stats["faults_injected"] == {"reset": 1}


def test_truncate_sends_part_of_the_declared_body(api: Api, together_server: LocalTogetherServer) -> None:
    data = jsonl([chat_line(f"r{i}", "long text " * 200) for i in range(50)])
    file_id = api.upload(data)["id"]
    together_server.inject("GET /v1/files/{id}/content", "truncate")
    received = bytearray()
    with (
        pytest.raises(httpx.TransportError),
        api.http.stream("GET", f"/v1/files/{file_id}/content") as response,
    ):
        assert response.headers["content-length"] == str(len(data))
        for chunk in response.iter_raw():
            received += chunk
    assert 0 < len(received) < len(data) and data.startswith(bytes(received))
    assert api.http.get(f"/v1/files/{file_id}/content").content == data


def test_truncate_is_only_for_content() -> None:
    with pytest.raises(ValueError, match="only applies"):
        from airflow_provider_batch.testing.server.faults import ScriptedFault

        ScriptedFault(route="GET /v1/batches", kind="truncate")


def test_stall_delays_the_answer_past_a_client_timeout(
    api: Api, together_server: LocalTogetherServer
) -> None:
    together_server.inject("GET /v1/batches", "stall", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        api.http.get("/v1/batches", timeout=0.1)
    assert api.http.get("/v1/batches").status_code == 200  # other requests are not blocked by the stall


def test_put_route_can_be_faulted(api: Api, together_server: LocalTogetherServer) -> None:
    start = api.http.post("/v1/files", data={"purpose": "batch-api", "file_name": "a.jsonl"})
    together_server.inject("PUT /_uploads/{id}", "503")
    assert plain.put(start.headers["location"], content=b"{}\n").status_code == 503
    assert plain.put(start.headers["location"], content=b"{}\n").status_code == 200


def test_random_faults_are_seeded_and_never_hit_control(
    api: Api, together_server: LocalTogetherServer
) -> None:
    together_server.configure(fault_rate=0.5, fault_kinds=("500", "503"))
    first = [api.http.get("/v1/files").status_code for _ in range(30)]
    for _ in range(20):
        assert api.http.get("/_control/stats").status_code == 200
    together_server.clear_faults()
    together_server.configure(fault_rate=0.5, fault_kinds=("500", "503"))
    second = [api.http.get("/v1/files").status_code for _ in range(30)]
    assert first == second and {500, 503, 200} == set(first)
    faults = together_server.stats()["faults_injected"]
    assert sum(faults.values()) == sum(code != 200 for code in first + second)


def test_wildcard_script_hits_the_next_request_of_any_route(
    api: Api, together_server: LocalTogetherServer
) -> None:
    together_server.inject("*", "502")
    assert api.http.get("/v1/files").status_code == 502
    assert api.http.get("/v1/files").status_code == 200


def test_unknown_route_or_kind_is_refused(together_server: LocalTogetherServer) -> None:
    with pytest.raises(ValueError):
        together_server.inject("GET /v1/nope", "500")
    with pytest.raises(ValueError):
        together_server.inject("*", "418")


def test_latency_applies_to_api_requests(api: Api, together_server: LocalTogetherServer) -> None:
    together_server.configure(latency_ms=5000)
    with pytest.raises(httpx.ReadTimeout):
        api.http.get("/v1/batches", timeout=0.3)
    assert api.http.get("/_control/stats", timeout=3).status_code == 200


def test_stats_count_requests_per_route_template(api: Api, together_server: LocalTogetherServer) -> None:
    api.http.get("/v1/batches/a")
    api.http.get("/v1/batches/b")
    api.http.get("/v1/batches")
    assert together_server.stats()["requests"] == {"GET /v1/batches/{id}": 2, "GET /v1/batches": 1}
