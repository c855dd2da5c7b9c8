"""Per-request checks for one parsed batch input line.

Plain dict and type checks only: this runs 50,000 times per file, so no pydantic and no
allocation beyond the problem tuples of bad lines.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MESSAGE_ROLES", "RuleHit", "check_request"]

MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

RuleHit = tuple[str, str]
"""``(rule, message)`` for one broken rule."""


def check_request(
    obj: Any, *, audio: bool, endpoint: str, max_id_len: int, out: list[RuleHit]
) -> tuple[str | None, str | None]:
    """Check one decoded line, appending broken rules to ``out``.

    :returns: ``(custom_id, model)``, each ``None`` unless it is a usable string.
    """
    if type(obj) is not dict:
        out.append(("not_an_object", f"line must be a JSON object, got {_json_type(obj)}"))
        return None, None
    custom_id = _check_custom_id(obj, max_id_len, out)
    _check_method_and_url(obj, audio=audio, endpoint=endpoint, out=out)
    body = obj.get("body", _MISSING)
    if body is _MISSING:
        out.append(("missing_body", "'body' is required"))
        return custom_id, None
    if type(body) is not dict:
        out.append(("body_not_object", f"'body' must be an object, got {_json_type(body)}"))
        return custom_id, None
    model = _check_model(body, out)
    if audio:
        _check_audio_body(body, out)
    else:
        _check_chat_body(body, out)
    return custom_id, model


_MISSING = object()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_custom_id(obj: dict[str, Any], max_id_len: int, out: list[RuleHit]) -> str | None:
    custom_id = obj.get("custom_id", _MISSING)
    if custom_id is _MISSING:
        out.append(("missing_custom_id", "'custom_id' is required"))
        return None
    if type(custom_id) is not str:
        out.append(("custom_id_not_string", f"'custom_id' must be a string, got {_json_type(custom_id)}"))
        return None
    if not custom_id.strip():
        out.append(("custom_id_empty", "'custom_id' must not be empty or blank"))
        return None
    if len(custom_id) > max_id_len:
        out.append(
            ("custom_id_too_long", f"'custom_id' has {len(custom_id)} characters, the limit is {max_id_len}")
        )
    _check_storable(custom_id, out)
    return custom_id


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_storable(custom_id: str, out: list[RuleHit]) -> None:
    """Refuse characters a results table cannot hold, so that an answer is never paid for and then
    unloadable: U+0000 (PostgreSQL text refuses it; the only code point its UTF8 encoding cannot
    hold) and lone surrogates U+D800-U+DFFF (JSON can escape them, but no UTF-8 text can hold them)."""
    at = custom_id.find("\x00")
    if at >= 0:
        out.append(
            (
                "custom_id_nul",
                f"'custom_id' holds U+0000 (NUL) at character {at + 1}, which PostgreSQL text cannot "
                "store, so its answer could never be loaded",
            )
        )
    if custom_id.isascii():
        return
    lone = _LONE_SURROGATE.search(custom_id)
    if lone is not None:
        out.append(
            (
                "custom_id_lone_surrogate",
                f"'custom_id' holds the lone surrogate U+{ord(lone.group()):04X} at character "
                f"{lone.start() + 1}, which is not valid Unicode text, so its answer could never be loaded",
            )
        )


def _check_method_and_url(obj: dict[str, Any], *, audio: bool, endpoint: str, out: list[RuleHit]) -> None:
    method = obj.get("method")
    if audio:
        if method != "FILE":
            out.append(("method_not_file", f'{endpoint} lines need "method": "FILE", got {method!r}'))
    elif method is not None and method != "POST":
        out.append(("method_invalid", f"'method' must be absent or \"POST\" for {endpoint}, got {method!r}"))
    url = obj.get("url")
    if url is not None and url != endpoint:
        out.append(("url_mismatch", f"'url' is {url!r} but the batch endpoint is {endpoint}"))


def _check_model(body: dict[str, Any], out: list[RuleHit]) -> str | None:
    model = body.get("model", _MISSING)
    if model is _MISSING:
        out.append(("missing_model", "'body.model' is required"))
        return None
    if type(model) is not str or not model.strip():
        out.append(("model_not_string", f"'body.model' must be a non-empty string, got {model!r:.80}"))
        return None
    return model


def _check_audio_body(body: dict[str, Any], out: list[RuleHit]) -> None:
    file = body.get("file")
    if type(file) is not str or not file.strip():
        out.append(("missing_file", "'body.file' must be a non-empty string (the audio URL)"))


def _check_chat_body(body: dict[str, Any], out: list[RuleHit]) -> None:
    _check_max_tokens(body, out)
    messages = body.get("messages", _MISSING)
    if messages is _MISSING:
        out.append(("messages_missing", "'body.messages' is required"))
        return
    if type(messages) is not list:
        out.append(("messages_not_list", f"'body.messages' must be an array, got {_json_type(messages)}"))
        return
    if not messages:
        out.append(("messages_empty", "'body.messages' must not be empty"))
        return
    for index, message in enumerate(messages):
        if type(message) is not dict:
            kind = _json_type(message)
            out.append(("message_not_object", f"messages[{index}] must be an object, not {kind}"))
            continue
        role = message.get("role")
        if role not in MESSAGE_ROLES:
            out.append(("message_bad_role", f"messages[{index}].role {role!r:.40} not in: {_ROLE_LIST}"))
        _check_content(index, message, out)


_ROLE_LIST = ", ".join(sorted(MESSAGE_ROLES))


def _check_content(index: int, message: dict[str, Any], out: list[RuleHit]) -> None:
    content = message.get("content", _MISSING)
    if content is _MISSING or content is None:
        # An assistant turn that only calls tools legitimately has no content.
        if message.get("role") == "assistant" and message.get("tool_calls"):
            return
        out.append(("message_missing_content", f"messages[{index}].content is required"))
    elif type(content) is not str and type(content) is not list:
        out.append(
            (
                "message_bad_content",
                f"messages[{index}].content must be a string or an array of parts, got {_json_type(content)}",
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
