"""The simulated model behind the OpenAI emulation: one output- or error-file line per request.

Chat answers are the shared responder's (:func:`~airflow_provider_batch.testing.server.responder.
chat_completion`, with honest token counts); a Responses API request is answered through it too
and re-shaped as a ``response`` object; an embeddings request gets deterministic unit vectors.

Line shapes follow OpenAI's API reference ("The request output object") and what the live API
writes (openai/openai-openapi issue 302): every line is ``{id, custom_id, response, error}``.

* an answered request: ``response = {status_code: 200, request_id, body}``, ``error = null``;
* a request the model cannot serve (``max_tokens`` beyond its context, ``[[fail:CODE]]``): its own
  line in the error file with ``response.status_code`` 400 and the API's error object as the body,
  ``error = null``;
* a request that never ran: ``response = null``, ``error = {code, message}`` with ``code``
  ``batch_expired`` or ``batch_cancelled`` (the codes openai-openapi documents for
  ``BatchRequestOutput.error``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_batch.testing.server.responder import (
    FAIL_MARKER,
    chat_completion,
    count_tokens,
    line_id,
)

__all__ = [
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "OPENAI_MODELS",
    "Answer",
    "answer",
    "failed_line",
    "unrun_line",
]

#: The emulated catalog: model -> context window in tokens (the windows of OpenAI's model pages).
OPENAI_MODELS: dict[str, int] = {
    "gpt-4o-mini": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-5": 400_000,
    "gpt-5-mini": 400_000,
    "gpt-5-nano": 400_000,
    "o4-mini": 200_000,
    "text-embedding-3-small": 8_191,
    "text-embedding-3-large": 8_191,
    "text-embedding-ada-002": 8_191,
}
#: Length of an emulated embedding unless the request sets ``dimensions`` (the real models return
#: 1536 or 3072 floats; a shorter vector keeps test files small).
DEFAULT_EMBEDDING_DIMENSIONS = 16
#: HTTP status of a ``[[fail:CODE]]`` line, by code (400 for any other code).
_FAIL_STATUS = {"rate_limit_exceeded": 429, "server_error": 500, "internal_error": 500, "timeout": 504}
_UNRUN = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
}

#: One line: its JSON, whether it belongs in the error file, and its (input, output) tokens.
Answer = tuple[dict[str, Any], bool, int, int]


def _request_id(batch_id: str, custom_id: str) -> str:
    return hashlib.sha256(f"req\x1f{batch_id}\x1f{custom_id}".encode()).hexdigest()[:32]


def _line(batch_id: str, custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "batch_req_" + line_id(batch_id, custom_id)[3:27],
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": _request_id(batch_id, custom_id), "body": body},
        "error": None,
    }


def unrun_line(batch_id: str, custom_id: str, code: str) -> dict[str, Any]:
    """The error-file line of a request that never ran (``batch_expired`` / ``batch_cancelled``)."""
    return {
        "id": "batch_req_" + line_id(batch_id, custom_id)[3:27],
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": _UNRUN[code]},
    }


def failed_line(batch_id: str, custom_id: str, status: int, message: str, code: str) -> Answer:
    """An error-file line for a request that ran and failed with ``status`` and ``code``."""
    return _line(batch_id, custom_id, status, _error_body(message, code, None, status)), True, 0, 0


def _error_body(message: str, code: str, param: str | None, status: int) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _responses_as_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses API body as the chat body that gives the same text and token counts."""
    messages: list[Any] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            content = item.get("content") if isinstance(item, Mapping) else None
            if isinstance(content, list):
                content = [{**p, "type": "text"} for p in content if isinstance(p, Mapping) and "text" in p]
            messages.append({"role": "user", "content": content})
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if isinstance(body.get("text"), Mapping) and isinstance(body["text"].get("format"), Mapping):
        chat["response_format"] = {**body["text"]["format"], "json_schema": body["text"]["format"]}
    return chat


