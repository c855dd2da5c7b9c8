"""Local file helpers shared by both shells: chunked hashing, chunked reading, temp names."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

__all__ = ["CHUNK_SIZE", "aiter_file", "iter_file", "sha256_file", "temp_path_for"]

CHUNK_SIZE = 1024 * 1024


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks (never whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def iter_file(path: Path) -> Iterator[bytes]:
    """Yield a file's bytes in chunks; the file is opened on first use, so each retry re-opens it."""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


async def aiter_file(path: Path) -> AsyncIterator[bytes]:
    """Async twin of :func:`iter_file`; a 1 MiB local read is short enough not to need a thread."""
    for chunk in iter_file(path):
        yield chunk


def temp_path_for(dest: Path) -> Path:
    """A temp file name next to ``dest``, so the final ``os.replace`` is atomic (same filesystem)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{os.urandom(4).hex()}.part")
