"""Files API over loopback HTTP: the 302 flow in its three encodings, one-shot and multipart
uploads, metadata, content, delete, errors."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.helpers import Api, chat_line, jsonl, plain

DATA = jsonl([chat_line("a"), chat_line("b")])
FILE_KEYS = {
    "id",
    "object",
    "created_at",
    "filename",
    "bytes",
    "purpose",
    "FileType",
    "LineCount",
    "Processed",
    "processing_status",
}
FIELDS = {"purpose": "batch-api", "file_name": "input.jsonl", "file_type": "jsonl"}


def _start(api: Api, encoding: str, **extra: str) -> httpx.Response:
    fields = {**FIELDS, **extra}
    if encoding == "urlencoded":
        return api.http.post("/v1/files", data=fields)
    if encoding == "multipart":
        return api.http.post("/v1/files", files={k: (None, v) for k, v in fields.items()})
    return api.http.post("/v1/files", params=fields)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart", "query"])
def test_redirect_upload_flow(api: Api, encoding: str) -> None:
    start = _start(api, encoding)
    assert start.status_code == 302
    location, file_id = start.headers["location"], start.headers["x-together-file-id"]
    assert (
        urlsplit(location).scheme == "http"
        and urlsplit(location).netloc == urlsplit(api.server.root_url).netloc
    )
    assert file_id.startswith("file-")
    put = plain.put(location, content=DATA)  # no Authorization, no Content-Type
    assert put.status_code == 200
    meta = api.http.get(f"/v1/files/{file_id}").json()  # readable without preprocess (TS flow)
    assert set(meta) == FILE_KEYS
    assert meta["bytes"] == len(DATA) and meta["LineCount"] == 2 and meta["Processed"] is True
    assert isinstance(meta["created_at"], int) and meta["FileType"] == "jsonl" and meta["object"] == "file"
    first = api.http.post(f"/v1/files/{file_id}/preprocess", headers={"Content-Type": "application/json"})
    again = api.http.post(f"/v1/files/{file_id}/preprocess")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == meta
    assert api.server.stats()["uploads"] == 1


def test_put_route_needs_the_token(api: Api) -> None:
    location = _start(api, "urlencoded").headers["location"]
    forged = location.split("?")[0] + "?token=forged"
    assert plain.put(forged, content=DATA).status_code == 403
    assert plain.put(location.replace("/file-", "/file-x"), content=DATA).status_code == 404


def test_repeated_checksum_answers_409_with_the_file_id(api: Api) -> None:
    checksum = hashlib.sha256(DATA).hexdigest()
    start = _start(api, "multipart", checksum=checksum)
    assert start.status_code == 302
    plain.put(start.headers["location"], content=DATA)
    repeat = _start(api, "multipart", checksum=checksum)
    assert repeat.status_code == 409
    assert repeat.json() == {"file_id": start.headers["x-together-file-id"]}
    assert repeat.headers["x-should-retry"] == "false"
    assert _start(api, "multipart", checksum="0" * 64).status_code == 302


def test_one_shot_upload_list_content_delete(api: Api) -> None:
    meta = api.upload(DATA, name="rows.jsonl")
    assert set(meta) == FILE_KEYS and meta["filename"] == "rows.jsonl" and meta["bytes"] == len(DATA)
    listing = api.http.get("/v1/files").json()
    assert listing["object"] == "list" and [f["id"] for f in listing["data"]] == [meta["id"]]
    content = api.http.get(f"/v1/files/{meta['id']}/content", headers={"Accept": "application/binary"})
    assert content.content == DATA and content.headers["content-length"] == str(len(DATA))
    deleted = api.http.delete(f"/v1/files/{meta['id']}")
    assert deleted.json() == {"id": meta["id"], "object": "file", "deleted": True}
    assert api.http.get(f"/v1/files/{meta['id']}").status_code == 404


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/files/file-nope"),
        ("GET", "/v1/files/file-nope/content"),
        ("DELETE", "/v1/files/file-nope"),
        ("POST", "/v1/files/file-nope/preprocess"),
    ],
)
def test_unknown_file_is_404_with_an_error_object(api: Api, method: str, path: str) -> None:
    response = api.http.request(method, path)
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and "file-nope" in error["message"]


def test_missing_fields_are_400(api: Api) -> None:
    assert api.http.post("/v1/files", data={"purpose": "batch-api"}).status_code == 400
    assert api.http.post("/v1/files/upload", data={"purpose": "batch-api"}).status_code == 400


def _one_shot(api: Api, **fields: str | None) -> httpx.Response:
    sent = {k: v for k, v in {**FIELDS, **fields}.items() if v is not None}
    return api.http.post("/v1/files/upload", files={"file": ("input.jsonl", DATA)}, data=sent)


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"purpose": "batch"}, "purpose", "invalid_value"),  # OpenAI's purpose, not Together's
        ({"purpose": "calibration"}, "purpose", "invalid_value"),  # SDK 3.1.1 only; not in the spec
        ({"file_type": "txt"}, "file_type", "invalid_value"),
        ({"file_type": "JSONL"}, "file_type", "invalid_value"),
        ({"file_name": None}, "file_name", "missing_field"),
        ({"file_name": ""}, "file_name", "missing_field"),
        ({"purpose": None}, "purpose", "missing_field"),
    ],
)
def test_one_shot_upload_refuses_what_the_spec_refuses(
    api: Api, fields: dict[str, str | None], param: str, code: str
) -> None:
    """``POST /files/upload`` answers 400 with the spec's ``ErrorData`` body naming the field, and
    stores nothing."""
    response = _one_shot(api, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and param in error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert api.http.get("/v1/files").json()["data"] == [] and api.server.stats()["uploads"] == 0


@pytest.mark.parametrize(
    "purpose",
    ["fine-tune", "eval", "eval-sample", "eval-output", "eval-summary", "batch-generated", "batch-api"],
)
def test_one_shot_upload_accepts_every_spec_purpose(api: Api, purpose: str) -> None:
    response = _one_shot(api, purpose=purpose)
    assert response.status_code == 200 and response.json()["purpose"] == purpose


@pytest.mark.parametrize(("file_type", "stored"), [("csv", "csv"), ("parquet", "parquet"), (None, "jsonl")])
def test_one_shot_upload_file_type_is_a_spec_file_type_or_jsonl(
    api: Api, file_type: str | None, stored: str
) -> None:
    response = _one_shot(api, file_type=file_type)
    assert response.status_code == 200 and response.json()["FileType"] == stored


def test_content_of_a_pending_upload_is_refused(api: Api) -> None:
    file_id = _start(api, "query").headers["x-together-file-id"]
    assert api.http.get(f"/v1/files/{file_id}").json()["Processed"] is False
    assert api.http.get(f"/v1/files/{file_id}/content").status_code == 400


def test_multipart_upload_initiate_parts_complete(api: Api) -> None:
    parts = [DATA[:10], DATA[10:]]
    init = api.http.post(
        "/v1/files/multipart/initiate",
        json={
            "file_name": "big.jsonl",
            "file_size": len(DATA),
            "num_parts": 2,
            "purpose": "batch-api",
            "file_type": "jsonl",
        },
    ).json()
    etags = []
    for part, chunk in zip(init["parts"], parts, strict=True):
        response = plain.put(part["URL"], content=chunk, headers=part["Headers"])
        assert response.status_code == 200
        etags.append({"part_number": part["PartNumber"], "etag": response.headers["etag"].strip('"')})
    done = api.http.post(
        "/v1/files/multipart/complete",
        json={"upload_id": init["upload_id"], "file_id": init["file_id"], "parts": etags},
    )
    assert done.status_code == 200 and done.json()["bytes"] == len(DATA)
    assert api.http.get(f"/v1/files/{init['file_id']}/content").content == DATA


def test_multipart_complete_rejects_a_wrong_etag_and_abort_forgets(api: Api) -> None:
    init = api.http.post(
        "/v1/files/multipart/initiate",
        json={"file_name": "big.jsonl", "file_size": 3, "num_parts": 1, "purpose": "batch-api"},
    ).json()
    plain.put(init["parts"][0]["URL"], content=b"abc")
    bad = api.http.post(
        "/v1/files/multipart/complete",
        json={
            "upload_id": init["upload_id"],
            "file_id": init["file_id"],
            "parts": [{"part_number": 1, "etag": "x"}],
        },
    )
    assert bad.status_code == 400
    abort = api.http.post(
        "/v1/files/multipart/abort", json={"upload_id": init["upload_id"], "file_id": init["file_id"]}
    )
    assert abort.json() == {"success": True}
    assert api.http.get(f"/v1/files/{init['file_id']}").status_code == 404


@pytest.mark.parametrize("path", ["/v1/files", "/v1/batches"])
def test_auth_is_required(api: Api, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = plain.get(api.server.root_url + path, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert isinstance(error, str if path == "/v1/batches" else dict)


def test_ts_style_fields_in_query_and_body_with_a_path_file_name(api: Api) -> None:
    fields = {**FIELDS, "file_name": "data/batches/input.jsonl"}
    start = api.http.post("/v1/files", params=fields, data=fields)
    assert start.status_code == 302
    assert (
        plain.put(
            start.headers["location"], content=DATA, headers={"Content-Type": "application/octet-stream"}
        ).status_code
        == 200
    )
    meta = api.http.get(f"/v1/files/{start.headers['x-together-file-id']}").json()
    assert meta["filename"] == "data/batches/input.jsonl" and meta["bytes"] == len(DATA)


def test_an_interrupted_put_never_truncates_the_stored_file(api: Api) -> None:
    start = _start(api, "urlencoded")
    location, file_id = start.headers["location"], start.headers["x-together-file-id"]
    assert plain.put(location, content=DATA).status_code == 200

    def dies_half_way():  # a second, stalled attempt whose client gives up mid-body
        yield DATA[: len(DATA) // 2]
        raise ConnectionError("client went away")

    with pytest.raises((httpx.HTTPError, ConnectionError)):
        plain.put(location, content=dies_half_way(), headers={"Content-Length": str(len(DATA))})
    content = api.http.get(f"/v1/files/{file_id}/content")
    assert content.status_code == 200 and content.content == DATA
