"""List routes stream an account's whole history; the seeded history; no de-duplication without a
checksum."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer, ServerConfig
from airflow_provider_batch.testing.server.lists import GROUP, json_list
from airflow_provider_batch.testing.server.records import FileRecord
from tests.server.helpers import Api, chat_line, jsonl, plain

DATA = jsonl([chat_line("a")])


def _seed(server: LocalTogetherServer, files: int) -> None:
    server.controller.store.seed_history(files)


def test_seeded_history_is_completed_batches_with_their_three_files(together_server, api: Api) -> None:
    _seed(together_server, 3_002)
    files = {f["id"]: f for f in api.http.get("/v1/files").json()["data"]}
    batches = api.http.get("/v1/batches").json()
    assert len(files) == 3_002 and len(batches) == 1_000
    for job in batches:
        assert job["status"] == "COMPLETED" and job["progress"] == 100.0
        assert files[job["input_file_id"]]["purpose"] == "batch-api"
        outputs = {files[job["output_file_id"]]["purpose"], files[job["error_file_id"]]["purpose"]}
        assert outputs == {"batch-generated"}
    assert sum(f["purpose"] == "batch-api" for f in files.values()) == 1_002  # 1,000 inputs and 2 lone ones
    assert max(f["created_at"] for f in files.values()) < time.time() - 3_000
    some = next(iter(files))
    assert api.http.get(f"/v1/files/{some}/content").status_code == 404  # no bytes behind it
    assert together_server.stats()["uploads"] == 0 and together_server.stats()["batch_creates"] == 0


def test_seeded_ids_are_random_and_new_work_lists_after_or_before_it(together_server, api: Api) -> None:
    _seed(together_server, 30)
    first = [f["id"] for f in api.http.get("/v1/files").json()["data"]]
    job = api.submit([chat_line("a")])
    files = [f["id"] for f in api.http.get("/v1/files").json()["data"]]
    assert files[:30] == first and len(files) == 31  # oldest first: the upload comes last
    assert api.http.get("/v1/batches").json()[0]["id"] == job["id"]  # newest first: the new batch first
    together_server.reset()
    _seed(together_server, 30)
    again = [f["id"] for f in api.http.get("/v1/files").json()["data"]]
    assert len(again) == 30 and not set(again) & set(first)  # ids never repeat across resets


def test_seed_files_option_seeds_at_start() -> None:
    with LocalTogetherServer(ServerConfig(api_key="k", seed_files=9)) as server:
        assert (server.stats()["files"], len(server.batches())) == (9, 3)
        server.reset()
        assert (server.stats()["files"], len(server.batches())) == (0, 0)


def test_list_routes_stream_chunked_and_parse_whole(together_server, api: Api) -> None:
    _seed(together_server, 3 * GROUP + 1)
    for path, count in (("/v1/files", 3 * GROUP + 1), ("/v1/batches", GROUP)):
        with api.http.stream("GET", path) as response:
            assert response.headers["content-type"] == "application/json"
            assert "content-length" not in response.headers
            assert response.headers["transfer-encoding"] == "chunked"
            body = json.loads(response.read())
        items = body["data"] if path == "/v1/files" else body
        assert len(items) == count and len({item["id"] for item in items}) == count


@pytest.mark.parametrize(("null_when_empty", "body"), [(True, "null"), (False, "[]")])
def test_empty_batch_list(together_server, api: Api, null_when_empty: bool, body: str) -> None:
    together_server.configure(list_null_when_empty=null_when_empty)
    assert api.http.get("/v1/batches").text == body
    assert api.http.get("/v1/files").json() == {"object": "list", "data": []}


async def test_json_list_encodes_a_group_at_a_time() -> None:
    records = [
        FileRecord(
            id=f"file-{n}",
            filename="a.jsonl",
            purpose="batch-api",
            file_type="jsonl",
            created_at=n,
            path=None,
        )
        for n in range(2 * GROUP + 3)
    ]  # type: ignore[arg-type]
    response = json_list(records, FileRecord.to_json, key="data")
    chunks = [chunk async for chunk in response.body_iterator]
    assert len(chunks) == 2 + 3  # head, three groups, tail
    assert max(map(len, chunks)) < GROUP * 300
    assert [f["id"] for f in json.loads(b"".join(chunks))["data"]] == [r.id for r in records]


def test_no_checksum_means_no_de_duplication(api: Api) -> None:
    """The file id is assigned before the bytes arrive, so without a checksum the server cannot
    know the content: identical uploads are separate files."""
    ids = []
    for _ in range(2):
        start = api.http.post("/v1/files", data={"purpose": "batch-api", "file_name": "in.jsonl"})
        assert start.status_code == 302
        assert plain.put(start.headers["location"], content=DATA).status_code == 200
        ids.append(start.headers["x-together-file-id"])
    ids.append(api.upload(DATA)["id"])
    assert len(set(ids)) == 3 and api.server.stats()["uploads"] == 3
    listed = [f["id"] for f in api.http.get("/v1/files").json()["data"]]
    assert listed == ids


def test_cli_seed_files() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_batch.testing.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--seed-files",
            "31",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip().removeprefix("READY ")  # type: ignore[union-attr]
        headers = {"Authorization": "Bearer cli-key"}
        assert len(plain.get(f"{base_url}/files", headers=headers).json()["data"]) == 31
        assert len(plain.get(f"{base_url}/batches", headers=headers).json()) == 10
    finally:
        process.terminate()
        process.communicate(timeout=15)
