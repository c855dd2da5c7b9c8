"""Small helpers shared by the endpoints' request checks and token estimates (no package imports)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = [
    "CHARS_PER_TOKEN",
    "MISSING",
    "RuleHit",
    "SchemaTokens",
    "as_text",
    "check_positive_int",
    "estimate_tokens",
    "json_type",
    "serialised_tokens",
]

RuleHit = tuple[str, str]
"""``(rule, message)`` for one broken rule."""

#: A key that is absent (distinct from one that is ``null``).
MISSING: Any = object()

CHARS_PER_TOKEN = 4


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
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


def estimate_tokens(text: str) -> int:
    """Estimate the token count of ``text`` as ``ceil(len(text) / 4)`` (0 for empty text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def serialised_tokens(value: Any) -> int:
    """Tokens of a JSON value as the API renders it into the prompt (tools, schemas)."""
    if not isinstance(value, (dict, list)) or not value:
        return 0
    return estimate_tokens(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def check_positive_int(body: dict[str, Any], key: str, rule: str, out: list[RuleHit]) -> None:
    """``body[key]``, when set, must be an integer >= 1."""
    value = body.get(key)
    if value is not None and (type(value) is not int or value < 1):
        out.append((rule, f"'body.{key}' must be a positive integer, got {value!r:.40}"))


class SchemaTokens:
    """Tokens of each prompt field's value (``tools``, ``response_format``...), serialised again
    only when it differs from the previous line's: a batch usually repeats one schema, and
    comparing is ~20x cheaper than dumping.

    :param fields: the body fields to count.
    """

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.field_set = frozenset(fields)
        self.last: dict[str, tuple[Any, int]] = {}

    def __call__(self, body: dict[str, Any]) -> int:
        if self.field_set.isdisjoint(body):
            return 0
        total = 0
        for key in self.fields:
            value = body.get(key)
            if value is None:
                continue
            seen = self.last.get(key)
            if seen is None or seen[0] != value:
                seen = self.last[key] = (value, serialised_tokens(value))
            total += seen[1]
        return total


_encode = msgspec.json.Encoder().encode


def as_text(value: Any) -> str | None:
    """A JSON value as text: strings as they are, objects and arrays as compact JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _encode(value).decode()
    return str(value)
