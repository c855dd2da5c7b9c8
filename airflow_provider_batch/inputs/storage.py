"""Move batch files between local paths and ``s3://bucket/key`` locations, streamed.

S3 goes through the Amazon provider's ``S3Hook`` (so ``aws_conn_id`` credentials apply) and
boto3's managed transfers, which move the bytes in chunks: a 100 MB file is never held whole in
memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = ["fetch_to_local", "is_s3_uri", "publish", "split_s3_uri"]


def is_s3_uri(uri: str | os.PathLike[str]) -> bool:
    return isinstance(uri, str) and uri.startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b.jsonl`` -> ``("bucket", "a/b.jsonl")``."""
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, key


def _s3_client(aws_conn_id: str | None) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def _local_path(uri: str | os.PathLike[str]) -> Path:
    text = os.fspath(uri)
    return Path(text[len("file://") :]) if text.startswith("file://") else Path(text)


def fetch_to_local(
    uri: str | os.PathLike[str], dest_dir: str | os.PathLike[str], *, aws_conn_id: str | None = "aws_default"
) -> Path:
    """Return a local path holding the file at ``uri``.

    A local path (or ``file://`` URI) is returned as is, without copying. An ``s3://`` object is
    streamed into a new file under ``dest_dir`` named after the key's last component.
    """
    if not is_s3_uri(uri):
        local = _local_path(uri)
        if not local.is_file():
            raise FileNotFoundError(f"batch file not found: {local}")
        return local
    bucket, key = split_s3_uri(str(uri))
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".fetch-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            _s3_client(aws_conn_id).download_fileobj(bucket, key, fh)
        target = dest / (Path(key).name or "input.jsonl")
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def publish(
    local_path: str | os.PathLike[str], uri: str | os.PathLike[str], aws_conn_id: str | None = "aws_default"
) -> str:
    """Copy ``local_path`` to ``uri`` (local path or ``s3://``), streamed; return the destination.

    A local destination is written to a temporary name and renamed, so readers never see half a file.
    """
    source = Path(local_path)
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(str(uri))
        with open(source, "rb") as fh:
            _s3_client(aws_conn_id).upload_fileobj(fh, bucket, key)
        return str(uri)
    target = _local_path(uri)
    if target.resolve() == source.resolve():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return str(target)
