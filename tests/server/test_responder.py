"""The simulated responder: token honesty, max_tokens, structured output, audio, error lines —
checked both directly and in real batch output."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from airflow_provider_batch.testing.server import DEFAULT_MODELS, count_tokens, respond
from airflow_provider_batch.testing.server.responder import prompt_text
from airflow_provider_batch.testing.server.schema_fill import instance_for_schema
from tests.server.helpers import CHAT, MODEL, Api, chat_line

RICH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
        "spam": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 2, "maxItems": 4},
        "summary": {"type": "string", "minLength": 5},
        "author": {"$ref": "#/$defs/Person"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "kind": {"const": "review"},
    },
    "required": ["sentiment", "score", "stars", "spam", "tags", "summary", "author", "note", "kind"],
    "additionalProperties": False,
    "$defs": {
        "Person": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}},
            "required": ["name", "age"],
        }
    },
}


@pytest.mark.parametrize("text, expected", [("", 0), ("Hello, world!", 4), ("a  b\tc\n", 3), ("it's 3.5", 6)])
def test_count_tokens(text: str, expected: int) -> None:
    assert count_tokens(text) == expected


def _line(**body: Any) -> dict[str, Any]:
    return chat_line("c1", "Classify: the soup was cold.", **body)


def test_usage_is_honest_and_the_answer_is_marked_simulated() -> None:
    line = _line()
    body = respond(line, CHAT, DEFAULT_MODELS)["response"]["body"]
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("[simulated]") and body["system_fingerprint"] == "local-simulated"
    assert body["usage"] == {
        "prompt_tokens": count_tokens(prompt_text(line["body"])),
        "completion_tokens": count_tokens(content),
        "total_tokens": count_tokens(prompt_text(line["body"])) + count_tokens(content),
    }
    assert respond(line, CHAT, DEFAULT_MODELS) == respond(line, CHAT, DEFAULT_MODELS)


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    body = respond(_line(max_tokens=4), CHAT, DEFAULT_MODELS)["response"]["body"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 4 == count_tokens(body["choices"][0]["message"]["content"])
    assert (
        respond(_line(max_tokens=500), CHAT, DEFAULT_MODELS)["response"]["body"]["choices"][0][
            "finish_reason"
        ]
        == "stop"
    )


@pytest.mark.parametrize("seed", ["a", "b", "c", "another prompt", "x" * 50])
def test_schema_instances_validate(seed: str) -> None:
    jsonschema.validate(instance_for_schema(RICH_SCHEMA, seed), RICH_SCHEMA)


def test_enum_choice_depends_on_the_prompt() -> None:
    picks = {instance_for_schema(RICH_SCHEMA, f"prompt {i}")["sentiment"] for i in range(30)}
    assert picks == {"positive", "neutral", "negative"}


def test_json_object_mode_returns_json() -> None:
    body = respond(_line(response_format={"type": "json_object"}), CHAT, DEFAULT_MODELS)["response"]["body"]
    assert isinstance(json.loads(body["choices"][0]["message"]["content"]), dict)


@pytest.mark.parametrize(
    "line, code, message",
    [
        (chat_line("x", model="no/such-model"), "invalid_model", "not available"),
        (chat_line("x", "Please [[fail:timeout]] now"), "timeout", "simulated failure: timeout"),
        (chat_line("x", "[[fail:rate_limited]]"), "rate_limited", "simulated failure: rate_limited"),
    ],
)
def test_error_lines(line: dict[str, Any], code: str, message: str) -> None:
    result = respond(line, CHAT, DEFAULT_MODELS)
    assert set(result) == {"custom_id", "error"} and result["error"]["code"] == code
    assert message in result["error"]["message"]


def test_batch_output_matches_the_responder(api: Api) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "review", "schema": RICH_SCHEMA}}
    lines = [chat_line(f"s{i}", f"Review {i}: fine.", response_format=fmt) for i in range(5)]
    lines += [
        chat_line("t1", "Short", max_tokens=3),
        chat_line("f1", "x [[fail:timeout]]"),
        chat_line("m1", model="nope/model"),
    ]
    job, output, errors = api.run(lines)
    assert job["status"] == "COMPLETED"
    by_id = {line["custom_id"]: line for line in output + errors}
    created = by_id["s0"]["response"]["body"]["created"]
    for line in lines:
        assert by_id[line["custom_id"]] == respond(
            line, CHAT, DEFAULT_MODELS, batch_id=job["id"], created=created
        )
    for i in range(5):
        content = by_id[f"s{i}"]["response"]["body"]["choices"][0]["message"]["content"]
        jsonschema.validate(json.loads(content), RICH_SCHEMA)
    usage = by_id["t1"]["response"]["body"]["usage"]
    assert usage["completion_tokens"] == 3 and usage["prompt_tokens"] == count_tokens("Short")
    assert {e["custom_id"]: e["error"]["code"] for e in errors} == {"f1": "timeout", "m1": "invalid_model"}


@pytest.mark.parametrize(
    "endpoint, language", [("/v1/audio/transcriptions", "fr"), ("/v1/audio/translations", "en")]
)
def test_audio_batches(api: Api, endpoint: str, language: str) -> None:
    clip = {"file": "https://example.com/clips/a.wav", "model": "openai/whisper-large-v3", "language": "fr"}
    lines = [{"custom_id": "ok", "method": "FILE", "body": clip}, {"custom_id": "no-method", "body": clip}]
    job, output, errors = api.run(lines, endpoint)
    assert job["status"] == "COMPLETED" and job["model_id"] == "openai/whisper-large-v3"
    body = output[0]["response"]["body"]
    assert body["text"].startswith("[simulated transcript]") and body["language"] == language
    assert isinstance(body["duration"], float) and body["duration"] > 0
    assert errors == [
        {
            "custom_id": "no-method",
            "error": {"message": "Content-Type must be multipart/form-data", "code": "invalid_request"},
        }
    ]
    assert output[0]["response"]["body"] == respond(lines[0], endpoint, DEFAULT_MODELS)["response"]["body"]


def test_model_catalog_is_configurable(api: Api, together_server: Any) -> None:
    together_server.configure(models=("acme/tiny",))
    _, output, errors = api.run([chat_line("a", model="acme/tiny"), chat_line("b")])
    assert [line["custom_id"] for line in output] == ["a"]
    assert errors[0]["custom_id"] == "b" and errors[0]["error"]["code"] == "invalid_model"
    assert MODEL not in together_server.config.models


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 5},
        {"type": "integer", "minimum": 2.5, "maximum": 3.5},
        {"type": "number", "exclusiveMinimum": 0.25, "exclusiveMaximum": 0.5},
        {"type": "number", "minimum": -10},
        {"type": "string", "minLength": 40, "maxLength": 45},
        {"type": "array", "items": {"type": "boolean"}, "minItems": 5, "maxItems": 5},
    ],
)
def test_bounds_are_respected(schema: dict[str, Any]) -> None:
    for seed in ("a", "b", "c", "d"):
        jsonschema.validate(instance_for_schema(schema, seed), schema)


def test_fail_once_marker_fails_only_the_first_batch_that_carries_the_id(api: Api) -> None:
    lines = [
        chat_line("once", "x [[fail-once:server_overloaded]]"),
        chat_line("ok", "Say hello"),
        chat_line("always", "[[fail:timeout]]"),
    ]
    _, output, errors = api.run(lines)
    codes = {e["custom_id"]: e["error"]["code"] for e in errors}
    assert codes == {"once": "server_overloaded", "always": "timeout"}
    assert "transient" in errors[0]["error"]["message"] + errors[1]["error"]["message"]
    assert [o["custom_id"] for o in output] == ["ok"]

    _, output, errors = api.run(lines[:1] + lines[2:])  # the follow-up: same lines again
    assert [o["custom_id"] for o in output] == ["once"]
    assert output[0]["response"]["body"]["choices"][0]["message"]["content"].startswith("[simulated]")
    assert [e["custom_id"] for e in errors] == ["always"]


def test_fail_once_code_reads_the_prompt_only() -> None:
    from airflow_provider_batch.testing.server.responder import fail_once_code

    assert fail_once_code(chat_line("a", "[[fail-once:x.y-1]]"), CHAT) == "x.y-1"
    assert fail_once_code(chat_line("a", "[[fail:x]]"), CHAT) is None
    assert fail_once_code({"custom_id": "a", "body": "nope"}, CHAT) is None
