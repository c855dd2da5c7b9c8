"""The local server is safe on a developer's laptop: an authenticated, JSON-only control API that
cannot touch the key or any path, a loud warning off loopback, fresh ids on every start."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig
from tests.server.helpers import Api, chat_line, plain

#: Every control route, with a body that would change something if it were accepted.
CONTROL_CALLS = [
    ("GET", "/_control/stats", None),
    ("POST", "/_control/reset", {}),
    ("POST", "/_control/config", {"latency_ms": 5}),
    ("POST", "/_control/faults", {"rate": 1.0, "kinds": ["503"]}),
    ("POST", "/_control/batches/{id}/status", {"status": "COMPLETED"}),
]
ROUTE_IDS = [call[1] for call in CONTROL_CALLS]
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def pending(api: Api, together_server: LocalTogetherServer) -> Iterator[str]:
    """A batch that stays VALIDATING; afterwards, the server must be exactly as it was."""
    together_server.configure(validating_seconds=30)
    job = api.submit([chat_line("a")])
    before = together_server.config.model_copy()
    yield job["id"]
    assert together_server.config == before
    assert [(b["id"], b["status"]) for b in together_server.batches()] == [(job["id"], "VALIDATING")]


@pytest.mark.parametrize(
    "headers",
    [{}, _bearer("wrong-key"), {"Authorization": "local-test-key"}],
    ids=["none", "wrong", "not-bearer"],
)
@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS, ids=ROUTE_IDS)
def test_control_routes_refuse_a_request_without_the_key(
    together_server: LocalTogetherServer,
    pending: str,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
) -> None:
    url = together_server.root_url + path.format(id=pending)
    response = plain.request(method, url, json=body, headers=headers)
    assert response.status_code == 401 and "Authorization: Bearer" in response.json()["error"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS[1:], ids=ROUTE_IDS[1:])
def test_control_routes_accept_only_json_bodies(
    together_server: LocalTogetherServer,
    pending: str,
    method: str,
    path: str,
    body: object,
    content_type: str | None,
) -> None:
    headers = _bearer(together_server.api_key)
    if content_type:
        headers["Content-Type"] = content_type
    url = together_server.root_url + path.format(id=pending)
    response = plain.request(method, url, headers=headers, content=json.dumps(body).encode())
    assert response.status_code == 415 and "application/json" in response.json()["error"]


def test_json_with_parameters_is_accepted(together_server: LocalTogetherServer) -> None:
    headers = {**_bearer(together_server.api_key), "Content-Type": "Application/JSON; charset=utf-8"}
    url = f"{together_server.root_url}/_control/config"
    assert plain.post(url, content=b'{"latency_ms": 1}', headers=headers).status_code == 200
    assert together_server.config.latency_ms == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("api_key", "attacker-key"), ("access_log", "~/.bashrc"), ("data_dir", "/tmp/elsewhere")],
)
def test_key_and_paths_cannot_be_changed_over_the_control_api(
    together_server: LocalTogetherServer, tmp_path: Path, field: str, value: str
) -> None:
    key = _bearer(together_server.api_key)
    before = together_server.config.model_copy()
    response = plain.post(
        f"{together_server.root_url}/_control/config", headers=key, json={field: value, "latency_ms": 7}
    )
    assert response.status_code == 403
    assert field in response.json()["error"] and "fixed" in response.json()["error"]
    assert value not in response.text
    assert together_server.config == before  # nothing applied, not even the allowed field
    assert plain.get(f"{together_server.base_url}/batches", headers=key).status_code == 200


def test_every_secret_or_path_setting_is_fixed_over_http() -> None:
    from airflow_provider_batch.testing.server.control import STARTUP_ONLY_FIELDS

    suspicious = {
        name
        for name, info in ServerConfig.model_fields.items()
        if "Secret" in str(info.annotation) or re.search(r"(key|token|dir|log|path|file)$", name)
    }
    assert suspicious <= STARTUP_ONLY_FIELDS
    assert {"api_key", "access_log", "data_dir"} <= STARTUP_ONLY_FIELDS


def test_a_non_loopback_bind_warns_on_stderr_and_in_the_log(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    config = ServerConfig(api_key="sekrit-wide-open-key")
    with caplog.at_level(logging.WARNING), LocalTogetherServer(config, host="0.0.0.0") as server:
        assert (
            plain.get(
                f"http://127.0.0.1:{server.port}/v1/batches", headers=_bearer("sekrit-wide-open-key")
            ).status_code
            == 200
        )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "0.0.0.0" in r.getMessage()]
    assert len(warnings) == 1 and "loopback" in warnings[0].getMessage()
    assert warnings[0].name.startswith("airflow_provider_batch.testing.server")
    err = capfd.readouterr().err
    assert "0.0.0.0" in err and "warning" in err.lower()  # the log format differs between Airflow versions
    assert "sekrit" not in err + caplog.text


def test_a_loopback_bind_does_not_warn(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING), LocalTogetherServer(ServerConfig(), host="127.0.0.1"):
        pass
    assert not [r for r in caplog.records if r.name.startswith("airflow_provider_batch")]
    assert "loopback" not in capfd.readouterr().err


def _ids_of_one_run(config: ServerConfig) -> set[str]:
    with LocalTogetherServer(config) as server:
        api = Api(server)
        job = api.run([chat_line("a"), chat_line("b")])[0]
        api.http.close()
    assert UUID4.fullmatch(job["id"])
    file_ids = {job["input_file_id"], job["output_file_id"], job["error_file_id"]}
    for file_id in file_ids:
        assert file_id.startswith("file-") and UUID4.fullmatch(file_id.removeprefix("file-"))
    return {job["id"], *file_ids}


@pytest.mark.parametrize("same_data_dir", [False, True], ids=["own-data-dir", "same-data-dir"])
def test_each_start_hands_out_fresh_ids(tmp_path: Path, same_data_dir: bool) -> None:
    timings = {"validating_seconds": 0, "processing_seconds": 0, "seed": 3}
    data_dir = str(tmp_path / "data") if same_data_dir else None
    first = _ids_of_one_run(ServerConfig(data_dir=data_dir, **timings))
    second = _ids_of_one_run(ServerConfig(data_dir=data_dir, **timings))
    assert len(first) == len(second) == 4 and first.isdisjoint(second)


def test_ids_are_fresh_after_a_reset(api: Api, together_server: LocalTogetherServer) -> None:
    first = api.submit([chat_line("a")])
    together_server.reset()
    second = api.submit([chat_line("a")])
    assert first["id"] != second["id"] and first["input_file_id"] != second["input_file_id"]
    assert uuid.UUID(second["id"]).version == 4


def test_the_key_never_reaches_a_response_or_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    key = "sk-" + uuid.uuid4().hex
    log = tmp_path / "access.log"
    config = ServerConfig(api_key=key, access_log=str(log), validating_seconds=0, processing_seconds=0)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG), LocalTogetherServer(config, host="0.0.0.0") as server:
        api = Api(server)
        job = api.run([chat_line("a")])[0]
        root, good = f"http://127.0.0.1:{server.port}", _bearer(key)
        responses = [
            plain.get(f"{root}/_control/stats", headers=good),
            plain.get(f"{root}/_control/stats"),
            plain.get(f"{root}/_control/stats", headers=_bearer(key + "x")),
            plain.post(f"{root}/_control/config", headers=good, json={"latency_ms": 0}),
            plain.post(f"{root}/_control/config", headers=good, json={"api_key": key + "2"}),
            plain.post(f"{root}/_control/config", headers=good, json={"latency_ms": "not a number"}),
            plain.post(f"{root}/_control/config", headers=good, content=key.encode()),
            plain.post(
                f"{root}/_control/config",
                headers={**good, "Content-Type": "application/json"},
                content=b"{broken",
            ),
            plain.post(f"{root}/_control/faults", headers=good, json={"kinds": ["teapot"]}),
            plain.post(f"{root}/_control/batches/{job['id']}/status", headers=good, json={"status": key}),
            plain.get(f"{root}/batches"),
            plain.get(f"{root}/batches/{job['id']}"),
            plain.get(f"{root}/v1/batches", headers=_bearer(key + "x")),
        ]
        api.http.close()
        texts += [r.text + str(r.headers) for r in responses]
    assert any(r.status_code == 200 for r in responses) and any(r.status_code == 401 for r in responses)
    texts += [log.read_text(), caplog.text, *capfd.readouterr()]
    assert all(key not in text for text in texts)
