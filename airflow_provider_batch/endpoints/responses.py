"""OpenAI's Responses API (``/v1/responses``).

The body has ``input`` (a string, or an array of input items such as ``{"role", "content"}``
messages) and optional ``instructions``; ``max_output_tokens`` bounds the output. The answer is
the ``output_text`` parts of the ``output`` items (``output[].content[].text``), joined; usage is
``input_tokens`` / ``output_tokens`` / ``total_tokens``. The finish reason is the response's
``incomplete_details.reason`` (``max_output_tokens``...) when it stopped early, else its
``status`` (``completed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_batch.endpoints._checks import (
    MISSING,
    RuleHit,
    SchemaTokens,
    check_positive_int,
    estimate_tokens,
    json_type,
)
from airflow_provider_batch.endpoints.base import Answer, Endpoint
from airflow_provider_batch.endpoints.chat import MESSAGE_OVERHEAD_TOKENS, content_text

__all__ = ["RESPONSES", "INPUT_ROLES", "ResponsesEndpoint"]

RESPONSES = "/v1/responses"
#: Roles an input message may have.
INPUT_ROLES = frozenset({"system", "developer", "user", "assistant"})
_ROLE_LIST = ", ".join(sorted(INPUT_ROLES))


class ResponsesEndpoint(Endpoint):
    """``input`` (+ ``instructions``) in, ``output[].content[]`` parts of type ``output_text`` out."""

    path: ClassVar[str] = RESPONSES
    usage_keys: ClassVar[tuple[str, str | None, str]] = ("input_tokens", "output_tokens", "total_tokens")
    answer_name: ClassVar[str] = "an output"
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model", "input", "instructions"})
    prompt_fields: ClassVar[tuple[str, ...]] = ("tools", "text")
    bound_field: ClassVar[str | None] = "max_output_tokens"

    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        check_positive_int(body, "max_output_tokens", "max_tokens_invalid", out)
        instructions = body.get("instructions")
        if instructions is not None and type(instructions) is not str:
            out.append(
                (
                    "instructions_not_string",
                    f"'body.instructions' must be a string, got {json_type(instructions)}",
                )
            )
        given = body.get("input", MISSING)
        if given is MISSING:
            out.append(("input_missing", "'body.input' is required"))
        elif type(given) is str:
            if not given.strip():
                out.append(("input_empty", "'body.input' must not be empty or blank"))
        elif type(given) is not list:
            out.append(
                (
                    "input_bad_type",
                    f"'body.input' must be a string or an array of items, got {json_type(given)}",
                )
            )
        elif not given:
            out.append(("input_empty", "'body.input' must not be empty"))
        else:
            for index, item in enumerate(given):
                _check_item(index, item, out)

    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "input": value}
        if system_prompt:
            body["instructions"] = system_prompt
        return {**body, **extra}

    def read_answer(self, body: Any) -> Answer | None:
        if not isinstance(body, dict):
            return None
        output = body.get("output")
        if not isinstance(output, list) or body.get("status") == "failed":
            return None
        texts = [
            part["text"]
            for item in output
            if isinstance(item, dict) and isinstance(item.get("content"), list)
            for part in item["content"]
            if isinstance(part, dict)
            and part.get("type") == "output_text"
            and isinstance(part.get("text"), str)
        ]
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        status = body.get("status")
        finish = reason if isinstance(reason, str) else status if isinstance(status, str) else None
        return Answer("".join(texts) if texts else None, finish)

    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        total = schema_tokens(body)
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(instructions)
        given = body.get("input")
        if isinstance(given, str):
            return total + MESSAGE_OVERHEAD_TOKENS + estimate_tokens(given)
        for item in given if isinstance(given, list) else ():
            if isinstance(item, str):
                total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(item)
            elif isinstance(item, dict):
                text = content_text(item.get("content")) or content_text(item.get("output"))
                total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(text)
        return total

    def max_completion_tokens(self, body: dict[str, Any]) -> int | None:
        value = body.get("max_output_tokens")
        return value if type(value) is int and value > 0 else None


def _check_item(index: int, item: Any, out: list[RuleHit]) -> None:
    if type(item) is not dict:
        out.append(("input_item_not_object", f"input[{index}] must be an object, not {json_type(item)}"))
        return
    if "role" not in item and item.get("type", "message") != "message":
        return  # another item kind (function_call_output, reasoning...): the API checks it
    role = item.get("role")
    if role not in INPUT_ROLES:
        out.append(("input_bad_role", f"input[{index}].role {role!r:.40} not in: {_ROLE_LIST}"))
    content = item.get("content", MISSING)
    if content is MISSING or content is None:
        out.append(("input_missing_content", f"input[{index}].content is required"))
    elif type(content) is not str and type(content) is not list:
        kind = json_type(content)
        out.append(
            ("input_bad_content", f"input[{index}].content must be a string or an array of parts, got {kind}")
        )
