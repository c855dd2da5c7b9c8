"""Streaming readers for batch input, output and error files (wire shapes: reference §6).

Every line is decoded once, with typed :mod:`msgspec` Structs for the line's envelope; the
response body is kept as the raw bytes of the file (stored as ``response_json`` without being
re-serialised) and decoded once for its answer, model and usage. A line that the strict decoder
refuses is read once more, leniently: Python servers write ``NaN``, ``Infinity`` and ``-Infinity``
(in ``logprobs``, say), and numbers out of range, which are read as numbers there; invalid UTF-8
or JSON stays unreadable. Only the refused lines pay for the slower reading. A line whose
``usage`` is not finite keeps its answer, with its usage unknown (``None`` tokens, so no cost is
guessed) and the flag :data:`USAGE_UNKNOWN_CODE` as its ``error_code``.

A line is ``succeeded`` only when it carries an answer: a 2xx ``response.status_code`` **and** a
body holding its endpoint's answer (:meth:`~airflow_provider_batch.endpoints.base.Endpoint.
read_answer`: ``output_text`` for the Responses API, ``data[].embedding`` for embeddings; when the
endpoint is unknown, or is Together's chat or audio, a choice (``choices[0]``) or a transcript (a
text body, or ``text``)). Usage is read from the endpoint's ``usage`` fields. Anything else is a
failure with a code: the ``error`` object's ``code`` (or ``type``), else the body's ``error``,
else the HTTP status, else :data:`NO_ANSWER_ERROR_CODE` for a 2xx without an answer, else
:data:`UNKNOWN_ERROR_CODE`. Nothing is dropped silently: an unreadable line becomes a
:class:`ParsedLine` with ``custom_id=None`` and the reason in ``problem``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from airflow_provider_batch.endpoints import Endpoint, ShapeReader, answer_reader
from airflow_provider_batch.endpoints._checks import as_text as _as_text
from airflow_provider_batch.endpoints.messages import MESSAGES
from airflow_provider_batch.results.models import ExpectedRequest, ParsedLine

__all__ = [
    "JsonlLine",
    "LineDecoder",
    "NO_ANSWER_ERROR_CODE",
    "ParsedFile",
    "UNKNOWN_ERROR_CODE",
    "USAGE_UNKNOWN_CODE",
    "decode_answered",
    "decode_result_line",
    "iter_expected",
    "iter_jsonl",
    "parse_error_line",
    "parse_output_line",
    "unreadable_line",
]

#: The error code of a failed line that names none: no code, no type, no HTTP status.
UNKNOWN_ERROR_CODE = "unknown"
#: The error code of a 2xx line whose body holds no answer (neither a choice nor a transcript, for
#: chat and audio).
NO_ANSWER_ERROR_CODE = "no_answer"
#: The flag (``error_code``) of a row whose ``usage`` is not a finite number: tokens and cost unknown.
USAGE_UNKNOWN_CODE = "usage_unknown"
_USAGE_UNKNOWN_MESSAGE = "usage is not a finite number ({}); tokens and cost are unknown"
_UNKNOWN_MESSAGE = "line has neither a 2xx response nor an error object"
_NO_ANSWER_MESSAGE = "response status {} without {} in the body"
_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"((?:[^"\\]|\\.){1,256})"')
#: A JSON string (skipped whole), or a non-standard number outside strings.
_NON_STANDARD = re.compile(rb'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')
#: Valid stand-ins of the same length, so offsets in the line do not move.
_STAND_INS = {b"NaN": b"0.0", b"Infinity": b"1.000000", b"-Infinity": b"-1.000000"}

_decode_any = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


_NULL = msgspec.Raw(b"null")


class _Response(msgspec.Struct):
    status_code: Any = None
    body: msgspec.Raw = _NULL  # absent or null: no body


class _ResultLine(msgspec.Struct):
    """The envelope of an output or error line; the body stays raw bytes."""

    custom_id: Any = None
    response: _Response | None = None
    error: Any = None


class _InputBody(msgspec.Struct):
    model: Any = None


class _InputLine(msgspec.Struct):
    """What reconciliation needs of an input line: the id and the model (the rest is skipped)."""

    custom_id: Any = None
    body: _InputBody | None = None


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    text: str | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int | None = None


class _Answer(msgspec.Struct):
    """The usual body of an answered chat or completion request; anything else is read as JSON
    values by the general path, with the same rules."""

    choices: list[_Choice]
    model: str | None = None
    usage: _Usage | None = None
    error: Any = None


class _Block(msgspec.Struct):
    type: str
    text: str | None = None


class _MessagesUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class _MessagesAnswer(msgspec.Struct):
    """The usual body of an answered ``/v1/messages`` request (Anthropic): text blocks only, no
    prompt-cache tokens; anything else is read as JSON values by the general path."""

    content: list[_Block]
    model: str | None = None
    stop_reason: str | None = None
    usage: _MessagesUsage | None = None
    error: Any = None


_decode_result = msgspec.json.Decoder(_ResultLine).decode
_decode_answer = msgspec.json.Decoder(_Answer).decode
_decode_messages_answer = msgspec.json.Decoder(_MessagesAnswer).decode
_decode_input = msgspec.json.Decoder(_InputLine).decode

_Reader = Endpoint | ShapeReader
#: The reader of a file whose endpoint is unknown: by shape, as chat and audio files are read.
_BY_SHAPE = answer_reader(None)
#: The reader of Anthropic's Messages answers, which have a typed fast path of their own.
_BY_MESSAGES = answer_reader(MESSAGES)


#: A vendor's reader of one raw line of its own results file: ``(raw, line_no, endpoint)`` -> the
#: parsed line, or ``None`` for a line that holds no record (a blank line between records).
LineDecoder = Callable[[bytes, int, "str | None"], "ParsedLine | None"]


@dataclass(frozen=True, slots=True)
class JsonlLine:
    """One physical line: the decoded value, or ``error`` when it could not be decoded."""

    line_no: int
    value: Any = None
    error: str | None = None


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[JsonlLine]:
    """Yield every line of a JSONL file, one at a time, read in binary.

    Blank lines, invalid JSON (``NaN``/``Infinity`` included: this reader is strict, unlike
    :class:`ParsedFile`) and invalid UTF-8 are yielded with ``error`` set, never skipped.

    :param path: local file path.
    """
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                yield JsonlLine(line_no, error="blank line")
                continue
            try:
                yield JsonlLine(line_no, _decode_any(raw))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                yield JsonlLine(line_no, error=f"invalid JSON: {exc}")


def iter_expected(
    path: str | os.PathLike[str], metadata: Mapping[str, Mapping[str, Any]] | None = None
) -> Iterator[ExpectedRequest]:
    """Yield the submitted requests of a batch input file (reference §5) as expected requests.

    Only ``custom_id`` and ``body.model`` are decoded into objects; the rest of each line is
    checked as JSON and skipped.

    :param path: the local input JSONL (the batch's own input file).
    :param metadata: ``custom_id`` -> that input row's metadata (from the submit sidecar).
    :raises ValueError: on a line without a usable ``custom_id``, naming the file and line: the
        input was validated before upload, so this file is not the one that was submitted.
    """
    metadata = metadata or {}
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            reason = "blank line" if not raw.strip() else None
            custom_id = model = None
            if reason is None:
                try:
                    custom_id, model = _id_and_model(raw)
                except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                    reason = f"invalid JSON: {exc}"
            if reason is None and (not isinstance(custom_id, str) or not custom_id):
                reason = "no custom_id"
            if reason is not None:
                raise ValueError(f"{path}: input line {line_no} is not a batch request: {reason}")
            assert isinstance(custom_id, str)
            yield ExpectedRequest(custom_id, model if isinstance(model, str) else None,
                                  metadata.get(custom_id, {}))  # fmt: skip


def _id_and_model(raw: bytes) -> tuple[Any, Any]:
    try:
        line = _decode_input(raw)
        return line.custom_id, line.body.model if line.body is not None else None
    except msgspec.ValidationError:  # an unusual shape (a body that is not an object): read it all
        value = _decode_any(raw)
        if not isinstance(value, dict):
            return None, None
        body = value.get("body")
        return value.get("custom_id"), body.get("model") if isinstance(body, dict) else None


def parse_output_line(obj: Any, line_no: int = 0) -> ParsedLine:
    """Parse one decoded line of an output file.

    :param obj: the decoded JSON value of the line.
    :param line_no: 1-based line number, kept for diagnostics.
    """
    return _parse_decoded(obj, line_no)


def parse_error_line(obj: Any, line_no: int = 0) -> ParsedLine:
    """Parse one decoded line of an error file.

    The same rule as for output lines applies (a 2xx answer is a success wherever it appears),
    so a line is judged by its content, never by the file it came from.
    """
    return _parse_decoded(obj, line_no)


def decode_result_line(raw: bytes, line_no: int = 0, endpoint: str | None = None) -> ParsedLine:
    """Decode and parse one raw line of an output or error file (the fast path of
    :class:`ParsedFile`); an unreadable line comes back with ``problem`` set.

    :param endpoint: the batch's endpoint, whose answer shape the line holds (``None``: read by
        shape, a choice or a transcript).
    """
    return _decode_line(raw, line_no, answer_reader(endpoint))


def _decode_line(raw: bytes, line_no: int, reader: _Reader) -> ParsedLine:
    if not raw.strip():
        return ParsedLine(None, False, line_no=line_no, problem="blank line")
    try:
        line = _decode_result(raw)
        response = line.response
        raw_body = response.body if response is not None else _NULL
        if reader is _BY_SHAPE or reader is _BY_MESSAGES:  # typed fast paths: chat, Messages
            status = response.status_code if response is not None else None
            answered = _fast(reader, line.custom_id, status, line.error, raw_body, line_no)
            if answered is not None:
                return answered
        body = _decode_any(raw_body)
        body_text = None if body is None else bytes(raw_body).decode()
    except (msgspec.ValidationError, TypeError):  # an unusual shape: read it the general way
        return _unusual(raw, line_no, reader)
    except msgspec.DecodeError as exc:  # NaN, Infinity, out of range, or not JSON at all
        return _lenient(raw, line_no, exc, reader)
    except UnicodeDecodeError as exc:
        return _unreadable(raw, line_no, f"invalid JSON: {exc}")
    custom_id = line.custom_id
    if not isinstance(custom_id, str) or not custom_id:
        return ParsedLine(None, False, line_no=line_no, problem="no custom_id")
    status = response.status_code if response is not None else None
    return _parse(custom_id, status, body, body_text, line.error, line_no, reader)


def decode_answered(
    custom_id: str, status_code: int, raw_body: bytes | msgspec.Raw, line_no: int, endpoint: str | None
) -> ParsedLine | None:
    """The parsed line of an answered request whose parts a vendor's :data:`LineDecoder` found in
    a line of its own shape (no error object), when the body is the usual answer of ``endpoint``
    (the typed fast path); else ``None``: the line is then read as the shared envelope, by
    :func:`decode_result_line`, which reads every shape.

    :param raw_body: the response body exactly as the line holds it (valid JSON).
    """
    reader = answer_reader(endpoint)
    if reader is not _BY_SHAPE and reader is not _BY_MESSAGES:
        return None
    body = raw_body if isinstance(raw_body, msgspec.Raw) else msgspec.Raw(raw_body)
    try:
        return _fast(reader, custom_id, status_code, None, body, line_no)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def _fast(
    reader: _Reader, custom_id: Any, status: Any, error: Any, raw_body: msgspec.Raw, line_no: int
) -> ParsedLine | None:
    if type(status) is not int or not 200 <= status < 300 or error is not None:
        return None
    if not isinstance(custom_id, str) or not custom_id:
        return None
    if reader is _BY_MESSAGES:
        return _answered_messages(custom_id, status, raw_body, line_no)
    return _answered(custom_id, status, raw_body, line_no)


def _answered(custom_id: str, status: int, raw_body: msgspec.Raw, line_no: int) -> ParsedLine | None:
    """The fast path: a usual answered line as typed Structs, or ``None`` to read it generally."""
    try:
        body = _decode_answer(raw_body)
    except msgspec.ValidationError:
        return None
    choice = body.choices[0] if body.choices else None
    usage = body.usage or _Usage()
    prompt, completion, total = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if choice is None or body.error is not None or min(prompt, completion, total or 0) < 0:
        return None
    return ParsedLine(
        custom_id=custom_id,
        succeeded=True,
        status_code=status,
        response_text=choice.message.content if choice.message is not None else choice.text,
        finish_reason=choice.finish_reason,
        model=body.model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        line_no=line_no,
        response_json=bytes(raw_body).decode(),
    )


def _answered_messages(custom_id: str, status: int, raw_body: msgspec.Raw, line_no: int) -> ParsedLine | None:
    """The fast path of ``/v1/messages``: an answer of text blocks without prompt-cache tokens as
    typed Structs (what the general path makes of it), or ``None`` to read it generally."""
    try:
        body = _decode_messages_answer(raw_body)
    except msgspec.ValidationError:
        return None
    blocks = body.content
    if not blocks or body.error is not None:
        return None
    for block in blocks:
        if block.type != "text" or block.text is None:
            return None
    usage = body.usage or _MessagesUsage()
    prompt, completion, total = usage.input_tokens, usage.output_tokens, usage.total_tokens
    if (
        min(prompt, completion, total or 0) < 0
        or usage.cache_creation_input_tokens
        or usage.cache_read_input_tokens
    ):
        return None
    return ParsedLine(
        custom_id=custom_id,
        succeeded=True,
        status_code=status,
        response_text="".join([b.text for b in blocks]),  # type: ignore[misc]
        finish_reason=body.stop_reason,
        model=body.model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        line_no=line_no,
        response_json=bytes(raw_body).decode(),
    )


def _unusual(raw: bytes, line_no: int, reader: _Reader) -> ParsedLine:
    try:
        return _parse_decoded(_decode_any(raw), line_no, reader=reader)
    except msgspec.DecodeError as exc:
        return _lenient(raw, line_no, exc, reader)
    except UnicodeDecodeError as exc:
        return _unreadable(raw, line_no, f"invalid JSON: {exc}")


def _lenient(raw: bytes, line_no: int, strict: Exception, reader: _Reader) -> ParsedLine:
    """A line the strict decoder refused, read as Python's ``json`` reads it: ``NaN``,
    ``Infinity``, ``-Infinity`` and numbers out of range are numbers. Invalid JSON or UTF-8
    stays unreadable. The body is kept as the bytes the line carried when they can be found."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _unreadable(raw, line_no, f"invalid JSON: {strict}")
    return _parse_decoded(obj, line_no, _raw_body(raw), reader)


