"""Every output and error line shape of reference §6, and the streaming reader."""

from __future__ import annotations

import json

import pytest

from airflow_provider_batch.results import (
    ExpectedRequest,
    ParsedFile,
    iter_expected,
    iter_jsonl,
    parse_error_line,
    parse_output_line,
)
from tests.results._data import MODEL, success_line

AUDIO_LINE = {
    "custom_id": "clip-1",
    "response": {"status_code": 200, "body": {"duration": 3.2, "language": "en", "text": "hello world"}},
}


def test_success_line_extracts_everything():
    parsed = parse_output_line(success_line("req-1", 1), line_no=7)
    assert parsed.succeeded and parsed.custom_id == "req-1" and parsed.status_code == 200
    assert parsed.response_text == "answer 1"
    assert parsed.finish_reason == "stop"
    assert parsed.model == MODEL
    assert (parsed.prompt_tokens, parsed.completion_tokens, parsed.total_tokens) == (11, 4, 15)
    assert parsed.error_code is None and parsed.error_message is None
    assert parsed.line_no == 7
    assert json.loads(parsed.response_json) == success_line("req-1", 1)["response"]["body"]
    assert " " not in parsed.response_json.replace("answer 1", "")  # compact separators


def test_error_line_with_string_code():
    line = {"custom_id": "req-5", "error": {"message": "Request timeout", "code": "timeout"}}
    parsed = parse_error_line(line)
    assert not parsed.succeeded
    assert (parsed.error_code, parsed.error_message) == ("timeout", "Request timeout")
    assert parsed.response_json is None and parsed.total_tokens == 0


def test_error_line_with_int_code_is_stringified():
    parsed = parse_error_line({"custom_id": "req-6", "error": {"message": "boom", "code": 500}})
    assert parsed.error_code == "500" and isinstance(parsed.error_code, str)
    assert parsed.error_message == "boom"


def test_line_with_neither_response_nor_error_is_unknown_failure():
    parsed = parse_error_line({"custom_id": "req-7"})
    assert not parsed.succeeded
    assert parsed.error_code == "unknown"
    assert "neither" in parsed.error_message


def test_non_200_response_uses_error_object_or_status():
    body = {"error": {"message": "slow down"}}
    with_error = {"custom_id": "a", "response": {"status_code": 429, "body": body}}
    parsed = parse_output_line(with_error)
    assert not parsed.succeeded and parsed.status_code == 429
    assert (parsed.error_code, parsed.error_message) == ("429", "slow down")
    bare = parse_output_line({"custom_id": "b", "response": {"status_code": 503}})
    assert (bare.error_code, bare.error_message) == ("503", "response status 503")


def test_error_as_plain_string():
    parsed = parse_error_line({"custom_id": "a", "error": "error reading input file"})
    assert (parsed.error_code, parsed.error_message) == ("unknown", "error reading input file")


def test_audio_line_takes_body_text():
    parsed = parse_output_line(AUDIO_LINE)
    assert parsed.succeeded and parsed.response_text == "hello world"
    assert parsed.finish_reason is None and parsed.model is None
    assert (parsed.prompt_tokens, parsed.completion_tokens, parsed.total_tokens) == (0, 0, 0)


def test_audio_line_with_plain_text_body():
    line = {"custom_id": "clip-2", "response": {"status_code": 200, "body": "just text"}}
    parsed = parse_output_line(line)
    assert parsed.succeeded and parsed.response_text == "just text"
    assert parsed.response_json == '"just text"'


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, (0, 0, 0)),
        ({"prompt_tokens": 5}, (5, 0, 5)),
        ({"prompt_tokens": 5, "completion_tokens": 2}, (5, 2, 7)),
        ({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 9}, (5, 2, 9)),
        ({"prompt_tokens": "x", "completion_tokens": None}, (0, 0, 0)),
    ],
)
def test_missing_usage_defaults_to_zero_and_total_to_sum(usage, expected):
    line = success_line("req-1", 0)
    if usage is None:
        del line["response"]["body"]["usage"]
    else:
        line["response"]["body"]["usage"] = usage
    parsed = parse_output_line(line)
    assert (parsed.prompt_tokens, parsed.completion_tokens, parsed.total_tokens) == expected


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ([1, 2], "not a JSON object: list"),
        ({"response": {"status_code": 200}}, "no custom_id"),
        ({"custom_id": 5}, "no custom_id"),
    ],
)
def test_unusable_objects_are_reported(obj, problem):
    parsed = parse_output_line(obj, line_no=3)
    assert parsed.custom_id is None and parsed.problem == problem and parsed.line_no == 3


def test_iter_jsonl_reports_bad_lines_and_reads_the_rest(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"custom_id": "a"}\n\nnot json\n\xff\xfe\n{"custom_id": "b", "t": "\xc3\xa9"}')
    lines = list(iter_jsonl(path))
    assert [line.line_no for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0].value == {"custom_id": "a"} and lines[0].error is None
    assert lines[1].error == "blank line"
    assert lines[2].error.startswith("invalid JSON")
    assert lines[3].error.startswith("invalid JSON")
    assert lines[4].value == {"custom_id": "b", "t": "é"}


def test_parsed_file_is_reiterable_and_keeps_problems(tmp_path):
    path = tmp_path / "err.jsonl"
    path.write_text(json.dumps({"custom_id": "x", "error": {"code": 1, "message": "m"}}) + "\n{oops\n")
    parsed = ParsedFile(path, "error")
    first, second = list(parsed), list(parsed)
    assert first == second
    assert first[0].error_code == "1"
    assert first[1].custom_id is None and first[1].line_no == 2
    assert list(ParsedFile(None, "output")) == []


def test_iter_expected_reads_the_input_file_with_metadata(tmp_path):
    path = tmp_path / "input.jsonl"
    lines = [
        {"custom_id": "req-1", "body": {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}},
        {"custom_id": "clip-1", "method": "FILE", "body": {"file": "https://example.com/a.wav"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    got = list(iter_expected(path, {"req-1": {"team": "a"}}))
    assert got == [ExpectedRequest("req-1", MODEL, {"team": "a"}), ExpectedRequest("clip-1", None, {})]


@pytest.mark.parametrize("bad", [b"{oops\n", b'{"body": {}}\n', b"\n"])
def test_iter_expected_refuses_a_line_that_is_not_a_request(tmp_path, bad):
    path = tmp_path / "input.jsonl"
    path.write_bytes(b'{"custom_id": "a"}\n' + bad)
    with pytest.raises(ValueError, match="input line 2 is not a batch request"):
        list(iter_expected(path))
