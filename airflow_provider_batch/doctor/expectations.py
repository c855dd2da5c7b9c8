"""What the provider relies on from a vendor's batch API, and the pure checks against it.

A vendor describes itself with one :class:`VendorExpectations`: its statuses and the order they
may come in, the upload flow, the fields of output and error lines, and where usage is read
from. The checks here know nothing of any vendor; they compare what a probe saw with that object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_batch.doctor._report import Finding, Severity
from airflow_provider_batch.results.parse import decode_result_line

__all__ = [
    "FieldRule",
    "LineCheck",
    "StatusRules",
    "UsageRules",
    "VendorExpectations",
    "check_echo",
    "check_lines",
    "check_statuses",
    "check_upload_flow",
    "collapse",
    "field_paths",
]


@dataclass(frozen=True)
class StatusRules:
    """The batch statuses the provider knows and the order they may come in.

    :param progression: non-terminal statuses in the order a batch goes through them (a status
        may be skipped, never revisited once a later one was seen).
    :param terminal: statuses after which the provider stops polling.
    :param success: the terminal status of a batch that ran to its end.
    :param transient: known statuses that may appear anywhere before a terminal one (cancelling).
    """

    progression: tuple[str, ...]
    terminal: frozenset[str]
    success: str
    transient: frozenset[str] = frozenset()

    def known(self, status: str) -> bool:
        return status in self.progression or status in self.terminal or status in self.transient

    def rank(self, status: str) -> int | None:
        if status in self.progression:
            return self.progression.index(status)
        if status in self.terminal:
            return len(self.progression)
        return None


@dataclass(frozen=True)
class FieldRule:
    """A field (dotted path) a line must carry, how bad its absence is, and why."""

    path: str
    severity: Severity
    why: str


@dataclass(frozen=True)
class UsageRules:
    """Where an answered line's token usage is, and its field names (``total``: ``None`` for a
    vendor that sends no total)."""

    path: str
    prompt: str = "prompt_tokens"
    completion: str = "completion_tokens"
    total: str | None = "total_tokens"


@dataclass(frozen=True)
class VendorExpectations:
    """Everything the doctor checks a vendor against.

    :param vendor: the vendor's display name.
    :param statuses: status names and their order.
    :param upload_flow: the requests of one upload, as ``"METHOD /path"`` with ids as ``{id}``
        and the presigned target as ``{upload_url}``.
    :param output_fields: fields every output line carries.
    :param error_fields: fields every error line carries.
    :param usage: where usage is read from an answered line.
    """

    vendor: str
    statuses: StatusRules
    upload_flow: tuple[str, ...]
    output_fields: tuple[FieldRule, ...]
    error_fields: tuple[FieldRule, ...]
    usage: UsageRules


# -- statuses ----------------------------------------------------------------------------------


def collapse(observed: Iterable[str]) -> list[str]:
    """The observed statuses with repeats of the same status in a row folded into one."""
    sequence: list[str] = []
    for status in observed:
        if not sequence or sequence[-1] != status:
            sequence.append(status)
    return sequence


def check_statuses(rules: StatusRules, observed: Sequence[str]) -> list[Finding]:
    """Unknown statuses and statuses out of order (both WARN: the provider polls on)."""
    findings: list[Finding] = []
    highest: tuple[int, str] | None = None
    for status in collapse(observed):
        if not rules.known(status):
            findings.append(
                Finding(
                    Severity.WARN,
                    f"status {status!r} is not one the provider knows; it is treated as still running "
                    "and polling goes on",
                )
            )
            continue
        rank = rules.rank(status)
        if rank is None:
            continue
        if highest is not None and rank < highest[0]:
            findings.append(
                Finding(Severity.WARN, f"status {status!r} came after {highest[1]!r}: out of order")
            )
        if highest is None or rank > highest[0]:
            highest = (rank, status)
    return findings


# -- upload flow -------------------------------------------------------------------------------


def check_upload_flow(expected: Sequence[str], seen: Sequence[str]) -> list[Finding]:
    """The upload's requests against the expected flow (retries of one request folded)."""
    flow = collapse(seen)
    if list(flow) == list(expected):
        return [Finding(Severity.OK, "upload flow as expected: " + " -> ".join(expected))]
    return [
        Finding(
            Severity.WARN,
            f"upload flow differs: expected {' -> '.join(expected)}, saw {' -> '.join(flow) or 'nothing'}",
        )
    ]


# -- lines -------------------------------------------------------------------------------------


def _lookup(value: Any, path: str) -> tuple[bool, Any]:
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def field_paths(value: Any, prefix: str = "", depth: int = 2) -> Iterator[str]:
    """The dotted paths of ``value``'s keys, ``depth`` levels deep (``response.status_code``...)."""
    if not isinstance(value, dict):
        return
    for key, inner in value.items():
        path = f"{prefix}{key}"
        yield path
        if depth > 1:
            yield from field_paths(inner, path + ".", depth - 1)


