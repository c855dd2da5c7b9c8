"""Row types shared by the parser, the reconciler and the warehouse loader.

The field order of :class:`ResultRow` and :class:`BatchSummary` is the column order of the
results and spend tables (see :data:`RESULT_COLUMNS` and :data:`SUMMARY_COLUMNS`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "RowStatus",
    "ExpectedRequest",
    "ParsedLine",
    "RunContext",
    "ResultRow",
    "BatchSummary",
    "Diagnostics",
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
    "RESULT_KEY",
    "SUMMARY_KEY",
    "meta_value",
]


class RowStatus(str, enum.Enum):
    """Outcome of one expected request."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ExpectedRequest:
    """One request that was submitted: its id, model and the input row's metadata."""

    custom_id: str
    model: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One line of an output or error file, reduced to what the tables need.

    ``succeeded`` is true only for ``response.status_code == 200``. A line that could not be read
    at all (bad JSON, not an object, no ``custom_id``) has ``custom_id=None`` and the reason in
    ``problem``; the reconciler reports it instead of dropping it. ``body`` is the decoded
    response body, kept so :attr:`response_json` costs nothing until a row needs it.
    """

    custom_id: str | None
    succeeded: bool
    status_code: int | None = None
    response_text: str | None = None
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    error_code: str | None = None
    error_message: str | None = None
    line_no: int = 0
    problem: str | None = None
    body: Any = None

    @property
    def response_json(self) -> str | None:
        """The response body as compact JSON text (built on demand: the index pass skips it)."""
        if self.body is None:
            return None
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)


class RunContext(NamedTuple):
    """The Airflow run that loads the rows; stamped on every row and summary."""

    dag_id: str | None = None
    run_id: str | None = None
    logical_date: datetime | None = None
    loaded_at: datetime | None = None


class ResultRow(NamedTuple):
    """One row of the results table: one per expected request.

    ``metadata`` holds the input row's metadata; the loader spreads the configured metadata
    columns in its place (see :meth:`values`).

    ``answered_by_batch_id`` is the batch whose answer the row holds: ``batch_id`` itself, or a
    follow-up batch that re-sent the request (the row keeps its ``(batch_id, custom_id)`` key).
    ``attempts`` counts the batches that carried the request up to that one (1 = the original).
    With follow-ups, tokens and ``cost_usd`` are summed over those attempts, so the results
    table's cost still equals the spend table's.
    """

    batch_id: str
    custom_id: str
    status: str
    model: str | None
    response_text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    error_code: str | None
    error_message: str | None
    response_json: str | None
    metadata: Mapping[str, Any]
    dag_id: str | None
    run_id: str | None
    logical_date: datetime | None
    loaded_at: datetime | None
    answered_by_batch_id: str | None = None
    attempts: int = 1

    def values(self, metadata_columns: Sequence[str] = ()) -> tuple[Any, ...]:
        """Column values in table order, metadata spread into ``metadata_columns``."""
        meta = self.metadata
        return (
            self[:_META_POS]
            + tuple(meta_value(meta.get(name)) for name in metadata_columns)
            + self[_META_POS + 1 :]
        )


_META_POS = ResultRow._fields.index("metadata")


def meta_value(value: Any) -> str | None:
    """A metadata value as stored in its TEXT column: non-strings become compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """One row of the spend table: one per batch."""

    batch_id: str
    final_status: str
    endpoint: str | None
    model: str | None
    requests: int
    succeeded: int
    failed: int
    missing: int
    expired: int
    cancelled: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd_batch: float
    cost_usd_list: float
    savings_usd: float
    submitted_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    dag_id: str | None
    run_id: str | None
    logical_date: datetime | None
    loaded_at: datetime | None

    def values(self) -> tuple[Any, ...]:
        """Column values in table order."""
        return dataclasses.astuple(self)


@dataclass(slots=True)
class Diagnostics:
    """What did not fit one-row-per-expected-request, with bounded samples of ids."""

    duplicates: int = 0
    unknown_ids: int = 0
    invalid_lines: int = 0
    duplicate_samples: list[str] = field(default_factory=list)
    unknown_samples: list[str] = field(default_factory=list)
    invalid_samples: list[str] = field(default_factory=list)

    sample_limit: int = 20

    @property
    def clean(self) -> bool:
        """True when every line matched exactly one expected request."""
        return not (self.duplicates or self.unknown_ids or self.invalid_lines)

    def add(self, kind: str, sample: str) -> None:
        """Count one ``duplicates`` / ``unknown_ids`` / ``invalid_lines`` case, keeping a sample."""
        setattr(self, kind, getattr(self, kind) + 1)
        samples: list[str] = getattr(self, _SAMPLES[kind])
        if len(samples) < self.sample_limit:
            samples.append(sample)

    def as_dict(self) -> dict[str, Any]:
        """Counts and samples as plain data (for logs and XCom)."""
        data = dataclasses.asdict(self)
        data.pop("sample_limit")
        return data


_SAMPLES = {
    "duplicates": "duplicate_samples",
    "unknown_ids": "unknown_samples",
    "invalid_lines": "invalid_samples",
}

RESULT_KEY = ("batch_id", "custom_id")
SUMMARY_KEY = ("batch_id",)


def _result_columns() -> tuple[tuple[str, str], ...]:
    kinds = {"batch_id": "key", "custom_id": "key"}
    kinds |= {"prompt_tokens": "int", "completion_tokens": "int", "total_tokens": "int"}
    kinds |= {"cost_usd": "money", "logical_date": "timestamp", "loaded_at": "timestamp", "attempts": "int"}
    return tuple((name, kinds.get(name, "text")) for name in ResultRow._fields)


def _summary_columns() -> tuple[tuple[str, str], ...]:
    kinds: dict[str, str] = {"batch_id": "key"}
    for name in ("requests", "succeeded", "failed", "missing", "expired", "cancelled"):
        kinds[name] = "int"
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        kinds[name] = "int"
    for name in ("cost_usd_batch", "cost_usd_list", "savings_usd"):
        kinds[name] = "money"
    for name in ("submitted_at", "completed_at", "logical_date", "loaded_at"):
        kinds[name] = "timestamp"
    kinds["duration_seconds"] = "float"
    return tuple((f.name, kinds.get(f.name, "text")) for f in dataclasses.fields(BatchSummary))


RESULT_COLUMNS: tuple[tuple[str, str], ...] = _result_columns()
"""(name, kind) of the results table; ``metadata`` is a placeholder for the metadata columns."""

SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = _summary_columns()
"""(name, kind) of the spend table."""
