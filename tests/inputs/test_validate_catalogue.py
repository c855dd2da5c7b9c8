"""Catalogue of malformed batch inputs: each must be refused with the right rule on the right line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.inputs.limits import AUDIO_ENDPOINTS, BatchLimits
from airflow_provider_batch.inputs.validate import validate_batch_file

from .factories import MODEL, chat_request, encode

GOOD = encode(chat_request("ok-1"))
GOOD2 = encode(chat_request("ok-2"))
AUDIO = AUDIO_ENDPOINTS[0]
WHISPER = "openai/whisper-large-v3"
SMALL = BatchLimits(max_line_bytes=200)


def _body(**body: Any) -> bytes:
    return encode({"custom_id": "bad", "body": body})


def _msgs(messages: Any) -> bytes:
    return _body(model=MODEL, messages=messages)


def _audio(**line: Any) -> bytes:
    return encode({"custom_id": "clip", **line})


DEEP = b'{"custom_id":"deep","body":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"

# (case id, file content, endpoint or None for chat, limits or None, expected [(line, rule), ...])
CATALOGUE: list[tuple[str, bytes, str | None, BatchLimits | None, list[tuple[int, str]]]] = [
    ("truncated_json", GOOD + b'{"custom_id":"t","body":{"model":', None, None, [(2, "invalid_json")]),
    ("trailing_garbage", GOOD + GOOD2[:-1] + b" extra\n", None, None, [(2, "invalid_json")]),
    ("utf8_bom", b"\xef\xbb\xbf" + GOOD + GOOD2, None, None, [(1, "bom")]),
    ("blank_line", GOOD + b"\n" + GOOD2, None, None, [(2, "blank_line")]),
    ("whitespace_line", GOOD + b"  \t\r\n" + GOOD2, None, None, [(2, "blank_line")]),
    ("trailing_blank_line", GOOD + GOOD2 + b"\n", None, None, [(3, "blank_line")]),
    ("invalid_utf8", GOOD + GOOD2.replace(b"Hello", b"H\xffllo"), None, None, [(2, "invalid_utf8")]),
    ("utf16_text", '{"custom_id":"u"}'.encode("utf-16-le") + b"\n", None, None, [(1, "invalid_json")]),
    ("json_array", GOOD + b"[1, 2]\n", None, None, [(2, "not_an_object")]),
    ("json_string", b'"just text"\n', None, None, [(1, "not_an_object")]),
    ("json_null", GOOD + b"null\n", None, None, [(2, "not_an_object")]),
    ("duplicate_ids", GOOD + GOOD2 + GOOD, None, None, [(3, "duplicate_custom_id")]),
    ("id_65_chars", encode(chat_request("x" * 65)), None, None, [(1, "custom_id_too_long")]),
    # PostgreSQL text cannot hold U+0000, and no UTF-8 text a lone surrogate: never loadable.
    ("id_nul", GOOD + encode(chat_request("a\x00b")), None, None, [(2, "custom_id_nul")]),
    (
        "id_lone_surrogate",
        GOOD + encode(chat_request("a\ud800")),
        None,
        None,
        [(2, "custom_id_lone_surrogate")],
    ),
    ("id_64_chars_ok_but_dup", encode(chat_request("y" * 64)) * 2, None, None, [(2, "duplicate_custom_id")]),
    ("id_not_string", encode({**chat_request(), "custom_id": 12}), None, None, [(1, "custom_id_not_string")]),
    (
        "id_null",
        GOOD + encode({**chat_request(), "custom_id": None}),
        None,
        None,
        [(2, "custom_id_not_string")],
    ),
    ("id_missing", GOOD + encode({"body": chat_request()["body"]}), None, None, [(2, "missing_custom_id")]),
    ("id_empty", encode(chat_request("")), None, None, [(1, "custom_id_empty")]),
    ("id_blank", encode(chat_request("   ")), None, None, [(1, "custom_id_empty")]),
    ("body_missing", GOOD + encode({"custom_id": "b"}), None, None, [(2, "missing_body")]),
    ("body_not_object", encode({"custom_id": "b", "body": "hi"}), None, None, [(1, "body_not_object")]),
    ("body_is_list", encode({"custom_id": "b", "body": [1]}), None, None, [(1, "body_not_object")]),
    ("model_missing", _body(messages=[{"role": "user", "content": "x"}]), None, None, [(1, "missing_model")]),
    (
        "model_not_string",
        _body(model=7, messages=[{"role": "user", "content": "x"}]),
        None,
        None,
        [(1, "model_not_string")],
    ),
    ("messages_missing", _body(model=MODEL, prompt="hi"), None, None, [(1, "messages_missing")]),
    ("messages_not_list", _msgs({"role": "user", "content": "x"}), None, None, [(1, "messages_not_list")]),
    ("messages_empty", _msgs([]), None, None, [(1, "messages_empty")]),
    ("message_not_object", _msgs(["hello"]), None, None, [(1, "message_not_object")]),
    ("message_bad_role", _msgs([{"role": "robot", "content": "x"}]), None, None, [(1, "message_bad_role")]),
    ("message_no_role", _msgs([{"content": "x"}]), None, None, [(1, "message_bad_role")]),
    ("message_missing_content", _msgs([{"role": "user"}]), None, None, [(1, "message_missing_content")]),
    (
        "message_null_content",
        _msgs([{"role": "user", "content": None}]),
        None,
        None,
        [(1, "message_missing_content")],
    ),
    (
        "message_number_content",
        _msgs([{"role": "user", "content": 5}]),
        None,
        None,
        [(1, "message_bad_content")],
    ),
    (
        "second_message_broken",
        _msgs([{"role": "system", "content": "s"}, {"role": "user"}]),
        None,
        None,
        [(1, "message_missing_content")],
    ),
    ("max_tokens_negative", encode(chat_request(max_tokens=-1)), None, None, [(1, "max_tokens_invalid")]),
    ("max_tokens_string", encode(chat_request(max_tokens="64")), None, None, [(1, "max_tokens_invalid")]),
    ("n_zero", encode(chat_request(n=0)), None, None, [(1, "n_invalid")]),
    ("n_float", encode(chat_request(n=2.5)), None, None, [(1, "n_invalid")]),
    ("chat_method_get", encode({**chat_request(), "method": "GET"}), None, None, [(1, "method_invalid")]),
    ("chat_method_file", encode({**chat_request(), "method": "FILE"}), None, None, [(1, "method_invalid")]),
    ("url_mismatch", encode({**chat_request(), "url": "/v1/completions"}), None, None, [(1, "url_mismatch")]),
    (
        "audio_without_method",
        _audio(body={"model": "openai/whisper-large-v3", "file": "https://a/x.wav"}),
        AUDIO,
        None,
        [(1, "method_not_file")],
    ),
    (
        "audio_method_post",
        _audio(method="POST", body={"model": WHISPER, "file": "https://a"}),
        AUDIO,
        None,
        [(1, "method_not_file")],
    ),
    (
        "audio_missing_file",
        _audio(method="FILE", body={"model": "openai/whisper-large-v3"}),
        AUDIO,
        None,
        [(1, "missing_file")],
    ),
    (
        "nan_constant",
        GOOD + b'{"custom_id":"n","body":{"model":"m","temperature":NaN}}\n',
        None,
        None,
        [(2, "invalid_json")],
    ),
    (
        "raw_control_char",
        encode(chat_request()).replace(b"Hello", b"He\x01llo"),
        None,
        None,
        [(1, "invalid_json")],
    ),
    ("deep_nesting", GOOD + DEEP, None, None, [(2, "nesting_too_deep")]),
    (
        "line_too_large",
        GOOD + encode(chat_request("big", "x" * 300)) + GOOD2,
        None,
        SMALL,
        [(2, "line_too_large")],
    ),
    (
        "too_many_lines",
        b"".join(encode(chat_request(f"i{i}", "")) for i in range(4)),
        None,
        BatchLimits(max_lines=3),
        [(4, "too_many_lines")],
    ),
    (
        "file_too_large",
        b"".join(encode(chat_request(f"i{i}", "")) for i in range(3)),
        None,
        BatchLimits(max_bytes=250),
        [(3, "file_too_large")],
    ),
    ("empty_file", b"", None, None, [(0, "empty_file")]),
]


@pytest.mark.parametrize(
    ("content", "endpoint", "limits", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CATALOGUE],
)
def test_malformed_input_is_refused_with_line_and_rule(
    write_jsonl: Callable[..., Path],
    content: bytes,
    endpoint: str | None,
    limits: BatchLimits | None,
    expected: list[tuple[int, str]],
) -> None:
    path = write_jsonl(content)
    kwargs: dict[str, Any] = {}
    if endpoint:
        kwargs["endpoint"] = endpoint
    if limits:
        kwargs["limits"] = limits
    report = validate_batch_file(path, **kwargs)
    assert [(p.line, p.rule) for p in report.problems] == expected, [str(p) for p in report.problems]
    assert not report.ok


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 25
    assert len({case[0] for case in CATALOGUE}) == len(CATALOGUE)


def test_problems_name_the_custom_id_when_known(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        [chat_request("t-3"), chat_request("t-12"), b"\n", chat_request("x"), chat_request("t-12")]
    )
    (blank, dup) = validate_batch_file(path).problems
    assert str(blank) == "line 3: blank_line: blank lines are not allowed"
    assert str(dup) == "line 5 (custom_id='t-12'): duplicate_custom_id: custom_id already used on line 2"


def test_escaped_control_characters_are_valid(write_jsonl: Callable[..., Path]) -> None:
    prompt = "tab\there\x00nul\x07bell\x1bescape\u2028sep"
    path = write_jsonl([chat_request("c", prompt)])
    raw = path.read_bytes()
    assert b"\x00" not in raw and b"\x07" not in raw  # json.dumps escapes them
    report = validate_batch_file(path)
    assert report.ok, report.problems
    assert json.loads(raw)["body"]["messages"][0]["content"] == prompt
