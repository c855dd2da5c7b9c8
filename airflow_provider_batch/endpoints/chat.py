"""Chat completions (``/v1/chat/completions``): Together's and OpenAI's shape.

The request checks, the answer reading and the token estimate were the pipeline's only ones
before the endpoint registry; their rules and messages are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_batch.endpoints._checks import (
    CHARS_PER_TOKEN,
    MISSING,
    RuleHit,
    SchemaTokens,
    as_text,
    estimate_tokens,
    json_type,
    serialised_tokens,
)
from airflow_provider_batch.endpoints.base import Answer, Endpoint

__all__ = ["CHAT_COMPLETIONS", "MESSAGE_OVERHEAD_TOKENS", "MESSAGE_ROLES", "ChatEndpoint", "content_text"]

CHAT_COMPLETIONS = "/v1/chat/completions"
MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens added per chat message for the role and the chat template's separators."""

_ROLE_LIST = ", ".join(sorted(MESSAGE_ROLES))
_PROMPT_FIELDS = ("tools", "functions", "response_format")
_PROMPT_FIELDS_SET = frozenset(_PROMPT_FIELDS)


class ChatEndpoint(Endpoint):
    """``messages`` in, ``choices[0].message.content`` out; ``max_tokens`` times ``n`` bounds it."""

    path: ClassVar[str] = CHAT_COMPLETIONS
    answer_name: ClassVar[str] = "a choice or a transcript"
    reads_by_shape: ClassVar[bool] = True
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model", "messages"})
    prompt_fields: ClassVar[tuple[str, ...]] = _PROMPT_FIELDS

    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        _check_max_tokens(body, out)
        messages = body.get("messages", MISSING)
        if messages is MISSING:
            out.append(("messages_missing", "'body.messages' is required"))
            return
        if type(messages) is not list:
            out.append(("messages_not_list", f"'body.messages' must be an array, got {json_type(messages)}"))
            return
        if not messages:
            out.append(("messages_empty", "'body.messages' must not be empty"))
            return
        for index, message in enumerate(messages):
            if type(message) is not dict:
                kind = json_type(message)
                out.append(("message_not_object", f"messages[{index}] must be an object, not {kind}"))
                continue
            role = message.get("role")
            if role not in MESSAGE_ROLES:
                out.append(("message_bad_role", f"messages[{index}].role {role!r:.40} not in: {_ROLE_LIST}"))
            _check_content(index, message, out)

    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        messages = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": value})
        return {"model": model, "messages": messages, **extra}

    def read_answer(self, body: Any) -> Answer | None:
        choices = body.get("choices") if isinstance(body, dict) else None
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
            return None
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else choice.get("text")
        return Answer(as_text(content), as_text(choice.get("finish_reason")))

    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        # Once per request: the common case (string content, no tool calls) takes no further call.
        total = schema_tokens(body) if not _PROMPT_FIELDS_SET.isdisjoint(body) else 0
        messages = body.get("messages")
        if not isinstance(messages, list):
            prompt = body.get("prompt")
            return total + (estimate_tokens(prompt) if isinstance(prompt, str) else 0)
        for message in messages:
            if isinstance(message, dict):
                content = message.get("content")
                text = content if type(content) is str else content_text(content)
                total += MESSAGE_OVERHEAD_TOKENS - (-len(text) // CHARS_PER_TOKEN)
                calls = message.get("tool_calls")
                if calls:
                    total += serialised_tokens(calls)
        return total

    def max_completion_tokens(self, body: dict[str, Any]) -> int | None:
        """The larger of ``max_tokens`` and ``max_completion_tokens``; ``None`` when neither is set."""
        first, second = body.get("max_tokens"), body.get("max_completion_tokens")
        first = first if type(first) is int and first > 0 else None
        if type(second) is not int or second <= 0:
            return first
        return second if first is None or second > first else first

    def completions(self, body: dict[str, Any]) -> int:
        n = body.get("n")
        return n if type(n) is int and n > 0 else 1


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the ``text`` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Multimodal parts: only text parts are counted; images and audio are not estimated.
        texts = (part.get("text") for part in content if isinstance(part, dict))
        return "".join(text for text in texts if isinstance(text, str))
    return ""


def _check_content(index: int, message: dict[str, Any], out: list[RuleHit]) -> None:
    content = message.get("content", MISSING)
    if content is MISSING or content is None:
        # An assistant turn that only calls tools legitimately has no content.
        if message.get("role") == "assistant" and message.get("tool_calls"):
            return
        out.append(("message_missing_content", f"messages[{index}].content is required"))
    elif type(content) is not str and type(content) is not list:
        out.append(
            (
                "message_bad_content",
                f"messages[{index}].content must be a string or an array of parts, got {json_type(content)}",
            )
        )


def _check_max_tokens(body: dict[str, Any], out: list[RuleHit]) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (type(value) is not int or value < 1):
            out.append(("max_tokens_invalid", f"'body.{key}' must be a positive integer, got {value!r:.40}"))
    n = body.get("n")
    if n is not None and (type(n) is not int or n < 1):
        message = f"'body.n' (completions per request) must be a positive integer, got {n!r:.40}"
        out.append(("n_invalid", message))
