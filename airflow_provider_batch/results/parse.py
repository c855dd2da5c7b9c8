"""Streaming readers for batch output and error files (wire shapes: reference §6).

A line is a success only when ``response.status_code == 200``. Otherwise the ``error`` object
gives ``message`` and ``code`` (read as strings: codes may be ints); a line with neither is an
unknown failure. Nothing is dropped silently: an unreadable line becomes a :class:`ParsedLine`
with ``custom_id=None`` and the reason in ``problem``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_batch.results.models import ExpectedRequest, ParsedLine

__all__ = [
    "JsonlLine",
    "ParsedFile",
    "iter_expected",
    "iter_jsonl",
    "parse_error_line",
    "parse_output_line",
    "UNKNOWN_ERROR_CODE",
]

UNKNOWN_ERROR_CODE = "unknown"
_UNKNOWN_MESSAGE = "line has neither a 200 response nor an error object"


@dataclass(frozen=True, slots=True)
class JsonlLine:
    """One physical line: the decoded value, or ``error`` when it could not be decoded."""

    line_no: int
    value: Any = None
    error: str | None = None


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[JsonlLine]:
    """Yield every line of a JSONL file, one at a time, read in binary.

    Blank lines, invalid JSON and invalid UTF-8 are yielded with ``error`` set, never skipped.

    :param path: local file path.
    """
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                yield JsonlLine(line_no, error="blank line")
                continue
            try:
                yield JsonlLine(line_no, json.loads(raw))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                yield JsonlLine(line_no, error=f"invalid JSON: {exc}")


def iter_expected(
    path: str | os.PathLike[str], metadata: Mapping[str, Mapping[str, Any]] | None = None
) -> Iterator[ExpectedRequest]:
    """Yield the submitted requests of a batch input file (reference §5) as expected requests.

    :param path: the local input JSONL that was uploaded.
    :param metadata: ``custom_id`` -> that input row's metadata (from the submit sidecar).
    :raises ValueError: on a line without a usable ``custom_id``: the input was validated before
        upload, so this file is not the one that was submitted.
    """
    metadata = metadata or {}
    for line in iter_jsonl(path):
        value = line.value
        custom_id = value.get("custom_id") if isinstance(value, dict) else None
        if line.error is not None or not isinstance(custom_id, str) or not custom_id:
            reason = line.error or "no custom_id"
            raise ValueError(f"{path}: input line {line.line_no} is not a batch request: {reason}")
        body = value.get("body")
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        yield ExpectedRequest(custom_id, model, metadata.get(custom_id, {}))


def parse_output_line(obj: Any, line_no: int = 0) -> ParsedLine:
    """Parse one decoded line of an output file.

    :param obj: the decoded JSON value of the line.
    :param line_no: 1-based line number, kept for diagnostics.
    """
    return _parse_line(obj, line_no)


def parse_error_line(obj: Any, line_no: int = 0) -> ParsedLine:
    """Parse one decoded line of an error file.

    The same rule as for output lines applies (a 200 response is a success wherever it appears),
    so a line is judged by its content, never by the file it came from.
    """
    return _parse_line(obj, line_no)


class ParsedFile:
    """A re-iterable view of a local output or error file as :class:`ParsedLine` objects.

    Each iteration re-reads the file, so the reconciler can make its two passes without
    holding any response in memory. Unreadable lines come out with ``problem`` set.

    :param path: local file path; ``None`` stands for an absent file (no lines).
    :param kind: ``"output"`` or ``"error"``: which parser to use.
    """

    def __init__(self, path: str | os.PathLike[str] | None, kind: Literal["output", "error"]) -> None:
        self.path = path
        self.kind = kind
        self._parse: Callable[[Any, int], ParsedLine] = (
            parse_output_line if kind == "output" else parse_error_line
        )

    def __repr__(self) -> str:
        return f"ParsedFile({str(self.path)!r}, kind={self.kind!r})"

    def __iter__(self) -> Iterator[ParsedLine]:
        if self.path is None:
            return
        for line in iter_jsonl(self.path):
            if line.error is not None:
                yield ParsedLine(None, False, line_no=line.line_no, problem=line.error)
            else:
                yield self._parse(line.value, line.line_no)


def _parse_line(obj: Any, line_no: int) -> ParsedLine:
    if not isinstance(obj, dict):
        return ParsedLine(None, False, line_no=line_no, problem=f"not a JSON object: {type(obj).__name__}")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return ParsedLine(None, False, line_no=line_no, problem="no custom_id")
    response = obj.get("response")
    response = response if isinstance(response, dict) else {}
    status_code = _status_code(response.get("status_code"))
    body = response.get("body")
    text, finish_reason = _text_and_finish_reason(body)
    model, prompt, completion, total = _model_and_usage(body)
    succeeded = status_code == 200
    error_code = error_message = None
    if not succeeded:
        error_code, error_message = _error(obj.get("error"), body, status_code)
    return ParsedLine(
        custom_id=custom_id,
        succeeded=succeeded,
        status_code=status_code,
        response_text=text,
        finish_reason=finish_reason,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        error_code=error_code,
        error_message=error_message,
        line_no=line_no,
        body=body,
    )


def _status_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _text_and_finish_reason(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, str):  # audio with response_format "text"
        return body, None
    if not isinstance(body, dict):
        return None, None
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else choice.get("text")
        return _as_text(content), _as_text(choice.get("finish_reason"))
    return _as_text(body.get("text")), None


def _model_and_usage(body: Any) -> tuple[str | None, int, int, int]:
    if not isinstance(body, dict):
        return None, 0, 0, 0
    usage = body.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    prompt = _tokens(usage.get("prompt_tokens"))
    completion = _tokens(usage.get("completion_tokens"))
    total = usage.get("total_tokens")
    total_tokens = prompt + completion if total is None else _tokens(total)
    model = body.get("model")
    return (model if isinstance(model, str) else None), prompt, completion, total_tokens


def _error(error: Any, body: Any, status_code: int | None) -> tuple[str, str]:
    if error is None and isinstance(body, dict):
        error = body.get("error")  # an OpenAI-style failed response carries it in the body
    if isinstance(error, dict):
        code = error.get("code")
        if code is None:
            code = error.get("type")
        message = error.get("message")
        return (
            _as_text(code) or (str(status_code) if status_code is not None else UNKNOWN_ERROR_CODE),
            _as_text(message) or _compact(error),
        )
    if error is not None:
        return str(status_code) if status_code is not None else UNKNOWN_ERROR_CODE, _as_text(error) or ""
    if status_code is not None:
        return str(status_code), f"response status {status_code}"
    return UNKNOWN_ERROR_CODE, _UNKNOWN_MESSAGE


def _tokens(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _compact(value)
    return str(value)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
