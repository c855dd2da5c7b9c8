"""Split a batch input file into parts that each fit the API limits.

A file that already fits is not copied: its single part points at the original. Otherwise lines
are written, in order and unchanged, to ``<stem>.part-0001.jsonl``, ``<stem>.part-0002.jsonl``,
... each filled up to ``max_lines`` and ``max_bytes``. Splitting is deterministic, so the same
input always gives the same parts and the same SHA-256 fingerprints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from airflow_provider_batch.inputs.limits import BatchLimits

__all__ = ["InputPart", "file_sha256", "split_batch_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputPart:
    """One uploadable part (``index`` is 1-based and matches the ``part-NNNN`` name)."""

    index: int
    path: Path
    lines: int
    bytes: int
    sha256: str


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _count_and_hash(path: Path) -> tuple[int, int, str]:
    digest = hashlib.sha256()
    lines = size = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # a final line without a newline still counts
    return lines, size, digest.hexdigest()


def split_batch_file(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    limits: BatchLimits = BatchLimits(),
) -> list[InputPart]:
    """Return the parts of ``path`` that fit ``limits`` (lines and bytes per file).

    Validate first (:func:`~airflow_provider_batch.inputs.validate.ensure_valid` with
    ``check_totals=False``): this function only cuts at newlines. A file within the byte limit is
    read once to count and hash it; a file that must be split is read once while the parts are
    written and hashed.

    :raises ValueError: a single line does not fit ``max_bytes`` on its own.
    """
    source = Path(path)
    if source.stat().st_size <= limits.max_bytes:
        lines, size, sha = _count_and_hash(source)
        if lines <= limits.max_lines:
            return [InputPart(index=1, path=source, lines=lines, bytes=size, sha256=sha)]
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as fh:
        parts = _write_parts(fh, source.stem, target, limits)
    _remove_stale_parts(target, source.stem, len(parts))
    return parts


def _remove_stale_parts(out_dir: Path, stem: str, count: int) -> None:
    # A rerun after the input shrank must not leave an old, higher-numbered part next to the new ones.
    for old in out_dir.glob(f"{stem}.part-[0-9][0-9][0-9][0-9].jsonl"):
        if int(old.name[-10:-6]) > count:
            old.unlink()


class _PartWriter:
    def __init__(self, index: int, path: Path) -> None:
        self.index, self.path = index, path
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in finish()
        self.digest = hashlib.sha256()
        self.lines = self.bytes = 0

    def write(self, line: bytes) -> None:
        self.fh.write(line)
        self.digest.update(line)
        self.lines += 1
        self.bytes += len(line)

    def finish(self) -> InputPart:
        self.fh.close()
        return InputPart(self.index, self.path, self.lines, self.bytes, self.digest.hexdigest())


def _write_parts(fh: IO[bytes], stem: str, out_dir: Path, limits: BatchLimits) -> list[InputPart]:
    parts: list[InputPart] = []
    current: _PartWriter | None = None
    try:
        for line_no, raw in enumerate(fh, start=1):
            line = raw if raw.endswith(b"\n") else raw + b"\n"
            if len(line) > limits.max_bytes:
                raise ValueError(f"line {line_no} is {len(line)} bytes; a part holds {limits.max_bytes}")
            if current is not None and (
                current.lines >= limits.max_lines or current.bytes + len(line) > limits.max_bytes
            ):
                parts.append(current.finish())
                current = None
            if current is None:
                index = len(parts) + 1
                current = _PartWriter(index, out_dir / f"{stem}.part-{index:04d}.jsonl")
            current.write(line)
    except BaseException:
        if current is not None:
            current.fh.close()
        raise
    if current is not None:
        parts.append(current.finish())
    return parts
