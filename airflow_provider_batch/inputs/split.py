"""Split a batch input file into parts that each fit the API limits.

A file that already fits is not copied: its single part points at the original. Otherwise lines
are copied, in order and unchanged, to ``<stem>.part-0001.jsonl``, ``<stem>.part-0002.jsonl``,
... each filled up to ``max_lines`` and ``max_bytes``. Splitting is deterministic, so the same
input always gives the same parts and the same SHA-256 fingerprints.

:class:`PartCutter` is fed the lines while the file is read (by the validation pass, in the submit
operator): it decides where each part starts and ends and hashes it on the way, so writing the
parts afterwards is a byte-range copy with no second read in Python and no second hash.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_batch.inputs.limits import BatchLimits

__all__ = ["InputPart", "PartCutter", "file_sha256", "split_batch_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputPart:
    """One uploadable part (``index`` is 1-based and matches the ``part-NNNN`` name).

    ``model`` (several are joined with ``", "``) and ``estimated_cost_usd`` (worst case, batch
    price) come from the budget estimate, when one was made; the submission ledger records them.
    """

    index: int
    path: Path
    lines: int
    bytes: int
    sha256: str
    model: str | None = None
    estimated_cost_usd: float | None = None
    #: The part as ``[start, end)`` bytes of the source file it was cut from (a part that is the
    #: whole file: ``[0, size)``); the results task re-reads it there when the vendor does not let
    #: input files be downloaded (the part's ``sha256`` proves it found the same bytes).
    span: tuple[int, int] | None = None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Span:
    """One part as a byte range of the source, with its digest (``newline``: add one at the end)."""

    start: int
    end: int
    lines: int
    bytes: int
    sha256: str
    newline: bool


class PartCutter:
    """Cuts a file into parts from its lines, fed in order, and hashes each part as it goes.

    :param limits: lines and bytes per part.
    :param source_bytes: the file's size: a file within ``max_bytes`` is cut by line count only,
        and left whole (not copied) when that fits too.
    """

    def __init__(self, limits: BatchLimits, source_bytes: int) -> None:
        self.max_lines, self.max_bytes = limits.max_lines, limits.max_bytes
        self.source_bytes = source_bytes
        self.fits = source_bytes <= limits.max_bytes
        self.spans: list[_Span] = []
        self.oversized: str | None = None
        self._line_no = self._offset = self._start = self._lines = self._bytes = 0
        self._digest: Any = hashlib.sha256()
        self._last_newline = True

    def add(self, raw: bytes) -> int:
        """Take the next line (with its newline, if any); returns the index of its part."""
        self._line_no += 1
        size = len(raw)
        newline = raw[-1:] == b"\n"
        line_bytes = size if newline else size + 1  # a part's last line always ends with one
        if line_bytes > self.max_bytes and self.oversized is None:
            self.oversized = f"line {self._line_no} is {line_bytes} bytes; a part holds {self.max_bytes}"
        if self._lines and (
            self._lines >= self.max_lines or (not self.fits and self._bytes + line_bytes > self.max_bytes)
        ):
            self._close(last=False)
        self._last_newline = newline
        self._digest.update(raw)
        self._lines += 1
        self._bytes += line_bytes
        self._offset += size
        return len(self.spans) + 1

    def _close(self, *, last: bool) -> None:
        # Only the file's last line can lack a newline; a part copied from it gets one.
        digest, newline = self._digest, last and not self._last_newline
        if newline:
            digest = digest.copy()
            digest.update(b"\n")
        span = _Span(self._start, self._offset, self._lines, self._bytes, digest.hexdigest(), newline)
        self.spans.append(span)
        self._start, self._lines, self._bytes = self._offset, 0, 0
        self._digest = hashlib.sha256()

    def write_parts(self, source: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[InputPart]:
        """The parts of ``source``: itself when it fits, else byte-range copies under ``out_dir``.

        :raises ValueError: a single line does not fit ``max_bytes`` on its own.
        """
        if self.oversized is not None:
            raise ValueError(self.oversized)
        path = Path(source)
        if self.fits and self._lines == self._line_no:  # one part, and it is the file as it is
            size = self._offset
            return [InputPart(1, path, self._lines, size, self._digest.hexdigest(), span=(0, size))]
        if self._lines:
            self._close(last=True)
        target = Path(out_dir)
        target.mkdir(parents=True, exist_ok=True)
        parts = [
            _copy_span(path, target / f"{path.stem}.part-{index:04d}.jsonl", index, span)
            for index, span in enumerate(self.spans, start=1)
        ]
        _remove_stale_parts(target, path.stem, len(parts))
        return parts


def _copy_span(source: Path, dest: Path, index: int, span: _Span) -> InputPart:
    with open(source, "rb") as src, open(dest, "wb") as dst:
        _copy_range(src.fileno(), dst.fileno(), span.start, span.end - span.start)
        if span.newline:
            dst.write(b"\n")
    return InputPart(index, dest, span.lines, span.bytes, span.sha256, span=(span.start, span.end))


def _copy_range(src: int, dst: int, start: int, length: int) -> None:
    """Copy ``length`` bytes from ``start`` in ``src`` to the current end of ``dst``, in the kernel
    where it can (``copy_file_range``), else through a 1 MiB buffer."""
    offset, left = start, length
    fast = hasattr(os, "copy_file_range")
    while left:
        copied = 0
        if fast:
            try:
                copied = os.copy_file_range(src, dst, left, offset)
            except OSError:  # another file system, or a kernel without it
                fast = False
        if not fast:
            chunk = os.pread(src, min(left, _CHUNK), offset)
            copied = os.write(dst, chunk) if chunk else 0
        if not copied:
            raise OSError(f"the input file ended {left} bytes early while its parts were copied")
        offset += copied
        left -= copied


def split_batch_file(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    limits: BatchLimits = BatchLimits(),
) -> list[InputPart]:
    """Return the parts of ``path`` that fit ``limits`` (lines and bytes per file).

    Validate first (:func:`~airflow_provider_batch.inputs.validate.ensure_valid` with
    ``check_totals=False``): this function only cuts at newlines. The file is read once to find
    the cuts and hash the parts; a file that must be split is then copied range by range.

    :raises ValueError: a single line does not fit ``max_bytes`` on its own.
    """
    source = Path(path)
    cutter = PartCutter(limits, source.stat().st_size)
    with open(source, "rb") as fh:
        for raw in fh:
            cutter.add(raw)
    return cutter.write_parts(source, out_dir)


def _remove_stale_parts(out_dir: Path, stem: str, count: int) -> None:
    # A rerun after the input shrank must not leave an old, higher-numbered part next to the new ones.
    for old in out_dir.glob(f"{stem}.part-[0-9][0-9][0-9][0-9].jsonl"):
        if int(old.name[-10:-6]) > count:
            old.unlink()


def read_span(source: str | os.PathLike[str], span: tuple[int, int], sha256: str, dest: Path) -> Path | None:
    """Copy ``span`` of ``source`` to ``dest`` as a part file; ``None`` (and nothing left at
    ``dest``) unless its SHA-256 is ``sha256``, with or without the newline a part's last line
    gains (see :class:`_Span`)."""
    start, end = span
    try:
        with open(source, "rb") as src, open(dest, "wb") as dst:
            _copy_range(src.fileno(), dst.fileno(), start, end - start)
    except OSError:  # the file is shorter now: not the bytes that were submitted
        dest.unlink(missing_ok=True)
        return None
    if file_sha256(dest) == sha256:
        return dest
    with open(dest, "ab") as dst:
        dst.write(b"\n")
    if file_sha256(dest) == sha256:
        return dest
    dest.unlink()
    return None
