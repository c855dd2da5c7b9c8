"""Pure tests of the per-operation specs and parsers (``_ops``) and the local file helpers."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.client._core import RetryMode, TimeoutKind
from airflow_provider_batch.client._files import CHUNK_SIZE, aiter_file, iter_file, sha256_file, temp_path_for
from airflow_provider_batch.client.errors import (
    AmbiguousCreateError,
    APIStatusError,
    InternalServerError,
    NotFoundError,
    ResponseValidationError,
)
from airflow_provider_batch.client.models import BatchJob, FileDeleted
from airflow_provider_batch.vendors.together.client import _ops as ops


def _response(body: Any = None, *, content: bytes | None = None, **headers: str) -> httpx.Response:
    if content is None:
        return httpx.Response(200, json=body, headers=headers)
    return httpx.Response(200, content=content, headers=headers)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jsonl", "jsonl"), ("A.JSONL", "jsonl"), ("x.parquet", "parquet"), ("d/y.csv", "csv")],
)
def test_file_type_for(name: str, expected: str) -> None:
    assert ops.file_type_for(name) == expected


@pytest.mark.parametrize("name", ["a.json", "noext", "a.jsonl.gz"])
def test_file_type_for_refuses_others(name: str) -> None:
    with pytest.raises(ValueError):
        ops.file_type_for(name)


def test_upload_init_fields_and_policy() -> None:
    spec = ops.upload_init("in.jsonl", "batch-api", "ab" * 32)
    expected = {"purpose": "batch-api", "file_name": "in.jsonl", "file_type": "jsonl", "checksum": "ab" * 32}
    assert spec.form == expected
    assert spec.accept_redirect and spec.no_retry == frozenset({409})


def test_upload_init_without_checksum_sends_no_checksum_field() -> None:
    assert ops.upload_init("in.jsonl", "batch-api").form == {
        "purpose": "batch-api",
        "file_name": "in.jsonl",
        "file_type": "jsonl",
    }


@pytest.mark.parametrize(
    ("spec", "kind", "mode"),
    [
        (ops.file_put("http://s/p", 3, lambda: iter([b"abc"])), TimeoutKind.TRANSFER, RetryMode.IDEMPOTENT),
        (ops.file_content("f-1"), TimeoutKind.TRANSFER, RetryMode.IDEMPOTENT),
        (ops.file_retrieve("f-1"), TimeoutKind.API, RetryMode.IDEMPOTENT),
        (ops.batch_create("f-1"), TimeoutKind.API, RetryMode.CREATE),
        (ops.batch_cancel("b-1"), TimeoutKind.API, RetryMode.IDEMPOTENT),
    ],
)
def test_specs_pick_timeouts_and_retry_modes(spec: Any, kind: TimeoutKind, mode: RetryMode) -> None:
    assert (spec.timeout, spec.retry) == (kind, mode)


def test_batch_create_body_leaves_out_unset_options() -> None:
    assert ops.batch_create("f-1").json_body == {"input_file_id": "f-1", "endpoint": "/v1/chat/completions"}
    spec = ops.batch_create("f-1", "/v1/audio/translations", model_id="m", priority=0)
    assert spec.json_body == {
        "input_file_id": "f-1",
        "endpoint": "/v1/audio/translations",
        "priority": 0,
        "model_id": "m",
    }


@pytest.mark.parametrize(
    ("location", "file_id", "ok"),
    [
        ("https://r2.example/put?sig=1", "file-1", True),
        ("/relative", "file-1", False),
        ("http://s/p", "", False),
    ],
)
def test_parse_upload_target(location: str, file_id: str, ok: bool) -> None:
    spec = ops.upload_init("a.jsonl", "batch-api", "00")
    response = httpx.Response(302, headers={"location": location, "x-together-file-id": file_id})
    if ok:
        target = ops.parse_upload_target(spec, response)
        assert (target.file_id, target.location) == (file_id, location)
    else:
        with pytest.raises(ResponseValidationError):
            ops.parse_upload_target(spec, response)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"file_id": "f-9"}, "f-9"),
        ({"error": {"message": "dup", "file_id": "f-8"}}, "f-8"),
        ({"error": "x"}, None),
        ("text", None),
    ],
)
def test_existing_file_id(body: Any, expected: str | None) -> None:
    error = APIStatusError("POST", "/files", 409, "conflict", body=body)
    assert ops.existing_file_id(error) == expected


def _job(job_id: str, input_file_id: str = "f-1") -> BatchJob:
    return BatchJob(id=job_id, input_file_id=input_file_id)


@pytest.mark.parametrize(
    ("found", "known", "expected"),
    [
        ([], (), None),
        ([_job("b-1")], (), "b-1"),
        ([_job("old"), _job("b-2")], ("old",), "b-2"),
        ([_job("old"), _job("older")], ("old", "older", "gone"), None),
        ([_job("other-file", "f-2"), _job("b-3")], (), "b-3"),
    ],
)
def test_created_batch_subtracts_the_known_ones(
    found: list[BatchJob], known: tuple[str, ...], expected: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_batch.client"):
        made = ops.created_batch(found, "f-1", frozenset(known))
    assert (made.id if made else None) == expected
    assert (expected or "no new batch") in caplog.text


def test_created_batch_never_guesses_between_two_unknown_batches() -> None:
    found = [_job("old"), _job("b-2"), _job("b-3")]
    with pytest.raises(AmbiguousCreateError) as caught:
        ops.created_batch(found, "f-1", frozenset({"old"}))
    assert caught.value.input_file_id == "f-1" and caught.value.candidate_ids == ("b-2", "b-3")
    assert "b-2, b-3" in str(caught.value)


def test_batches_on_file_keeps_matches_and_anything_that_is_not_an_object() -> None:
    keep = ops.batches_on_file("f-1").keep
    assert keep is not None
    assert keep({"id": "b", "input_file_id": "f-1"}) and keep([1]) and keep("x")
    assert not keep({"id": "b", "input_file_id": "f-2"}) and not keep({"id": "b"})


def test_file_cleanup_tally() -> None:
    tally = ops.FileCleanup()
    tally.outcome("f-1", FileDeleted(id="f-1", deleted=True), None)
    tally.outcome("f-2", None, NotFoundError("DELETE", "/files/f-2", 404, "gone"))
    tally.outcome("f-3", None, InternalServerError("DELETE", "/files/f-3", 500, "boom"))
    tally.outcome("f-4", FileDeleted(id="f-4", deleted=False), None)
    report = tally.report()
    assert (report.deleted, report.missing, sorted(report.failed)) == (["f-1"], ["f-2"], ["f-3", "f-4"])
    assert "InternalServerError" in report.failed["f-3"] and not report.ok


def test_parse_file_reads_pascal_case_keys() -> None:
    body = {"id": "f-1", "FileType": "jsonl", "LineCount": 3, "Processed": True, "new_key": 1}
    parsed = ops.parse_file(ops.file_retrieve("f-1"), _response(body))
    assert (parsed.file_type, parsed.line_count, parsed.processed) == ("jsonl", 3, True)


@pytest.mark.parametrize(("parse", "body"), [(ops.parse_file, "string"), (ops.parse_file, {"id": None})])
def test_parsers_raise_validation_errors_naming_the_call(parse: Any, body: Any) -> None:
    with pytest.raises(ResponseValidationError, match="GET /files"):
        parse(ops.file_retrieve("f-1"), _response(body))


def test_parse_create_rejects_non_objects() -> None:
    with pytest.raises(ResponseValidationError, match="expected an object"):
        ops.parse_create(ops.batch_create("f-1"), _response([1]))


# -- local file helpers ------------------------------------------------------------------------


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob.jsonl"
    path.write_bytes(bytes(range(256)) * (CHUNK_SIZE // 256 * 2 + 3))
    return path


def test_iter_file_and_sha256_stream_in_chunks(blob: Path) -> None:
    chunks = list(iter_file(blob))
    assert len(chunks) == 3 and max(map(len, chunks)) == CHUNK_SIZE
    assert b"".join(chunks) == blob.read_bytes()
    assert sha256_file(blob) == hashlib.sha256(blob.read_bytes()).hexdigest()


async def test_aiter_file_matches(blob: Path) -> None:
    assert b"".join([chunk async for chunk in aiter_file(blob)]) == blob.read_bytes()


def test_temp_path_is_a_hidden_sibling(tmp_path: Path) -> None:
    dest = tmp_path / "out.jsonl"
    temp = temp_path_for(dest)
    assert temp.parent == dest.parent and temp.name.startswith(".out.jsonl.") and temp != temp_path_for(dest)