def _raw_body(raw: bytes) -> str | None:
    """The response body of ``raw`` exactly as written, located by decoding a copy whose
    non-standard numbers are replaced by valid numbers of the same length."""
    copy = _NON_STANDARD.sub(lambda m: _STAND_INS[m.group(1)] if m.group(1) else m.group(0), raw)
    try:
        response = _decode_result(copy).response
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    body = bytes(response.body) if response is not None else b"null"
    start = copy.find(body) if body != b"null" else -1
    return raw[start : start + len(body)].decode() if start >= 0 else None


def unreadable_line(raw: bytes, line_no: int, problem: str) -> ParsedLine:
    """A line that cannot be read, with ``problem`` set and the ``custom_id`` it seems to name
    (if any) in ``reported_id``."""
    return _unreadable(raw, line_no, problem)


def _unreadable(raw: bytes, line_no: int, problem: str) -> ParsedLine:
    found = _CUSTOM_ID.search(raw)
    reported = found.group(1).decode("utf-8", "replace") if found else None
    return ParsedLine(None, False, line_no=line_no, problem=problem, reported_id=reported)


class ParsedFile:
    """A re-iterable view of a local output or error file as :class:`ParsedLine` objects.

    Each iteration reads the file once, line by line; no response is held in memory.
    Unreadable lines come out with ``problem`` set.

    :param path: local file path; ``None`` stands for an absent file (no lines).
    :param kind: ``"output"`` or ``"error"``, named in reports (both are parsed the same way).
    :param endpoint: the batch's endpoint, whose answers the file holds (``None``: read by shape).
    :param decode: the vendor's reader of its own line shape, for a file kept as the vendor wrote
        it; ``None``: the file holds the shared envelope (``{custom_id, response, error}``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        kind: Literal["output", "error"],
        endpoint: str | None = None,
        decode: LineDecoder | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self.endpoint = endpoint
        self.decode = decode

    def __repr__(self) -> str:
        return f"ParsedFile({str(self.path)!r}, kind={self.kind!r})"

    @property
    def label(self) -> str:
        """How reports name this file: its kind and file name."""
        name = os.path.basename(self.path) if self.path is not None else "absent"
        return f"{self.kind} file {name}"

    def __iter__(self) -> Iterator[ParsedLine]:
        if self.path is None:
            return
        decode, endpoint = self.decode, self.endpoint
        with open(self.path, "rb") as fh:
            if decode is not None:
                for line_no, raw in enumerate(fh, 1):
                    parsed = decode(raw, line_no, endpoint)
                    if parsed is not None:
                        yield parsed
                return
            reader = answer_reader(endpoint)
            for line_no, raw in enumerate(fh, 1):
                yield _decode_line(raw, line_no, reader)


def _parse_decoded(
    obj: Any, line_no: int, raw_body: str | None = None, reader: _Reader = _BY_SHAPE
) -> ParsedLine:
    if not isinstance(obj, dict):
        return ParsedLine(None, False, line_no=line_no, problem=f"not a JSON object: {type(obj).__name__}")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return ParsedLine(None, False, line_no=line_no, problem="no custom_id")
    response = obj.get("response")
    response = response if isinstance(response, dict) else {}
    body = response.get("body")
    body_text = None if body is None else raw_body or _body_text(body)
    return _parse(custom_id, response.get("status_code"), body, body_text, obj.get("error"), line_no, reader)


def _body_text(body: Any) -> str:
    try:
        return _encode(body).decode()
    except (TypeError, ValueError, OverflowError):  # not expected; keep the value rather than fail
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def _parse(
    custom_id: str, status: Any, body: Any, body_text: str | None, error: Any, line_no: int, reader: _Reader
) -> ParsedLine:
    status_code = _status_code(status)
    answer = reader.read_answer(body)
    answered = answer is not None
    model, (prompt, completion, total), not_finite = _model_and_usage(body, reader.usage_keys)
    written, written_1h, read = _cache_usage(body, reader.cache_usage_keys) if not not_finite else (0, 0, 0)
    body_error = body.get("error") if isinstance(body, dict) else None
    ok_status = status_code is not None and 200 <= status_code < 300
    succeeded = ok_status and answered and error is None and body_error is None
    error_code = error_message = None
    if not succeeded:
        if ok_status and error is None and body_error is None:
            error_code = NO_ANSWER_ERROR_CODE
            error_message = _NO_ANSWER_MESSAGE.format(status_code, reader.answer_name)
        else:
            error_code, error_message = _error(error, body, status_code)
    elif not_finite:
        error_code, error_message = USAGE_UNKNOWN_CODE, _USAGE_UNKNOWN_MESSAGE.format(not_finite)
    return ParsedLine(
        custom_id=custom_id,
        succeeded=succeeded,
        status_code=status_code,
        response_text=answer.text if answer is not None else None,
        finish_reason=answer.finish_reason if answer is not None else None,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        error_code=error_code,
        error_message=error_message,
        line_no=line_no,
        response_json=body_text,
        embedding=answer.vector if answer is not None else None,
        cache_written=written,
        cache_written_1h=written_1h,
        cache_read=read,
    )


def _status_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


_Tokens = tuple[int | None, int | None, int | None]


def _model_and_usage(body: Any, keys: tuple[str, str | None, str]) -> tuple[str | None, _Tokens, str | None]:
    """The model, the tokens (read from the endpoint's usage ``keys``), and which usage fields are
    not finite (then every token count is ``None``: unknown, never guessed)."""
    if not isinstance(body, dict):
        return None, (0, 0, 0), None
    model = body.get("model")
    model = model if isinstance(model, str) else None
    usage = body.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    prompt_key, completion_key, total_key = keys
    not_finite = [f"{k}={usage[k]}" for k in keys if k is not None and _is_not_finite(usage.get(k))]
    if not_finite:
        return model, (None, None, None), ", ".join(not_finite)
    prompt = _tokens(usage.get(prompt_key))
    completion = _tokens(usage.get(completion_key)) if completion_key is not None else 0
    total = usage.get(total_key)
    return model, (prompt, completion, prompt + completion if total is None else _tokens(total)), None


def _cache_usage(body: Any, keys: tuple[str, str] | None) -> tuple[int, int, int]:
    """Prompt-cache tokens written, of them with a one-hour lifetime, and read (``keys``: the
    endpoint's ``cache_usage_keys``; none for an endpoint without them)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if keys is None or not isinstance(usage, dict):
        return 0, 0, 0
    written, read = (_tokens(usage.get(key)) if _is_count(usage.get(key)) else 0 for key in keys)
    split = usage.get("cache_creation")
    hour = split.get("ephemeral_1h_input_tokens") if isinstance(split, dict) else None
    return written, min(_tokens(hour), written) if _is_count(hour) else 0, read


def _is_count(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _is_not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


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


def _compact(value: Any) -> str:
    return _encode(value).decode()
