"""Local and S3 sources/sinks (S3 through moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from airflow_provider_batch.inputs.storage import fetch_to_local, publish, split_s3_uri

BUCKET = "apb-inputs"


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_local_paths_are_returned_as_is(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"{}\n")
    assert fetch_to_local(str(src), tmp_path / "dl") == src
    assert fetch_to_local(f"file://{src}", tmp_path / "dl") == src
    assert not (tmp_path / "dl").exists()
    with pytest.raises(FileNotFoundError):
        fetch_to_local(tmp_path / "nope.jsonl", tmp_path)


def test_local_publish_copies_atomically(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_bytes(b"x" * 10_000)
    dest = tmp_path / "sub" / "b.jsonl"
    assert publish(src, str(dest)) == str(dest)
    assert dest.read_bytes() == src.read_bytes()
    assert publish(src, str(src)) == str(src)  # same file: no-op
    assert sorted(p.name for p in dest.parent.iterdir()) == ["b.jsonl"]


def test_s3_round_trip(s3: object, tmp_path: Path) -> None:
    payload = b"".join(b'{"custom_id":"%d"}\n' % i for i in range(50_000))
    src = tmp_path / "requests.jsonl"
    src.write_bytes(payload)
    uri = f"s3://{BUCKET}/jobs/2026/requests.jsonl"
    assert publish(src, uri) == uri
    local = fetch_to_local(uri, tmp_path / "download")
    assert local == tmp_path / "download" / "requests.jsonl"
    assert local.read_bytes() == payload
    assert [p.name for p in local.parent.iterdir()] == ["requests.jsonl"]  # no temp file left


def test_missing_s3_object_leaves_no_partial_file(s3: object, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"404|Not Found|NoSuchKey"):
        fetch_to_local(f"s3://{BUCKET}/missing.jsonl", tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


@pytest.mark.parametrize("uri", ["s3://", "s3://bucket", "s3://bucket/", "http://bucket/key"])
def test_bad_s3_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        split_s3_uri(uri)
