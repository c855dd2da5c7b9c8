"""Embeddings (``/v1/embeddings``): texts in, vectors out.

The body's ``input`` is one text, an array of texts, or token arrays; ``encoding_format`` must be
``float`` (the default) so that the answer holds numbers a warehouse can store (``base64`` gives
a string). The answer is ``data[].embedding``: a request with one input (a string, or an array of
one) yields its vector, a request with several yields their vectors in ``index`` order. Usage is
``prompt_tokens`` and ``total_tokens``; there are no completion tokens, so every request's cost
is bounded by its input alone.
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

__all__ = ["EMBEDDINGS", "MAX_INPUTS", "EmbeddingsEndpoint"]

EMBEDDINGS = "/v1/embeddings"
#: Most inputs one embeddings request takes (OpenAI's API reference).
MAX_INPUTS = 2048


class EmbeddingsEndpoint(Endpoint):
    """``input`` in, ``data[].embedding`` out; no completion tokens."""

    path: ClassVar[str] = EMBEDDINGS
    usage_keys: ClassVar[tuple[str, str | None, str]] = ("prompt_tokens", None, "total_tokens")
    answer_name: ClassVar[str] = "an embedding"
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model", "input"})

    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        check_positive_int(body, "dimensions", "dimensions_invalid", out)
        encoding = body.get("encoding_format")
        if encoding is not None and encoding != "float":
            out.append(
                (
                    "encoding_format_unsupported",
                    f"'body.encoding_format' is {encoding!r:.40}; only \"float\" (the default) answers with "
                    "numbers the results table can store",
                )
            )
        given = body.get("input", MISSING)
        if given is MISSING:
            out.append(("input_missing", "'body.input' is required"))
        elif type(given) is str:
            if not given:
                out.append(("input_empty", "'body.input' must not be an empty string"))
        elif type(given) is not list:
            out.append(
                ("input_bad_type", f"'body.input' must be a string or an array, got {json_type(given)}")
            )
        else:
            _check_inputs(given, out)

    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"model": model, "input": value, **extra}

    def read_answer(self, body: Any) -> Answer | None:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            return None
        items = sorted(data, key=_index) if len(data) > 1 else data
        vectors = [item.get("embedding") if isinstance(item, dict) else None for item in items]
        if not all(_is_vector(v) for v in vectors):
            return None
        return Answer(vector=vectors[0] if len(vectors) == 1 else vectors)

    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        given = body.get("input")
        if isinstance(given, str):
            return estimate_tokens(given)
        if not isinstance(given, list):
            return 0
        if given and all(type(x) is int for x in given):
            return len(given)  # one input, already tokens
        return sum(
            estimate_tokens(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 0
            for item in given
        )

    def max_completion_tokens(self, body: dict[str, Any]) -> int | None:
        return 0  # embeddings produce no tokens: always bounded


def _check_inputs(given: list[Any], out: list[RuleHit]) -> None:
    if not given:
        out.append(("input_empty", "'body.input' must not be an empty array"))
        return
    if len(given) > MAX_INPUTS:
        out.append(("input_too_many", f"'body.input' has {len(given)} items, the limit is {MAX_INPUTS}"))
    if all(type(x) is int for x in given):
        return  # one input given as token ids
    for index, item in enumerate(given):
        if type(item) is str:
            if not item:
                out.append(("input_empty", f"input[{index}] must not be an empty string"))
        elif type(item) is list:
            if not item or not all(type(x) is int for x in item):
                out.append(("input_bad_tokens", f"input[{index}] must be a non-empty array of token ids"))
        else:
            out.append(
                (
                    "input_bad_type",
                    f"input[{index}] must be a string or an array of token ids, got {json_type(item)}",
                )
            )


def _index(item: Any) -> int:
    index = item.get("index") if isinstance(item, dict) else None
    return index if type(index) is int else 0


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(type(x) is float or (type(x) is int) for x in value)
    )
