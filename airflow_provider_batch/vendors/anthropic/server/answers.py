"""The simulated model behind the Anthropic emulation: one result line per request.

A result line is ``{"custom_id", "result": {...}}`` with ``result.type`` ``succeeded`` (a
``message``), ``errored`` (an error response), ``canceled`` or ``expired``, as in Anthropic's
Message Batches reference and the SDK's ``MessageBatchIndividualResponse``.

The text comes from the shared responder (:func:`~airflow_provider_batch.testing.server.responder.
chat_completion`, so answers and token counts match the other emulations for the same prompt);
``system`` counts as part of the prompt, ``output_config.format`` (and the older
``output_format``) of type ``json_schema`` gives a JSON text that fits the schema.

The ``params`` of each request are checked here, when the batch runs, as Anthropic checks them
(its batch guide: validation of ``params`` is asynchronous, and its errors come back as
``errored`` results once the batch has ended): a missing or bad ``max_tokens``, ``model`` or
``messages`` is an ``invalid_request_error``, an unknown model a ``not_found_error``.

Prompt caching: the prompt up to the last block that carries ``cache_control`` (or the whole prompt
when ``params.cache_control`` is set) is a cacheable prefix when it holds at least
:data:`MIN_CACHEABLE_TOKENS` tokens. The first request of a batch with a given prefix writes it
(``cache_creation_input_tokens``), later ones read it (``cache_read_input_tokens``);
``input_tokens`` counts the rest, as on the live API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_batch.testing.server.responder import (
    FAIL_MARKER,
    FAIL_ONCE_MARKER,
    chat_completion,
    count_tokens,
)

__all__ = [
    "ANTHROPIC_MODELS",
    "ERROR_TYPES",
    "MARKER_ERROR_TYPES",
    "MIN_CACHEABLE_TOKENS",
    "Answer",
    "CacheState",
    "answer",
    "errored",
    "fail_once_code",
    "marker_error_type",
]

#: The emulated catalog: model -> (context window, most output tokens), from Anthropic's models
#: overview. Other names can be served with ``ServerConfig.models``.
ANTHROPIC_MODELS: dict[str, tuple[int, int]] = {
    "claude-opus-4-5": (200_000, 64_000),
    "claude-opus-4-5-20251101": (200_000, 64_000),
    "claude-opus-4-1": (200_000, 32_000),
    "claude-opus-4-1-20250805": (200_000, 32_000),
    "claude-opus-4-0": (200_000, 32_000),
    "claude-opus-4-20250514": (200_000, 32_000),
    "claude-sonnet-4-5": (200_000, 64_000),
    "claude-sonnet-4-5-20250929": (200_000, 64_000),
    "claude-sonnet-4-0": (200_000, 64_000),
    "claude-sonnet-4-20250514": (200_000, 64_000),
    "claude-3-7-sonnet-latest": (200_000, 64_000),
    "claude-3-7-sonnet-20250219": (200_000, 64_000),
    "claude-haiku-4-5": (200_000, 64_000),
    "claude-haiku-4-5-20251001": (200_000, 64_000),
    "claude-3-5-haiku-latest": (200_000, 8_192),
    "claude-3-5-haiku-20241022": (200_000, 8_192),
    "claude-3-haiku-20240307": (200_000, 4_096),
}
#: The ``error.type`` values of Anthropic's error responses.
ERROR_TYPES = (
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
)
#: The shared emulation's marker codes (``[[fail:CODE]]``, named as on Together's and OpenAI's
#: wires) -> the Anthropic error type that means the same: a test's marker keeps its meaning
#: (transient or permanent) on every vendor. A code that is already a type is kept.
MARKER_ERROR_TYPES: dict[str, str] = {
    "server_overloaded": "overloaded_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
    "rate_limit_exceeded": "rate_limit_error",
    "rate_limited": "rate_limit_error",
    "server_error": "api_error",
    "internal_error": "api_error",
    "invalid_model": "not_found_error",
    "model_not_found": "not_found_error",
    "invalid_request": "invalid_request_error",
    "context_length_exceeded": "invalid_request_error",
    "content_policy_violation": "invalid_request_error",
}
#: The shortest prefix the simulated cache stores (Anthropic's minimum for Opus and Sonnet).
MIN_CACHEABLE_TOKENS = 1024

#: One result line, whether it succeeded, and its (input, output, cache write, cache read) tokens.
Answer = tuple[dict[str, Any], bool, tuple[int, int, int, int]]
_NO_TOKENS = (0, 0, 0, 0)


@dataclass
class CacheState:
    """The prefixes one batch has written to the simulated cache (digests)."""

    written: set[str] = field(default_factory=set)


def errored(custom_id: str, kind: str, message: str) -> dict[str, Any]:
    """The line of a request that failed with an error response of type ``kind``."""
    error = {"type": "error", "error": {"type": kind, "message": message}}
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


def _text_of(content: Any) -> list[tuple[str, Any]]:
    """``(text, cache_control)`` of each text block of a ``system`` or message ``content``."""
    if isinstance(content, str):
        return [(content, None)]
    blocks: list[tuple[str, Any]] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                blocks.append((str(block.get("text", "")), block.get("cache_control")))
            elif isinstance(block, dict):
                blocks.append(("", block.get("cache_control")))
    return blocks


def _blocks(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every prompt block in cache order: ``system`` first, then the messages."""
    blocks = _text_of(params.get("system"))
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            blocks.extend(_text_of(message.get("content")))
    return blocks


