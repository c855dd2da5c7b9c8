"""The typed fast path of ``/v1/messages`` answers reads every line as the general path does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_batch.endpoints import answer_reader
from airflow_provider_batch.endpoints.messages import MESSAGES
from airflow_provider_batch.results.parse import (
    _decode_result,
    _fast,
    _unusual,
    decode_result_line,
)

USAGE = {"input_tokens": 21, "output_tokens": 12}


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "Sorted."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": dict(USAGE),
    }
    body.update(changes)
    return body


def _line(body: Any, status: Any = 200, error: Any = None) -> bytes:
    line = {"custom_id": "req-1", "response": {"status_code": status, "body": body}, "error": error}
    return json.dumps(line, separators=(",", ":")).encode()


#: (line, whether the fast path takes it)
CASES = {
    "usual": (_line(_body()), True),
    "two text blocks": (
        _line(_body(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])),
        True,
    ),
    "no stop reason, model or usage": (_line(_body(stop_reason=None, model=None, usage=None)), True),
    "usage without fields": (_line(_body(usage={})), True),
    "total tokens given": (_line(_body(usage={**USAGE, "total_tokens": 40})), True),
    "zero cache tokens": (_line(_body(usage={**USAGE, "cache_creation_input_tokens": 0})), True),
    "cache read": (_line(_body(usage={**USAGE, "cache_read_input_tokens": 5})), False),
    "cache write": (_line(_body(usage={**USAGE, "cache_creation_input_tokens": 5})), False),
    "tool use only": (_line(_body(content=[{"type": "tool_use", "input": {"a": 1}}])), False),
    "thinking and text": (_line(_body(content=[{"type": "thinking"}, {"type": "text", "text": "x"}])), False),
    "text null": (_line(_body(content=[{"type": "text", "text": None}])), False),
    "no content": (_line(_body(content=[])), False),
    "content not a list": (_line(_body(content="x")), False),
    "float tokens": (_line(_body(usage={"input_tokens": 2.0, "output_tokens": 1})), False),
    "negative tokens": (_line(_body(usage={"input_tokens": -2, "output_tokens": 1})), False),
    "string tokens": (_line(_body(usage={"input_tokens": "2", "output_tokens": 1})), False),
    "model not text": (_line(_body(model=3)), False),
    "error in body": (_line(_body(error={"type": "api_error", "message": "m"})), False),
    "error on the line": (_line(_body(), error={"code": "x", "message": "m"}), False),
    "status 500": (_line({"type": "error", "error": {"type": "api_error", "message": "m"}}, 500), False),
    "status as text": (_line(_body(), "200"), False),
}


@pytest.mark.parametrize("name", CASES)
def test_fast_path_reads_as_the_general_path(name: str) -> None:
    raw, fast = CASES[name]
    reader = answer_reader(MESSAGES)
    line = _decode_result(raw)
    response = line.response
    assert response is not None
    taken = _fast(reader, line.custom_id, response.status_code, line.error, response.body, 3)
    assert (taken is not None) is fast
    general = _unusual(raw, 3, reader)
    assert decode_result_line(raw, 3, MESSAGES) == general
    if taken is not None:
        assert taken == general and taken.succeeded
