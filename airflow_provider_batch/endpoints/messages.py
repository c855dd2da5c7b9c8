"""Anthropic's Messages (``/v1/messages``), the endpoint of its Message Batches.

A request's ``params`` are a Messages body: ``model``, ``max_tokens`` (required), ``messages``
of ``user`` / ``assistant`` turns, and the system prompt in its own ``system`` field (a string or
text blocks), never as a message. Structured output is Anthropic's ``output_config.format``
(``{"type": "json_schema", "schema": {...}}``), passed in ``body=``. An answer is the text of its
``content`` blocks and its ``stop_reason``; its prompt tokens are ``input_tokens`` (the uncached
input) and its completion tokens ``output_tokens``; prompt-cache writes and reads
(``cache_creation_input_tokens``, of them ``cache_creation.ephemeral_1h_input_tokens`` with a
one-hour lifetime, and ``cache_read_input_tokens``) are counted apart and priced at the price
table's cache factors.
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
    json_type,
)
from airflow_provider_batch.endpoints.base import Answer, Endpoint
from airflow_provider_batch.endpoints.chat import MESSAGE_OVERHEAD_TOKENS, content_text

__all__ = ["MESSAGES", "MessagesEndpoint"]

MESSAGES = "/v1/messages"
_ROLES = frozenset({"user", "assistant"})
_PROMPT_FIELD_NAMES = ("tools", "output_config")
_PROMPT_FIELDS = frozenset(_PROMPT_FIELD_NAMES)


class MessagesEndpoint(Endpoint):
    """``messages`` (+ ``system``) in, ``content[].text`` out; ``max_tokens`` bounds it and is required."""

    path: ClassVar[str] = MESSAGES
    answer_name: ClassVar[str] = "content blocks"
    usage_keys: ClassVar[tuple[str, str | None, str]] = ("input_tokens", "output_tokens", "total_tokens")
    cache_usage_keys: ClassVar[tuple[str, str] | None] = (
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    )
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model", "messages", "system"})
    bound_field: ClassVar[str | None] = "max_tokens"
    prompt_fields: ClassVar[tuple[str, ...]] = _PROMPT_FIELD_NAMES

    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        max_tokens = body.get("max_tokens", MISSING)
        if max_tokens is MISSING:
            out.append(("max_tokens_missing", "'body.max_tokens' is required by /v1/messages"))
        elif type(max_tokens) is not int or max_tokens < 1:
            message = f"'body.max_tokens' must be a positive integer, got {max_tokens!r:.40}"
            out.append(("max_tokens_invalid", message))
        system = body.get("system")
        if system is not None and type(system) is not str and type(system) is not list:
            message = f"'body.system' must be a string or text blocks, got {json_type(system)}"
            out.append(("system_invalid", message))
        messages = body.get("messages", MISSING)
        if messages is MISSING:
            out.append(("messages_missing", "'body.messages' is required"))
        elif type(messages) is not list or not messages:
            out.append(("messages_not_list", "'body.messages' must be a non-empty array"))
        else:
            for index, message in enumerate(messages):
                _check_message(index, message, out)

    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": value}]}
        if system_prompt:
            body["system"] = system_prompt
        return {**body, **extra}

    def read_answer(self, body: Any) -> Answer | None:
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, list):
            return None
        texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        text = "".join(t for t in texts if isinstance(t, str)) if texts else None
        if text is None:  # a tool call only: its input is the answer
            uses = [b.get("input") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
            text = as_text(uses[0]) if uses else None
        return Answer(text, as_text(body.get("stop_reason")))

    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        # once per request: the usual body (string content, no tools) takes no further call
        total = schema_tokens(body) if not _PROMPT_FIELDS.isdisjoint(body) else 0
        system = body.get("system")
        if system is not None:
            total += -(-len(system if isinstance(system, str) else content_text(system)) // CHARS_PER_TOKEN)
        messages = body.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if isinstance(message, dict):
                content = message.get("content")
                text = content if type(content) is str else content_text(content)
                total += MESSAGE_OVERHEAD_TOKENS - (-len(text) // CHARS_PER_TOKEN)
        return total

    def max_completion_tokens(self, body: dict[str, Any]) -> int | None:
        value = body.get("max_tokens")
        return value if type(value) is int and value > 0 else None


def _check_message(index: int, message: Any, out: list[RuleHit]) -> None:
    if type(message) is not dict:
        out.append(("message_not_object", f"messages[{index}] must be an object, not {json_type(message)}"))
        return
    role = message.get("role")
    if role == "system":
        hint = "the system prompt goes in 'body.system', not in a message"
        out.append(("message_bad_role", f"messages[{index}]: {hint}"))
    elif role not in _ROLES:
        out.append(("message_bad_role", f"messages[{index}].role {role!r:.40} not in: assistant, user"))
    content = message.get("content")
    if type(content) is not str and type(content) is not list:
        out.append(
            ("message_bad_content", f"messages[{index}].content must be a string or an array of blocks")
        )