@dataclass
class LineCheck:
    """What the checks of one file found: findings, the custom_ids seen, field paths, counts."""

    kind: str
    lines: int = 0
    custom_ids: list[str] = field(default_factory=list)
    fields: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    findings: list[Finding] = field(default_factory=list)
    usage_findings: list[Finding] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)


def check_lines(
    expect: VendorExpectations, kind: str, raw_lines: Sequence[bytes], endpoint: str | None = None
) -> LineCheck:
    """Check each line of an output (``kind="output"``) or error file: its fields, and what the
    provider's own parser makes of it (reading answers as ``endpoint``'s; ``None``: by shape)."""
    rules = expect.output_fields if kind == "output" else expect.error_fields
    check = LineCheck(kind)
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        check.lines += 1
        _check_line(expect, rules, check, number, raw, endpoint)
    return check


def _check_line(
    expect: VendorExpectations,
    rules: tuple[FieldRule, ...],
    check: LineCheck,
    number: int,
    raw: bytes,
    endpoint: str | None = None,
) -> None:
    where = f"{check.kind} line {number}"
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        check.findings.append(Finding(Severity.FAIL, f"{where}: not valid JSON ({exc})"))
        return
    for path in field_paths(obj, depth=3):
        check.fields[path] = check.fields.get(path, 0) + 1
    for rule in rules:
        if not _lookup(obj, rule.path)[0]:
            check.findings.append(Finding(rule.severity, f"{where}: no {rule.path}: {rule.why}"))
    parsed = decode_result_line(raw, number, endpoint)
    if parsed.custom_id is not None:
        check.custom_ids.append(parsed.custom_id)
    if parsed.problem == "no custom_id" and any(rule.path == "custom_id" for rule in rules):
        return  # the custom_id rule above says so
    if parsed.problem is not None:
        check.findings.append(
            Finding(Severity.FAIL, f"{where}: the provider cannot read it: {parsed.problem}")
        )
        return
    if parsed.succeeded:
        check.answered += 1
        check.usage_findings.extend(_check_usage(expect.usage, obj, where))
        check.usage.append({"prompt": parsed.prompt_tokens, "completion": parsed.completion_tokens,
                            "total": parsed.total_tokens})  # fmt: skip
    elif check.kind == "output" and _is_2xx(_lookup(obj, "response.status_code")[1]):
        check.findings.append(
            Finding(
                Severity.FAIL,
                f"{where}: answered (2xx) but the provider's parser would load it as failed: "
                f"{parsed.error_code}: {parsed.error_message}",
            )
        )
    else:
        check.findings.append(
            Finding(
                Severity.INFO,
                f"{where}: request {parsed.custom_id!r} failed: {parsed.error_code}: {parsed.error_message}",
            )
        )


def _is_2xx(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 200 <= value < 300


def _check_usage(rules: UsageRules, obj: Any, where: str) -> list[Finding]:
    found, usage = _lookup(obj, rules.path)
    if not found or not isinstance(usage, dict):
        return [
            Finding(Severity.FAIL, f"{where}: no {rules.path}: its tokens and spend would be recorded as 0")
        ]
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    for name in (rules.prompt, rules.completion, rules.total):
        if name is None:
            continue
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            counts[name] = value
            continue
        missing = "missing" if name not in usage else f"not a token count ({value!r})"
        if name == rules.total:
            findings.append(
                Finding(
                    Severity.WARN, f"{where}: {rules.path}.{name} {missing}; the provider adds the other two"
                )
            )
        else:
            findings.append(
                Finding(Severity.FAIL, f"{where}: {rules.path}.{name} {missing}: spend would be undercounted")
            )
    if (
        rules.total is not None
        and len(counts) == 3
        and counts[rules.total] != counts[rules.prompt] + counts[rules.completion]
    ):
        findings.append(
            Finding(
                Severity.WARN,
                f"{where}: {rules.total} {counts[rules.total]} != {rules.prompt} + {rules.completion} "
                f"({counts[rules.prompt]} + {counts[rules.completion]}); the total is stored as sent",
            )
        )
    return findings


def check_echo(sent: Sequence[str], seen: Sequence[str]) -> list[Finding]:
    """Every sent ``custom_id`` comes back exactly once, and nothing else comes back."""
    findings: list[Finding] = []
    for custom_id in sent:
        count = seen.count(custom_id)
        if count == 0:
            findings.append(
                Finding(
                    Severity.FAIL, f"custom_id {custom_id!r} is in neither file: it would load as missing"
                )
            )
        elif count > 1:
            findings.append(Finding(Severity.WARN, f"custom_id {custom_id!r} came back {count} times"))
    for custom_id in sorted(set(seen) - set(sent)):
        findings.append(Finding(Severity.FAIL, f"custom_id {custom_id!r} came back but was never sent"))
    if not findings:
        findings.append(Finding(Severity.OK, f"every custom_id came back exactly once ({len(sent)})"))
    return findings
