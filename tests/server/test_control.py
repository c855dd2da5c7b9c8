"""The ``/_control`` HTTP API, the HTML status page, the Python handle and the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airflow_provider_batch.testing.server import ControlClient, LocalTogetherServer, ServerConfig
from tests.server.helpers import Api, chat_line, plain


@pytest.fixture
def control(together_server: LocalTogetherServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{together_server.root_url}/_control",
        timeout=10,
        verify=False,
        headers={"Authorization": f"Bearer {together_server.api_key}"},
    ) as client:
        yield client


def test_stats_and_reset(api: Api, control: httpx.Client) -> None:
    # Long enough that the batch is still VALIDATING when stats are read on a loaded machine.
    assert control.post("/config", json={"validating_seconds": 30}).status_code == 200
    job = api.submit([chat_line("a")])
    stats = control.get("/stats").json()
    assert stats["uploads"] == 1 and stats["batch_creates"] == 1
    assert stats["batches"] == [
        {
            "id": job["id"],
            "input_file_id": job["input_file_id"],
            "status": "VALIDATING",
            "created_at": job["created_at"],
        }
    ]
    assert stats["requests"] == {"POST /v1/files/upload": 1, "POST /v1/batches": 1}
    assert control.post("/reset", json={}).json() == {"reset": True}
    after = control.get("/stats").json()
    assert after["uploads"] == after["batch_creates"] == 0 and after["batches"] == []
    assert api.http.get(f"/v1/batches/{job['id']}").status_code == 404


def test_config_changes_apply_and_bad_values_are_refused(api: Api, control: httpx.Client) -> None:
    body = control.post("/config", json={"list_null_when_empty": False, "processing_seconds": 0.1}).json()
    assert body["processing_seconds"] == 0.1 and "api_key" not in body
    assert api.http.get("/v1/batches").json() == []
    assert control.post("/config", json={"fault_rate": 3}).status_code == 400
    assert control.post("/config", json={"no_such_field": 1}).status_code == 400
    assert control.post("/config", json={"data_dir": "/tmp"}).status_code == 403


def test_fault_script_and_rate(api: Api, control: httpx.Client) -> None:
    script = [{"route": "GET /v1/batches", "kind": "429", "times": 1, "retry_after": 3}]
    assert control.post("/faults", json={"script": script}).json() == {"scripted": 1}
    limited = api.http.get("/v1/batches")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    control.post("/faults", json={"rate": 1.0, "kinds": ["503"]})
    assert api.http.get("/v1/batches").status_code == 503
    assert control.get("/stats").json()["faults_injected"] == {"429": 1, "503": 1}
    assert control.post("/faults", json={"kinds": ["teapot"]}).status_code == 400


def test_force_status_over_http(
    api: Api, control: httpx.Client, together_server: LocalTogetherServer
) -> None:
    together_server.configure(processing_seconds=30)
    job = api.submit([chat_line("a")])
    forced = control.post(f"/batches/{job['id']}/status", json={"status": "EXPIRED"})
    assert forced.status_code == 200 and forced.json()["status"] == "EXPIRED"
    assert api.batch(job["id"])["status"] == "EXPIRED"
    assert control.post("/batches/nope/status", json={"status": "EXPIRED"}).status_code == 404
    assert control.post(f"/batches/{job['id']}/status", json={"status": "VALIDATING"}).status_code == 400


def test_status_page(api: Api, together_server: LocalTogetherServer) -> None:
    job = api.wait(api.submit([chat_line("a")])["id"])
    page = plain.get(f"{together_server.root_url}/batches/{job['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert job["id"] in page.text and "COMPLETED" in page.text and job["output_file_id"] in page.text
    assert together_server.api_key not in page.text
    assert str(together_server.controller.store.root) not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert plain.get(f"{together_server.root_url}/batches/nope").status_code == 404
    index = plain.get(f"{together_server.root_url}/batches")
    assert f'href="/batches/{job["id"]}"' in index.text and "COMPLETED" in index.text


def test_handle_records_and_restore_defaults(api: Api, together_server: LocalTogetherServer) -> None:
    job = api.submit([chat_line("a")])
    assert [b["id"] for b in together_server.batches()] == [job["id"]]
    assert [f["id"] for f in together_server.files()] == [job["input_file_id"]]
    together_server.configure(latency_ms=5)
    together_server.restore_defaults()
    assert together_server.config.latency_ms == 0
    assert together_server.base_url == together_server.root_url + "/v1"
    assert together_server.api_key not in repr(together_server) + repr(together_server.config)


def test_access_log_has_no_secrets(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = ServerConfig(api_key="sekrit-key", access_log=str(log), data_dir=str(tmp_path / "data"))
    with LocalTogetherServer(config) as server:
        plain.get(f"{server.base_url}/batches", headers={"Authorization": "Bearer sekrit-key"})
        plain.get(f"{server.base_url}/batches", headers={"Authorization": "Bearer wrong"})
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/v1/batches", 200),
        ("GET", "/v1/batches", 401),
    ]
    assert all(len(e["request_id"]) == 32 and e["duration_ms"] >= 0 for e in entries)
    assert "sekrit" not in log.read_text() and "Bearer" not in log.read_text()
    assert (tmp_path / "data").is_dir()


def test_control_client_drives_the_http_api(api: Api, together_server: LocalTogetherServer) -> None:
    control = ControlClient(together_server.base_url, together_server.api_key)
    assert control.configure(processing_seconds=30)["processing_seconds"] == 30
    job = api.submit([chat_line("a")])
    assert control.set_faults(script=[{"route": "GET /v1/files", "kind": "503"}]) == 1
    assert api.http.get("/v1/files").status_code == 503 and control.set_faults() == 0
    assert control.force_status(job["id"], "CANCELLED")["status"] == "CANCELLED"
    assert control.stats()["batch_creates"] == 1
    control.reset()
    assert ControlClient(together_server.root_url, together_server.api_key).stats()["batches"] == []
    with pytest.raises(httpx.HTTPStatusError) as refused:
        control.configure(api_key="other-key")
    assert refused.value.response.status_code == 403 and together_server.api_key not in str(refused.value)
    with pytest.raises(httpx.HTTPStatusError) as unauthorized:
        ControlClient(together_server.base_url, "wrong-key").stats()
    assert unauthorized.value.response.status_code == 401


def test_status_aliases_and_omitted_line_fields(api: Api, control: httpx.Client) -> None:
    """The two knobs the doctor's tests use: a status renamed on the wire, a field left out of lines."""
    body = {"status_aliases": {"COMPLETED": "DONE"}, "omit_line_fields": ["response.body.usage", "id"]}
    assert control.post("/config", json=body).status_code == 200
    assert control.post("/config", json={"status_aliases": {"NOPE": "X"}}).status_code == 400
    job = api.wait(api.submit([chat_line("a")])["id"], statuses={"DONE"})
    [line] = api.lines(job["output_file_id"])
    assert line["custom_id"] == "a" and "id" not in line and "usage" not in line["response"]["body"]
