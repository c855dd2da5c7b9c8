"""Splitting inputs over several batches, within the line and byte limits."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.inputs.split import file_sha256, split_batch_file
from airflow_provider_batch.inputs.validate import ensure_valid

from .factories import chat_request


def _tiny_lines(count: int) -> bytes:
    template = '{"custom_id":"i%07d","body":{"model":"m","messages":[{"role":"user","content":"x"}]}}\n'
    return "".join(template % i for i in range(count)).encode()


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_bytes().splitlines()]


def test_120k_requests_make_three_parts_within_limits(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_jsonl(_tiny_lines(120_000), name="reviews.jsonl")
    parts = split_batch_file(source, tmp_path / "parts")
    limits = BatchLimits()
    assert [p.lines for p in parts] == [50_000, 50_000, 20_000]
    assert [p.index for p in parts] == [1, 2, 3]
    assert [p.path.name for p in parts] == [f"reviews.part-000{i}.jsonl" for i in (1, 2, 3)]
    seen: list[str] = []
    for part in parts:
        assert part.bytes == part.path.stat().st_size <= limits.max_bytes
        assert part.sha256 == file_sha256(part.path)
        assert ensure_valid(part.path, limits=limits).lines == part.lines
        seen.extend(_ids(part.path))
    assert seen == [f"i{i:07d}" for i in range(120_000)]  # every id exactly once, in order


def test_byte_limit_splitting(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    source = write_jsonl([chat_request(f"r-{i}", "word " * (i % 7)) for i in range(40)], name="b.jsonl")
    limits = BatchLimits(max_bytes=1000)
    parts = split_batch_file(source, tmp_path / "out", limits=limits)
    assert len(parts) > 1
    assert all(p.bytes <= 1000 for p in parts)
    # Greedy filling: each part but the last could not take the next part's first line.
    for part, following in itertools.pairwise(parts):
        first_next = following.path.read_bytes().split(b"\n", 1)[0] + b"\n"
        assert part.bytes + len(first_next) > 1000
    assert b"".join(p.path.read_bytes() for p in parts) == source.read_bytes()
    assert sum(p.lines for p in parts) == 40


def test_file_that_fits_is_not_copied(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    source = write_jsonl([chat_request(f"r-{i}") for i in range(5)])
    out = tmp_path / "never-created"
    (part,) = split_batch_file(source, out)
    assert part.path == source and part.lines == 5 and part.bytes == source.stat().st_size
    assert part.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert not out.exists()


def test_line_limit_split_of_a_small_file_and_missing_final_newline(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_jsonl(_tiny_lines(7)[:-1])
    parts = split_batch_file(source, tmp_path / "p", limits=BatchLimits(max_lines=3))
    assert [p.lines for p in parts] == [3, 3, 1]
    assert parts[-1].path.read_bytes().endswith(b"\n")
    assert [i for p in parts for i in _ids(p.path)] == [f"i{i:07d}" for i in range(7)]


def test_split_is_deterministic(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    source = write_jsonl(_tiny_lines(25))
    limits = BatchLimits(max_lines=10)
    first = [p.sha256 for p in split_batch_file(source, tmp_path / "a", limits=limits)]
    second = [p.sha256 for p in split_batch_file(source, tmp_path / "b", limits=limits)]
    assert first == second and len(first) == 3


def test_rerun_after_the_input_shrank_removes_stale_parts(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_jsonl(_tiny_lines(25), name="s.jsonl")
    limits = BatchLimits(max_lines=10)
    split_batch_file(source, tmp_path / "p", limits=limits)
    source.write_bytes(_tiny_lines(12))
    parts = split_batch_file(source, tmp_path / "p", limits=limits)
    assert (
        sorted(p.name for p in (tmp_path / "p").iterdir())
        == [p.path.name for p in parts]
        == ["s.part-0001.jsonl", "s.part-0002.jsonl"]
    )


def test_a_line_larger_than_a_whole_part_is_refused(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    source = write_jsonl([chat_request("small"), chat_request("huge", "x" * 2000)])
    with pytest.raises(ValueError, match=r"line 2 is .* bytes; a part holds 1000"):
        split_batch_file(source, tmp_path / "p", limits=BatchLimits(max_bytes=1000))
