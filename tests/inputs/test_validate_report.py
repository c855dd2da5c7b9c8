"""Validator behaviour beyond single rules: reports, limits edges, truncation, the raising form."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_batch.inputs.limits import AUDIO_ENDPOINTS, CHAT_ENDPOINT, BatchLimits
from airflow_provider_batch.inputs.validate import InputValidationError, ensure_valid, validate_batch_file

from .factories import MODEL, chat_request, encode


def test_valid_chat_file_reports_counts_and_models(write_jsonl: Callable[..., Path]) -> None:
    lines = [chat_request(f"r-{i}", max_tokens=16) for i in range(5)]
    lines.append({**chat_request("post"), "method": "POST", "url": CHAT_ENDPOINT})
    lines.append(
        {
            "custom_id": "other",
            "body": {
                "model": "other/model",
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
                ],
            },
        }
    )
    path = write_jsonl(lines)
    report = ensure_valid(path)
    assert report.ok and report.lines == 7 and report.bytes == path.stat().st_size
    assert report.models == {MODEL: 6, "other/model": 1}


def test_valid_audio_file(write_jsonl: Callable[..., Path]) -> None:
    line = {
        "custom_id": "clip-1",
        "method": "FILE",
        "body": {"model": "openai/whisper-large-v3", "file": "https://x.test/a.wav", "language": "en"},
    }
    report = ensure_valid(write_jsonl([line]), endpoint=AUDIO_ENDPOINTS[1])
    assert report.models == {"openai/whisper-large-v3": 1}


def test_crlf_surrounding_whitespace_and_missing_final_newline_are_accepted(
    write_jsonl: Callable[..., Path],
) -> None:
    content = encode(chat_request("a"))[:-1] + b"\r\n" + b"  " + encode(chat_request("b"))[:-1] + b" \t"
    report = ensure_valid(write_jsonl(content))
    assert report.lines == 2


def test_line_of_exactly_the_limit_passes_and_one_byte_more_fails(write_jsonl: Callable[..., Path]) -> None:
    line = encode(chat_request("edge"))
    exact = BatchLimits(max_line_bytes=len(line) - 1)  # newline excluded
    assert validate_batch_file(write_jsonl(line), limits=exact).ok
    tight = BatchLimits(max_line_bytes=len(line) - 2)
    problems = validate_batch_file(write_jsonl(line), limits=tight).problems
    assert [p.rule for p in problems] == ["line_too_large"]


def test_checking_continues_after_an_oversized_line(write_jsonl: Callable[..., Path]) -> None:
    big = encode(chat_request("big", "z" * 5000))
    path = write_jsonl(big + big + encode(chat_request("a")) + b"[]\n")
    report = validate_batch_file(path, limits=BatchLimits(max_line_bytes=1000))
    assert [(p.line, p.rule) for p in report.problems] == [
        (1, "line_too_large"),
        (2, "line_too_large"),
        (4, "not_an_object"),
    ]
    assert report.lines == 4 and report.bytes == path.stat().st_size


def test_totals_can_be_left_to_the_splitter(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl([chat_request(f"r-{i}") for i in range(10)])
    small = BatchLimits(max_lines=3, max_bytes=100)
    assert validate_batch_file(path, limits=small, check_totals=False).ok
    rules = {p.rule for p in validate_batch_file(path, limits=small).problems}
    assert rules == {"too_many_lines", "file_too_large"}


def test_problem_list_is_truncated_but_lines_still_counted(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(b"[]\n" * 50)
    report = validate_batch_file(path, max_problems=5)
    assert len(report.problems) == 5 and report.truncated
    assert report.lines == 50


def test_long_custom_ids_are_shortened_in_problems(write_jsonl: Callable[..., Path]) -> None:
    report = validate_batch_file(write_jsonl([chat_request("k" * 5000)]))
    (problem,) = report.problems
    assert problem.rule == "custom_id_too_long" and len(problem.custom_id or "") < 100


def test_ensure_valid_raises_with_count_and_first_twenty(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl([chat_request("same")] * 30)
    with pytest.raises(InputValidationError) as caught:
        ensure_valid(path)
    err = caught.value
    assert isinstance(err, ValueError)
    assert len(err.problems) == 29 and err.report.lines == 30
    text = str(err).splitlines()
    assert "29 problem(s)" in text[0] and "nothing uploaded" in text[0]
    assert text[1] == "  line 2 (custom_id='same'): duplicate_custom_id: custom_id already used on line 1"
    assert len(text) == 1 + 20 + 1 and text[-1] == "  ... and 9 more"


def test_unknown_endpoint_is_a_usage_error(write_jsonl: Callable[..., Path]) -> None:
    with pytest.raises(ValueError, match="unsupported endpoint"):
        validate_batch_file(write_jsonl([chat_request()]), endpoint="/v1/embeddings")
