"""Streaming validation of a Together batch input file (reference §4.4, §5, §7).

Every problem is found locally, before any upload, so bad input costs nothing. The file is read
once, in binary, one line at a time; memory stays flat apart from the ``custom_id`` index needed to
spot duplicates (one dict entry per request: at most 50,000 at the API's limit).

Rule names in :class:`Problem` are stable and meant to be matched on by callers and tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from airflow_provider_batch.endpoints import endpoint_for
from airflow_provider_batch.inputs._rules import RuleHit, check_request
from airflow_provider_batch.inputs.limits import (
    CHAT_ENDPOINT,
    SUPPORTED_ENDPOINTS,
    BatchLimits,
    check_endpoint,
)

__all__ = [
    "EmptyInputError",
    "InputValidationError",
    "Problem",
    "ValidationReport",
    "LineSink",
    "ensure_valid",
    "validate_batch_file",
]

_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 20
_ID_SHOWN = 80
_PROBLEMS_IN_MESSAGE = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule on one line (``line`` is 1-based; 0 means the whole file)."""

    line: int
    custom_id: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.custom_id is not None:
            where += f" (custom_id={self.custom_id!r})"
        return f"{where}: {self.rule}: {self.message}"


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_batch_file`.

    :ivar lines: lines read (requests, when the file is valid).
    :ivar bytes: bytes read, newlines included.
    :ivar problems: at most ``max_problems`` problems, in file order.
    :ivar truncated: more problems existed than were kept; lines after the cut were only counted.
    :ivar models: request count per ``body.model``.
    """

    path: Path
    lines: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False
    models: dict[str, int] = field(default_factory=dict)
    endpoint: str = CHAT_ENDPOINT

    @property
    def ok(self) -> bool:
        return not self.problems


class InputValidationError(ValueError):
    """The batch input file breaks at least one rule; nothing was uploaded.

    :ivar problems: the problems found (possibly truncated, see ``report.truncated``).
    :ivar report: the full :class:`ValidationReport`.
    """

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.problems = list(report.problems)
        super().__init__(_error_message(report))


class EmptyInputError(ValueError):
    """There are no requests at all (no source rows, or an empty input file); nothing was uploaded.

    Raised by the build and submit operators before validation, so that they can apply their
    ``on_empty`` policy; :func:`ensure_valid` reports an empty file as the ``empty_file`` rule.
    """


def _error_message(report: ValidationReport) -> str:
    count = len(report.problems)
    more = " or more (list truncated)" if report.truncated else ""
    head = f"{report.path}: {count}{more} problem(s) in batch input for {report.endpoint}; nothing uploaded"
    shown = [f"  {p}" for p in report.problems[:_PROBLEMS_IN_MESSAGE]]
    if count > _PROBLEMS_IN_MESSAGE:
        shown.append(f"  ... and {count - _PROBLEMS_IN_MESSAGE} more")
    return "\n".join([head, *shown])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN_ONCE = _DECODER.scan_once  # type: ignore[attr-defined]  # the C scanner; typeshed omits it
_FAST_DECODE = msgspec.json.Decoder().decode


def _parse(raw: bytes, text: str) -> Any:
    """Decode one JSON document (``raw``, already checked to be UTF-8 and given as ``text`` too).

    msgspec decodes the common case, about five times faster than the stdlib. It is strict JSON
    (no ``NaN``/``Infinity``); anything it refuses goes through the stdlib decoder, which gives the
    error message (or, for the few documents only the stdlib takes, such as ``1e400``, the value),
    so what is accepted and every message stay exactly the stdlib's.
    """
    try:
        return _FAST_DECODE(raw)
    except msgspec.DecodeError:
        pass
    try:
        obj, end = _SCAN_ONCE(text, 0)
    except StopIteration:
        return _DECODER.decode(text)
    if end == len(text) or text[end:].isspace():
        return obj
    return _DECODER.decode(text)


class _Scan:
    """Mutable state of one validation pass."""

    def __init__(self, report: ValidationReport, limits: BatchLimits, max_problems: int) -> None:
        self.report = report
        self.limits = limits
        self.id_rule = re.compile(limits.custom_id_pattern) if limits.custom_id_pattern else None
        self.max_problems = max_problems
        self.first_line: dict[str, int] = {}
        self.spec = endpoint_for(report.endpoint)
        self.size_reported = False

    def add(self, line: int, custom_id: str | None, rule: str, message: str) -> None:
        if len(self.report.problems) >= self.max_problems:
            self.report.truncated = True
            return
        if custom_id is not None and len(custom_id) > _ID_SHOWN:
            custom_id = custom_id[:_ID_SHOWN] + "..."
        self.report.problems.append(Problem(line, custom_id, rule, message))

    @property
    def full(self) -> bool:
        return self.report.truncated

    def totals(self, line_no: int) -> None:
        report, limits = self.report, self.limits
        if line_no == limits.max_lines + 1:
            self.add(line_no, None, "too_many_lines", f"more than {limits.max_lines} requests in one file")
        if not self.size_reported and report.bytes > limits.max_bytes:
            self.size_reported = True
            self.add(
                line_no,
                None,
                "file_too_large",
                f"file exceeds {limits.max_bytes} bytes by the end of this line ({report.bytes} bytes)",
            )

    def line(self, line_no: int, raw: bytes) -> Any:
        """Check one line; returns the decoded request, or ``None`` when it could not be decoded."""
        if raw.isspace():
            self.add(line_no, None, "blank_line", "blank lines are not allowed")
            return None
        if raw.startswith(_BOM):
            self.add(line_no, None, "bom", "line starts with a UTF-8 byte order mark; save without BOM")
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add(line_no, None, "invalid_utf8", f"invalid UTF-8 at byte {exc.start}: {exc.reason}")
            return None
        try:
            obj = _parse(raw, text)
        except RecursionError:
            self.add(line_no, None, "nesting_too_deep", "JSON is nested too deeply to parse")
            return None
        except ValueError as exc:
            detail = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            self.add(line_no, None, "invalid_json", detail)
            return None
        self.request(line_no, obj)
        return obj

    def request(self, line_no: int, obj: Any) -> None:
        hits: list[RuleHit] = []
        custom_id, model = check_request(
            obj,
            spec=self.spec,
            endpoint=self.report.endpoint,
            max_id_len=self.limits.max_custom_id_len,
            out=hits,
        )
        if custom_id is not None and self.id_rule is not None and not self.id_rule.fullmatch(custom_id):
            hits.append(("custom_id_pattern", f"custom_id must match {self.id_rule.pattern}"))
        for rule, message in hits:
            self.add(line_no, custom_id, rule, message)
        if custom_id is not None:
            first = self.first_line.setdefault(custom_id, line_no)
            if first != line_no:
                self.add(line_no, custom_id, "duplicate_custom_id", f"custom_id already used on line {first}")
        if model is not None:
            models = self.report.models
            models[model] = models.get(model, 0) + 1


def _skip_rest_of_line(fh: IO[bytes]) -> int:
    """Consume the remainder of an oversized line without holding it; return its length."""
    skipped = 0
    while True:
        chunk = fh.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


class LineSink(Protocol):
    """Told about every line of a file that is valid so far, in order, while it is scanned."""

    def __call__(self, line_no: int, raw: bytes, request: dict[str, Any]) -> None: ...


def validate_batch_file(
    path: str | os.PathLike[str],
    *,
    endpoint: str = CHAT_ENDPOINT,
    limits: BatchLimits = BatchLimits(),
    max_problems: int = 100,
    check_totals: bool = True,
    sink: LineSink | None = None,
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS,
) -> ValidationReport:
    """Check every line of a batch input JSONL file, in one streaming pass.

    :param path: local JSONL file.
    :param endpoint: batch endpoint; its checks are the registry's
        (:func:`~airflow_provider_batch.endpoints.endpoint_for`), e.g. audio endpoints need
        ``"method": "FILE"`` lines.
    :param limits: size limits (shrink them in tests).
    :param max_problems: keep at most this many problems; further lines are counted, not parsed.
    :param check_totals: check ``max_lines`` and ``max_bytes`` for the whole file. Pass ``False``
        when the file will go through :func:`~airflow_provider_batch.inputs.split.split_batch_file`.
    :param sink: gets each line's raw bytes and decoded request, only while no problem has been
        found (after one the file is refused anyway): so one read of the file also estimates its
        cost and cuts it into parts (:mod:`airflow_provider_batch.inputs.prepare`), and no line
        is decoded twice.
    :param endpoints: the endpoints the vendor's batch API takes (Together's by default).
    """
    check_endpoint(endpoint, endpoints)
    report = ValidationReport(path=Path(path), endpoint=endpoint)
    scan = _Scan(report, limits, max_problems)
    problems = report.problems
    cap = limits.max_line_bytes + 1
    with open(path, "rb") as fh:
        read = fh.readline
        line_no = 0
        while raw := read(cap):
            line_no += 1
            report.bytes += len(raw)
            if len(raw) == cap and not raw.endswith(b"\n"):
                report.bytes += _skip_rest_of_line(fh)
                scan.add(
                    line_no, None, "line_too_large", f"line is longer than {limits.max_line_bytes} bytes"
                )
            elif not scan.full:
                request = scan.line(line_no, raw)
                if sink is not None and not problems:
                    sink(line_no, raw, request)
            if check_totals:
                scan.totals(line_no)
        report.lines = line_no
    if line_no == 0:
        scan.add(0, None, "empty_file", "file contains no requests")
    return report


def ensure_valid(
    path: str | os.PathLike[str],
    *,
    endpoint: str = CHAT_ENDPOINT,
    limits: BatchLimits = BatchLimits(),
    max_problems: int = 100,
    check_totals: bool = True,
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS,
) -> ValidationReport:
    """Validate like :func:`validate_batch_file`; raise :class:`InputValidationError` on any problem.

    :returns: the (clean) report, for its line, byte and model counts.
    """
    report = validate_batch_file(
        path,
        endpoint=endpoint,
        limits=limits,
        max_problems=max_problems,
        check_totals=check_totals,
        endpoints=endpoints,
    )
    if not report.ok:
        raise InputValidationError(report)
    return report
