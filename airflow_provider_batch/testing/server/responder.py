"""The simulated model behind the local server: deterministic answers, honest token counts.

Nothing here calls a model. Every answer is derived from a hash of the request, is marked as
simulated (chat answers start with ``[simulated]``, transcripts with ``[simulated transcript]``,
``system_fingerprint`` is ``local-simulated``), and is reproducible, so tests can compute the
expected output line with :func:`respond`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from airflow_provider_batch.testing.server.schema_fill import instance_for_schema

__all__ = [
    "AUDIO_ENDPOINTS",
    "CHAT_ENDPOINT",
    "FAIL_MARKER",
    "FAIL_ONCE_MARKER",
    "SYSTEM_FINGERPRINT",
    "chat_completion",
    "count_tokens",
    "error_line",
    "fail_once_code",
    "line_id",
    "prompt_text",
    "respond",
    "transcription",
]

CHAT_ENDPOINT = "/v1/chat/completions"
AUDIO_ENDPOINTS = ("/v1/audio/transcriptions", "/v1/audio/translations")
SYSTEM_FINGERPRINT = "local-simulated"
#: A prompt containing ``[[fail:CODE]]`` produces an error line with that code.
FAIL_MARKER = re.compile(r"\[\[fail:([A-Za-z0-9_.-]+)\]\]")
#: A prompt containing ``[[fail-once:CODE]]`` produces an error line with that code the first time
#: the server sees its ``custom_id`` and a normal answer afterwards (a transient failure that a
#: follow-up batch can fix). The server, not this pure module, remembers what it has seen.
FAIL_ONCE_MARKER = re.compile(r"\[\[fail-once:([A-Za-z0-9_.-]+)\]\]")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORDS = [
    "batch",
    "results",
    "arrive",
    "later",
    "at",
    "half",
    "the",
    "price",
    "while",
    "the",
    "queue",
    "drains",
    "steadily",
    "and",
    "every",
    "request",
    "keeps",
    "its",
    "custom",
    "id",
    "so",
    "answers",
    "can",
    "be",
    "matched",
    "back",
    "to",
    "the",
    "rows",
    "they",
    "came",
    "from",
]


def count_tokens(text: str) -> int:
    """Count tokens the way the simulated model does: runs of word characters, and each other
    non-space character on its own.

    :param text: any text.
    :return: the number of tokens.
    """
    return len(_TOKEN.findall(text))


def _truncate_tokens(text: str, limit: int) -> str:
    for index, match in enumerate(_TOKEN.finditer(text), start=1):
        if index == limit:
            return text[: match.end()]
    return text if limit > 0 else ""


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def line_id(batch_id: str, custom_id: str) -> str:
    """The per-line ``br_…`` id of an output line (43 url-safe characters after the prefix)."""
    raw = base64.urlsafe_b64encode(_digest("line", batch_id, custom_id)).decode().rstrip("=")
    return "br_" + raw[:43]


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text of every message of a chat body, joined by newlines (text parts only)."""
    texts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text"
            )
    if isinstance(body.get("prompt"), str):
        texts.append(body["prompt"])
    return "\n".join(texts)


def _free_text(prompt: str) -> str:
    digest = _digest("text", prompt)
    words = [_WORDS[b % len(_WORDS)] for b in digest[: 8 + digest[0] % 16]]
    last = prompt.strip().splitlines()[-1] if prompt.strip() else ""
    echo = " ".join(last.split()[:8])
    return f'[simulated] Answer to "{echo}": {" ".join(words)}.'


def _structured(body: Mapping[str, Any], prompt: str) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema", spec) if isinstance(spec, Mapping) else {}
        return json.dumps(instance_for_schema(schema, prompt), separators=(",", ":"))
    if fmt.get("type") == "json_object":
        schema = fmt.get("schema")
        if isinstance(schema, Mapping):
            return json.dumps(instance_for_schema(schema, prompt), separators=(",", ":"))
        return json.dumps({"answer": _free_text(prompt)})
    return None