def _problem(params: Any, catalog: Mapping[str, tuple[int, int]]) -> tuple[str, str] | None:
    """``(error type, message)`` of params Anthropic would refuse, or ``None``."""
    if not isinstance(params, dict):
        return "invalid_request_error", "params: Input should be a valid dictionary"
    model = params.get("model")
    if not isinstance(model, str) or not model:
        return "invalid_request_error", "model: Field required"
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        return "invalid_request_error", "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "invalid_request_error", "max_tokens: Input should be an integer greater than or equal to 1"
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        return "invalid_request_error", "messages: Field required (at least one message)"
    if params.get("stream") is True:
        return "invalid_request_error", "stream: streaming is not supported in Message Batches"
    if model not in catalog:
        return "not_found_error", f"model: {model}"
    most = catalog[model][1]
    if max_tokens > most:
        return (
            "invalid_request_error",
            f"max_tokens: {max_tokens} > {most}, which is the maximum allowed number of output tokens "
            f"for {model}",
        )
    return None


def _too_long(prompt: int, max_tokens: int, context: int) -> tuple[str, str] | None:
    if prompt + max_tokens <= context:
        return None
    return (
        "invalid_request_error",
        f"input length and `max_tokens` exceed context limit: {prompt} + {max_tokens} > {context}, "
        "decrease input length or `max_tokens` and try again",
    )


def _cache(
    params: Mapping[str, Any], blocks: list[tuple[str, Any]], tokens_of: list[int], cache: CacheState
) -> tuple[int, int, int, str]:
    """``(prefix tokens written, prefix tokens read, tokens of the prefix, ttl)`` of one request
    whose prompt ``blocks`` hold ``tokens_of`` tokens each."""
    last = max((i for i, (_, control) in enumerate(blocks) if isinstance(control, dict)), default=-1)
    control: Any = blocks[last][1] if last >= 0 else None
    if isinstance(params.get("cache_control"), dict):  # automatic caching: the whole prompt
        last, control = len(blocks) - 1, params["cache_control"]
    if last < 0:
        return 0, 0, 0, "5m"
    prefix = [text for text, _ in blocks[: last + 1]]
    tokens = sum(tokens_of[: last + 1])
    ttl = "1h" if isinstance(control, dict) and control.get("ttl") == "1h" else "5m"
    if tokens < MIN_CACHEABLE_TOKENS:
        return 0, 0, 0, ttl
    key = hashlib.sha256("\x1f".join([str(params.get("model")), *prefix]).encode()).hexdigest()
    if key in cache.written:
        return 0, tokens, tokens, ttl
    cache.written.add(key)
    return tokens, 0, tokens, ttl


def _chat_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """The chat body whose simulated answer and token counts this request gets."""
    messages: list[dict[str, Any]] = []
    system = "\n".join(text for text, _ in _text_of(params.get("system")))
    if system:
        messages.append({"role": "system", "content": system})
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            text = "\n".join(text for text, _ in _text_of(message.get("content")))
            messages.append({"role": str(message.get("role", "user")), "content": text})
    chat: dict[str, Any] = {
        "model": params.get("model"),
        "messages": messages,
        "max_tokens": params["max_tokens"],
    }
    config = params.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else params.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema") or {}}}
    return chat


def _message_id(batch_id: str, custom_id: str) -> str:
    digest = hashlib.sha256(f"msg\x1f{batch_id}\x1f{custom_id}".encode()).hexdigest()
    return "msg_01" + digest[:22]


def fail_once_code(params: Any) -> str | None:
    """The code of a ``[[fail-once:CODE]]`` marker anywhere in the params, else ``None``."""
    match = FAIL_ONCE_MARKER.search(str(params))
    return match.group(1) if match else None


def marker_error_type(code: str, *, transient: bool = False) -> str:
    """The Anthropic error type a marker's ``code`` gives (:data:`MARKER_ERROR_TYPES`); an unknown
    code is an ``api_error`` when the marker is ``[[fail-once:...]]`` (``transient``), else an
    ``invalid_request_error``."""
    if code in ERROR_TYPES:
        return code
    return MARKER_ERROR_TYPES.get(code, "api_error" if transient else "invalid_request_error")


def answer(
    custom_id: str,
    params: Any,
    catalog: Mapping[str, tuple[int, int]],
    cache: CacheState,
    *,
    batch_id: str,
    marked: bool = True,
) -> Answer:
    """The result line of one request (``[[fail:CODE]]`` in the params: errored with that type).

    :param marked: whether the request may hold a marker (``False`` skips the search).
    """
    marker = FAIL_MARKER.search(str(params)) if marked else None
    if marker:
        code = marker.group(1)
        return errored(custom_id, marker_error_type(code), f"simulated failure: {code}"), False, _NO_TOKENS
    problem = _problem(params, catalog)
    blocks = _blocks(params) if problem is None else []
    tokens_of = [count_tokens(text) for text, _ in blocks]
    if problem is None:
        problem = _too_long(sum(tokens_of), params["max_tokens"], catalog[params["model"]][0])
    if problem is not None:
        return errored(custom_id, *problem), False, _NO_TOKENS
    written, read, prefix, ttl = _cache(params, blocks, tokens_of, cache)
    chat = chat_completion(_chat_body(params))
    usage = chat["usage"]
    truncated = chat["choices"][0]["finish_reason"] == "length"
    input_tokens = usage["prompt_tokens"] - prefix
    message = {
        "id": _message_id(batch_id, custom_id),
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": chat["choices"][0]["message"]["content"]}],
        "stop_reason": "max_tokens" if truncated else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written if ttl == "5m" else 0,
                "ephemeral_1h_input_tokens": written if ttl == "1h" else 0,
            },
            "output_tokens": usage["completion_tokens"],
            "service_tier": "batch",
        },
    }
    line = {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}
    return line, True, (input_tokens, usage["completion_tokens"], written, read)
