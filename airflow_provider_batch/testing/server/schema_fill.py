"""Build a JSON value that satisfies a JSON Schema, deterministically from a seed text."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_for_schema"]

_MAX_DEPTH = 12


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, default: float) -> tuple[float, bool]:
    """A numeric bound of ``schema`` and whether it is exclusive."""
    for key, is_open in ((inclusive, False), (exclusive, True)):
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), is_open
    return default, False


class _Filler:
    def __init__(self, root: Mapping[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def pick(self, path: str, count: int) -> int:
        digest = hashlib.sha256(f"{self.seed}\x1f{path}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % max(count, 1)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        return {**self.resolve(target), **merged}

    def value(self, schema: Any, path: str, depth: int = 0) -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][self.pick(path, len(schema["enum"]))]
        for key in ("anyOf", "oneOf"):
            options = [o for o in schema.get(key) or [] if self.resolve(o).get("type") != "null"]
            if options:
                return self.value(options[0], path, depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            return self.value(merged, path, depth + 1)
        return self.typed(schema, self.type_of(schema), path, depth)

    @staticmethod
    def type_of(schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind:
            return str(kind)
        if "properties" in schema:
            return "object"
        return "array" if "items" in schema else "string"

    def typed(self, schema: Mapping[str, Any], kind: str, path: str, depth: int) -> Any:
        if kind == "object":
            props = schema.get("properties") or {}
            return {name: self.value(sub, f"{path}.{name}", depth + 1) for name, sub in props.items()}
        if kind == "array":
            low = _int(schema.get("minItems"), 1)
            high = max(_int(schema.get("maxItems"), max(low, 3)), low)
            size = low + self.pick(path + "#n", high - low + 1)
            return [self.value(schema.get("items", {}), f"{path}[{i}]", depth + 1) for i in range(size)]
        if kind in ("integer", "number"):
            return self.number(schema, kind, path)
        if kind == "boolean":
            return bool(self.pick(path, 2))
        if kind == "null":
            return None
        return self.string(schema, path)

    def number(self, schema: Mapping[str, Any], kind: str, path: str) -> int | float:
        low, low_open = _bound(schema, "minimum", "exclusiveMinimum", 0.0)
        high, high_open = _bound(schema, "maximum", "exclusiveMaximum", low + 100.0)
        if kind == "number":  # strictly inside the range, so exclusive bounds hold too
            return low + (high - low) * (0.05 + 0.9 * self.pick(path, 1000) / 999)
        first = math.floor(low) + 1 if low_open else math.ceil(low)
        last = math.ceil(high) - 1 if high_open else math.floor(high)
        return first + self.pick(path, last - first + 1) if last >= first else first

    def string(self, schema: Mapping[str, Any], path: str) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt == "date":
            return "2026-01-01"
        if fmt == "email":
            return "simulated@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com/simulated"
        if fmt == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        name = path.rsplit(".", 1)[-1] or "value"
        text = f"[simulated] {name} {self.pick(path, 10_000)}"
        text = text.ljust(_int(schema.get("minLength"), 0), "x")
        high = schema.get("maxLength")
        return text[: _int(high, len(text))] if high is not None else text


def instance_for_schema(schema: Mapping[str, Any], seed: str) -> Any:
    """Return a value valid against ``schema``: every declared property present, enums picked from
    a hash of ``seed`` and the property path, numbers inside their bounds.

    Supports ``type`` (also as a list), ``properties``, ``items``, ``enum``, ``const``, ``anyOf``,
    ``oneOf``, ``allOf``, local ``$ref`` (``#/$defs/…``), numeric bounds, ``minItems``/``maxItems``,
    ``minLength``/``maxLength`` and common string formats.
    """
    return _Filler(schema, seed).value(schema, "$")