def chat_completion(body: Mapping[str, Any], *, created: int = 0, completion_id: str = "") -> dict[str, Any]:
    """A ``chat.completion`` body for a chat request.

    ``usage.prompt_tokens`` is :func:`count_tokens` of :func:`prompt_text`, ``completion_tokens``
    that of the answer. ``max_tokens`` truncates the answer (``finish_reason`` ``"length"``).
    ``prompt`` is ``[]``, or ``[{"text": <prompt>}]`` when the request sets ``echo``.
    """
    prompt = prompt_text(body)
    content = _structured(body, prompt) or _free_text(prompt)
    finish = "stop"
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    completion_tokens = count_tokens(content)
    if isinstance(limit, int) and not isinstance(limit, bool) and completion_tokens > limit:
        content, finish = _truncate_tokens(content, limit), "length"
        completion_tokens = count_tokens(content)
    prompt_tokens = count_tokens(prompt)
    return {
        "id": completion_id or "chatcmpl-" + _digest("cmpl", prompt).hex()[:24],
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        # Required by the spec's ChatCompletionResponse and the SDK's ChatCompletion; holds the prompt
        # only when the request asks for ``echo``.
        "prompt": [{"text": prompt}] if body.get("echo") is True else [],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def transcription(body: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """A transcription (or translation) body derived from ``body.file``."""
    source = str(body.get("file", ""))
    digest = _digest("audio", source)
    words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[:10])
    language = "en" if endpoint.endswith("translations") else str(body.get("language") or "en")
    duration = round(1.0 + int.from_bytes(digest[:2], "big") / 65535 * 119.0, 2)
    return {
        "text": f"[simulated transcript] {source.rsplit('/', 1)[-1]}: {words}",
        "duration": duration,
        "language": language,
    }


def error_line(custom_id: str, message: str, code: str) -> dict[str, Any]:
    """An error-file line."""
    return {"custom_id": custom_id, "error": {"message": message, "code": code}}


def fail_once_code(line: Mapping[str, Any], endpoint: str) -> str | None:
    """The code of a ``[[fail-once:CODE]]`` marker in the line's prompt, else ``None``."""
    body = line.get("body")
    if not isinstance(body, Mapping):
        return None
    marker = FAIL_ONCE_MARKER.search(prompt_text(body) if endpoint == CHAT_ENDPOINT else json.dumps(body))
    return marker.group(1) if marker else None


def respond(
    line: Mapping[str, Any],
    endpoint: str,
    models: Collection[str],
    *,
    batch_id: str = "",
    created: int = 0,
) -> dict[str, Any]:
    """The output-file or error-file line the server writes for one valid input line.

    :param line: the parsed input line (``custom_id``, ``body``, optional ``method``).
    :param endpoint: the batch endpoint.
    :param models: the model catalog.
    :param batch_id: the batch id (seeds the line id).
    :param created: the ``created`` time stamp put in chat completions.
    :return: ``{"id", "custom_id", "response": {"status_code": 200, "body"}}`` or
        ``{"custom_id", "error": {"message", "code"}}``.
    """
    custom_id = str(line["custom_id"])
    body = line["body"]
    model = body.get("model")
    if endpoint in AUDIO_ENDPOINTS and line.get("method") != "FILE":
        return error_line(custom_id, "Content-Type must be multipart/form-data", "invalid_request")
    if model not in models:
        return error_line(custom_id, f"model {model!r} is not available for batch inference", "invalid_model")
    marker = FAIL_MARKER.search(prompt_text(body) if endpoint == CHAT_ENDPOINT else json.dumps(body))
    if marker:
        code = marker.group(1)
        return error_line(custom_id, f"simulated failure: {code}", code)
    if endpoint in AUDIO_ENDPOINTS:
        result = transcription(body, endpoint)
    else:
        result = chat_completion(
            body, created=created, completion_id="chatcmpl-" + line_id(batch_id, custom_id)[3:27]
        )
    return {
        "id": line_id(batch_id, custom_id),
        "custom_id": custom_id,
        "response": {"status_code": 200, "body": result},
    }