def _response_object(body: Mapping[str, Any], created: int, ident: str) -> tuple[dict[str, Any], int, int]:
    chat = chat_completion(_responses_as_chat(body), created=created, completion_id=ident)
    usage = chat["usage"]
    text = chat["choices"][0]["message"]["content"]
    truncated = chat["choices"][0]["finish_reason"] == "length"
    answer = {
        "id": "resp_" + ident,
        "object": "response",
        "created_at": created,
        "status": "incomplete" if truncated else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "model": body.get("model"),
        "output": [
            {
                "type": "message",
                "id": "msg_" + ident,
                "status": "incomplete" if truncated else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["total_tokens"],
        },
    }
    return answer, usage["prompt_tokens"], usage["completion_tokens"]


def _inputs(body: Mapping[str, Any]) -> list[str]:
    given = body.get("input")
    items = given if isinstance(given, list) else [given]
    return [item if isinstance(item, str) else " ".join(map(str, item or [])) for item in items]


def _vector(text: str, dimensions: int) -> list[float]:
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(f"emb\x1f{counter}\x1f{text}".encode()).digest()
        raw.extend(b / 127.5 - 1.0 for b in digest)
        counter += 1
    norm = math.sqrt(sum(x * x for x in raw[:dimensions])) or 1.0
    return [round(x / norm, 6) for x in raw[:dimensions]]


def _embeddings(body: Mapping[str, Any]) -> tuple[dict[str, Any], int, int]:
    dimensions = body.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and dimensions > 0 else DEFAULT_EMBEDDING_DIMENSIONS
    texts = _inputs(body)
    tokens = sum(count_tokens(text) for text in texts)
    data = [{"object": "embedding", "index": i, "embedding": _vector(t, size)} for i, t in enumerate(texts)]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}, tokens, 0


def _prompt_tokens(endpoint: str, body: Mapping[str, Any]) -> int:
    if endpoint.endswith("/embeddings"):
        return sum(count_tokens(text) for text in _inputs(body))
    chat = _responses_as_chat(body) if endpoint.endswith("/responses") else body
    messages = chat.get("messages") or []
    return sum(count_tokens(str(m.get("content", ""))) for m in messages if isinstance(m, Mapping))


def _refusal(endpoint: str, body: Mapping[str, Any], context: int) -> tuple[int, dict[str, Any]] | None:
    """The 400 of a request the model cannot serve, or ``None``."""
    marker = FAIL_MARKER.search(str(body))
    if marker:
        code = marker.group(1)
        status = _FAIL_STATUS.get(code, 400)
        return status, _error_body(f"simulated failure: {code}", code, None, status)
    prompt = _prompt_tokens(endpoint, body)
    limit = body.get("max_output_tokens") or body.get("max_completion_tokens") or body.get("max_tokens") or 0
    if isinstance(limit, int) and prompt + limit > context:
        message = (
            f"This model's maximum context length is {context} tokens. However, you requested "
            f"{prompt + limit} tokens ({prompt} in the messages, {limit} in the completion). "
            "Please reduce the length of the messages or completion."
        )
        return 400, _error_body(message, "context_length_exceeded", "messages", 400)
    return None


def answer(line: Mapping[str, Any], endpoint: str, context: int, *, batch_id: str, created: int) -> Answer:
    """The output- or error-file line for one valid input line.

    :param line: the parsed input line (``custom_id``, ``method``, ``url``, ``body``).
    :param endpoint: the batch's endpoint.
    :param context: the context window of the batch's model.
    """
    custom_id, body = str(line["custom_id"]), line["body"]
    refusal = _refusal(endpoint, body, context)
    if refusal is not None:
        return _line(batch_id, custom_id, refusal[0], refusal[1]), True, 0, 0
    ident = line_id(batch_id, custom_id)[3:27]
    if endpoint.endswith("/embeddings"):
        result, prompt, completion = _embeddings(body)
    elif endpoint.endswith("/responses"):
        result, prompt, completion = _response_object(body, created, ident)
    else:
        result = chat_completion(body, created=created, completion_id="chatcmpl-" + ident)
        prompt, completion = result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]
    return _line(batch_id, custom_id, 200, result), False, prompt, completion
